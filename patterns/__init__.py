"""Built-in VSM pattern library, written in the goldrush DSL."""

from .vsm import SEED_PATTERNS, coordination_oscillation, opportunity_emergence, variety_imbalance

ALL = list(SEED_PATTERNS)
PATTERNS = ALL

__all__ = ["ALL", "PATTERNS", "variety_imbalance", "coordination_oscillation", "opportunity_emergence"]
