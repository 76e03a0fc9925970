"""Built-in VSM pattern library, written in the goldrush DSL.

`SEED_PATTERNS`: the seed's three detection patterns, without actions.
`TRIGGERS`: the seed's auto-scaling and alerting triggers, with their actions.
`ALL` (also `PATTERNS`, what `goldrush replay`/`worker` load by default): the
seed patterns, with `coordination_oscillation` bound to a coordination
adjustment, plus the triggers.
"""

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

ALL = [variety_imbalance, coordination_oscillation_damping, opportunity_emergence, *TRIGGERS]
PATTERNS = ALL

__all__ = [
    "ALL", "PATTERNS", "SEED_PATTERNS", "TRIGGERS",
    "variety_imbalance", "coordination_oscillation", "opportunity_emergence",
    "coordination_oscillation_damping", "variety_overload", "response_time_degradation",
    "algedonic_signal_frequency", "low_utilization", "failure_cascade",
]
