"""The pattern language users write: expressions (`F`), event specs, the operators, `Pattern`.

The lowest layer: it imports nothing else from goldrush but `goldrush.errors`, so a
pattern can be built, validated and serialised without the compiler or the engine.
Clause kinds from other packages (the `anomaly` clause of `goldrush.models`) plug in
through `register_clause` and the `goldrush.clauses` entry-point group.
"""

from goldrush.dsl.clauses import (
    CLAUSE_PLUGINS,
    CLAUSE_TYPES,
    KEY_ATTRIBUTES,
    Clause,
    Concurrent,
    EventSpec,
    Frequency,
    Metric,
    Recent,
    Sequence,
    Trend,
    clause_label,
    concurrent,
    event,
    frequency,
    load_clause_plugin,
    metric,
    recent,
    register_clause,
    sequence,
    trend,
)
from goldrush.dsl.durations import Duration
from goldrush.dsl.expr import Expr, F
from goldrush.dsl.pattern import Pattern

__all__ = [
    "F", "Expr", "Duration", "EventSpec", "Metric", "Clause", "Sequence", "Concurrent", "Frequency",
    "Trend", "Recent", "Pattern", "event", "metric", "sequence", "concurrent", "frequency", "trend",
    "recent", "register_clause", "load_clause_plugin", "clause_label", "CLAUSE_TYPES",
    "CLAUSE_PLUGINS", "KEY_ATTRIBUTES",
]
