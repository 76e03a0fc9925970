"""Built-in VSM pattern library, written in the goldrush DSL.

`SEED_PATTERNS`: the seed's three detection patterns, without actions.
`TRIGGERS`: the seed's auto-scaling and alerting triggers, with their actions.
`ALL` (also `PATTERNS`, what `goldrush replay`/`worker` load by default): the
seed patterns, with `coordination_oscillation` bound to a coordination
adjustment, plus the triggers, plus `MODEL_PATTERNS` (the named anomaly models
as patterns of their own).
"""

from .models import (
    MODEL_PATTERNS,
    cascading_failure_model,
    emerging_opportunity_model,
    load_oscillation_model,
    performance_degradation_model,
    variety_imbalance_model,
)
from .triggers import (
    TRIGGERS,
    algedonic_signal_frequency,
    coordination_oscillation_damping,
    failure_cascade,
    low_utilization,
    response_time_degradation,
    variety_overload,
)
from .vsm import SEED_PATTERNS, coordination_oscillation, opportunity_emergence, variety_imbalance

ALL = [variety_imbalance, coordination_oscillation_damping, opportunity_emergence, *TRIGGERS, *MODEL_PATTERNS]
PATTERNS = ALL

__all__ = [
    "ALL", "PATTERNS", "SEED_PATTERNS", "TRIGGERS",
    "variety_imbalance", "coordination_oscillation", "opportunity_emergence",
    "coordination_oscillation_damping", "variety_overload", "response_time_degradation",
    "algedonic_signal_frequency", "low_utilization", "failure_cascade",
    "MODEL_PATTERNS", "cascading_failure_model", "performance_degradation_model", "load_oscillation_model",
    "variety_imbalance_model", "emerging_opportunity_model",
]
