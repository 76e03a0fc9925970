"""goldrush: compiled pattern detection over VSM event streams."""

from .dsl import (
    EventSpec,
    Metric,
    Pattern,
    concurrent,
    event,
    frequency,
    metric,
    recent,
    sequence,
    trend,
)
from .engine import Engine
from .errors import PatternError
from .events import Envelope, Event, InvalidEvent, decode
from .explainer import Explanation, explain
from .expr import Expr, F
from .match import Match
from .replay import Rejected, ReplayResult, replay

__version__ = "0.1.0"

__all__ = [
    "F", "Expr", "Pattern", "PatternError", "EventSpec", "Metric",
    "event", "metric", "sequence", "concurrent", "frequency", "trend", "recent",
    "replay", "ReplayResult", "explain", "Explanation", "Rejected", "Match", "Engine",
    "Envelope", "Event", "InvalidEvent", "decode",
]
