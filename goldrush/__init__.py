"""goldrush: compiled pattern detection over VSM event streams.

The facade: everything a user writes patterns with, replays them with and explains
them with. Each name lives in its layer (`goldrush.dsl`, `goldrush.events`,
`goldrush.engine`, `goldrush.explainer`); see docs/architecture.md.

>>> from goldrush import F, Pattern, event, frequency, replay
>>> p = Pattern("burst", frequency(event("app.error", F.code >= 500), (">=", 2), within="1m"))
>>> events = [{"name": "app.error", "timestamp": t, "data": {"code": 503}} for t in (0, 10)]
>>> [m.timestamp for m in replay([p], events)]
[10.0]
"""

from goldrush.dsl import (
    EventSpec,
    Expr,
    F,
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
from goldrush.engine.engine import Engine
from goldrush.engine.replay import Rejected, ReplayResult, replay
from goldrush.errors import PatternError
from goldrush.events import Envelope, Event, InvalidEvent, Match, decode
from goldrush.explainer import Explanation, explain

__version__ = "0.1.0"

__all__ = [
    "F", "Expr", "Pattern", "PatternError", "EventSpec", "Metric",
    "event", "metric", "sequence", "concurrent", "frequency", "trend", "recent",
    "replay", "ReplayResult", "explain", "Explanation", "Rejected", "Match", "Engine",
    "Envelope", "Event", "InvalidEvent", "decode",
]
