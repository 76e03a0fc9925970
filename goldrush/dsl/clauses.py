"""The DSL's building blocks (SEMANTICS §3–§5): event specs, metrics, the five operators.

Constructors only record what the user wrote; `Pattern(...)` (`pattern.py`) validates
every clause at once so that a `PatternError` can name the pattern and the clause.
Validated objects are immutable and serialise to plain JSON (`to_dict`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

from goldrush.dsl.durations import Duration, format_seconds, to_seconds
from goldrush.dsl.expr import CMP_OPS, Expr, field_path
from goldrush.dsl.validate import check
from goldrush.dsl.whereform import node_to_json, where_to_node
from goldrush.errors import PatternError

DIRECTIONS = ("increasing", "decreasing")
KEY_ATTRIBUTES = ("tenant", "source", "subsystem")


def _optional_seconds(value: Any, what: str) -> float | None:
    return None if value is None else to_seconds(value, what=what)


def _dump_seconds(value: float | None) -> Any:
    return None if value is None else format_seconds(value)


@dataclass(frozen=True)
class EventSpec:
    """Matches events named like `name` (a glob) whose `where` is TRUE."""

    name: str
    where: Any = None
    within: Any = None

    def normalized(self) -> EventSpec:
        if not isinstance(self.name, str) or not self.name:
            raise PatternError(f"an event name must be a non-empty string, got {self.name!r}")
        node = where_to_node(self.where)
        if node is not None:
            try:
                check(node)
            except PatternError as exc:
                raise PatternError(f"event {self.name!r} where: {exc.reason}") from None
        within = _optional_seconds(self.within, f"event {self.name!r} within")
        return EventSpec(self.name, node, within)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.where is not None:
            out["where"] = node_to_json(self.where)
        if self.within is not None:
            out["within"] = _dump_seconds(self.within)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventSpec:
        return cls(d["name"], d.get("where"), d.get("within"))

    def __repr__(self) -> str:
        parts = [repr(self.name)]
        if self.where is not None:
            parts.append(repr(Expr(self.where) if isinstance(self.where, tuple) else self.where))
        if self.within is not None:
            parts.append(f"within={self.within!r}")
        return f"event({', '.join(parts)})"


def event(name: str, where: Expr | dict | None = None, *, within: Duration | None = None) -> EventSpec:
    """An event spec: a name glob (`*` crosses dots) and an optional condition."""
    return EventSpec(name, where, within)


@dataclass(frozen=True)
class Metric:
    """A numeric series: `data[field or name]` of each (matching) event of the key."""

    name: str
    event: str | None = None
    field: str | None = None

    def normalized(self) -> Metric:
        if not isinstance(self.name, str) or not self.name:
            raise PatternError(f"a metric name must be a non-empty string, got {self.name!r}")
        if self.event is not None and (not isinstance(self.event, str) or not self.event):
            raise PatternError(f"metric {self.name!r}: event must be a name glob, got {self.event!r}")
        source = self.field if self.field is not None else self.name
        if not isinstance(source, str) or not all(field_path(source)):
            raise PatternError(f"metric {self.name!r}: field must be a field name, got {source!r}")
        return self

    @property
    def path(self) -> tuple[str, ...]:
        return field_path(self.field if self.field is not None else self.name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.event is not None:
            out["event"] = self.event
        if self.field is not None:
            out["field"] = self.field
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any] | str) -> Metric:
        if isinstance(d, str):
            return cls(d)
        return cls(d["name"], d.get("event"), d.get("field"))


def metric(name: str, *, event: str | None = None, field: str | None = None) -> Metric:
    return Metric(name, event, field)


def _spec(value: Any, what: str) -> EventSpec:
    if isinstance(value, str):
        value = EventSpec(value)
    if not isinstance(value, EventSpec):
        raise PatternError(f"{what} must be event(...) or an event name, got {type(value).__name__} {value!r}")
    return value.normalized()


class Clause(ABC):
    """Base of the operators: what the compiler and serialisation need from each."""

    op: ClassVar[str]
    durative: ClassVar[bool] = True

    @abstractmethod
    def normalized(self) -> Clause:
        """A validated copy (durations in seconds, conditions as nodes); `PatternError` if invalid."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON form, read back by the class's `from_dict`."""

    def specs(self) -> tuple[EventSpec, ...]:
        return ()

    def metrics(self) -> tuple[Metric, ...]:
        return ()


@dataclass(frozen=True)
class Sequence(Clause):
    steps: tuple[Any, ...]
    within: Any = None
    strict: bool = False
    op: ClassVar[str] = "sequence"
    durative: ClassVar[bool] = False

    def normalized(self) -> Sequence:
        if not self.steps:
            raise PatternError("sequence needs at least one step")
        steps = tuple(_spec(s, f"step {i}") for i, s in enumerate(self.steps, 1))
        if not isinstance(self.strict, bool):
            raise PatternError(f"strict must be True or False, got {self.strict!r}")
        return Sequence(steps, _optional_seconds(self.within, "sequence within"), self.strict)

    def specs(self) -> tuple[EventSpec, ...]:
        return self.steps

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "steps": [s.to_dict() for s in self.steps],
                "within": _dump_seconds(self.within), "strict": self.strict}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sequence:
        return cls(tuple(EventSpec.from_dict(s) for s in d["steps"]), d.get("within"), d.get("strict", False))


@dataclass(frozen=True)
class Concurrent(Clause):
    specs_: tuple[Any, ...]
    within: Any = None
    op: ClassVar[str] = "concurrent"

    def normalized(self) -> Concurrent:
        if not self.specs_:
            raise PatternError("concurrent needs at least one event spec")
        specs = tuple(_spec(s, f"event {i}") for i, s in enumerate(self.specs_, 1))
        return Concurrent(specs, _optional_seconds(self.within, "concurrent within"))

    def specs(self) -> tuple[EventSpec, ...]:
        return self.specs_

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "events": [s.to_dict() for s in self.specs_],
                "within": _dump_seconds(self.within)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Concurrent:
        return cls(tuple(EventSpec.from_dict(s) for s in d["events"]), d.get("within"))


def _count(count: Any) -> tuple[str, float]:
    if (
        not isinstance(count, tuple | list)
        or len(count) != 2
        or count[0] not in CMP_OPS
        or isinstance(count[1], bool)
        or not isinstance(count[1], int | float)
        or not math.isfinite(count[1])
    ):
        raise PatternError(
            f"count must be (op, n) with op one of {' '.join(CMP_OPS)} and n a number, "
            f"e.g. ('>', 10); got {count!r}"
        )
    return (count[0], count[1])


@dataclass(frozen=True)
class Frequency(Clause):
    spec: Any
    count: Any
    within: Any
    op: ClassVar[str] = "frequency"

    def normalized(self) -> Frequency:
        if self.within is None:
            raise PatternError("frequency needs a window: within=...")
        return Frequency(_spec(self.spec, "the event"), _count(self.count),
                         to_seconds(self.within, what="frequency within"))

    def specs(self) -> tuple[EventSpec, ...]:
        return (self.spec,)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "event": self.spec.to_dict(), "count": list(self.count),
                "within": _dump_seconds(self.within)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Frequency:
        return cls(EventSpec.from_dict(d["event"]), tuple(d["count"]), d["within"])


@dataclass(frozen=True)
class Trend(Clause):
    metric: Any
    direction: str
    duration: Any = "5m"
    confidence: float = 0.9
    min_samples: int = 5
    op: ClassVar[str] = "trend"

    def normalized(self) -> Trend:
        m = Metric(self.metric) if isinstance(self.metric, str) else self.metric
        if not isinstance(m, Metric):
            raise PatternError(f"trend needs metric(...) or a metric name, got {self.metric!r}")
        if self.direction not in DIRECTIONS:
            raise PatternError(f"unknown direction {self.direction!r}: use 'increasing' or 'decreasing'")
        conf = self.confidence
        if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 <= conf <= 1:
            raise PatternError(f"confidence must be a number from 0 to 1, got {conf!r}")
        ms = self.min_samples
        if isinstance(ms, bool) or not isinstance(ms, int) or ms < 1:
            raise PatternError(f"min_samples must be a whole number of at least 1, got {ms!r}")
        return Trend(m.normalized(), self.direction, to_seconds(self.duration, what="trend duration"),
                     float(conf), ms)

    def metrics(self) -> tuple[Metric, ...]:
        return (self.metric,)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "metric": self.metric.to_dict(), "direction": self.direction,
                "duration": _dump_seconds(self.duration), "confidence": self.confidence,
                "min_samples": self.min_samples}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trend:
        return cls(Metric.from_dict(d["metric"]), d["direction"], d.get("duration", "5m"),
                   d.get("confidence", 0.9), d.get("min_samples", 5))


@dataclass(frozen=True)
class Recent(Clause):
    spec: Any
    within: Any = "5m"
    op: ClassVar[str] = "recent"

    def normalized(self) -> Recent:
        return Recent(_spec(self.spec, "the event"), to_seconds(self.within, what="recent within"))

    def specs(self) -> tuple[EventSpec, ...]:
        return (self.spec,)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "event": self.spec.to_dict(), "within": _dump_seconds(self.within)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recent:
        return cls(EventSpec.from_dict(d["event"]), d.get("within", "5m"))


def sequence(*steps: EventSpec | str, within: Duration | None = None, strict: bool = False) -> Sequence:
    """Instantaneous: e1 … en in order ("followed by"), skip-till-next-match."""
    return Sequence(tuple(steps), within, strict)


def concurrent(*specs: EventSpec | str, within: Duration | None = None) -> Concurrent:
    """Durative: the latest event named like each spec satisfies it (the current state)."""
    return Concurrent(tuple(specs), within)


def frequency(spec: EventSpec | str, count: tuple[str, float], within: Duration) -> Frequency:
    """Durative: the number of matching events in the last `within` compares as `count`."""
    return Frequency(spec, count, within)


def trend(metric: Metric | str, direction: str, *, duration: Duration = "5m",
          confidence: float = 0.9, min_samples: int = 5) -> Trend:
    """Durative: the least-squares slope over `duration` is significant in `direction`."""
    return Trend(metric, direction, duration, confidence, min_samples)


def recent(spec: EventSpec | str, *, within: Duration = "5m") -> Recent:
    """Durative: some matching event happened in the last `within`."""
    return Recent(spec, within)


CLAUSE_TYPES: dict[str, type[Clause]] = {
    c.op: c for c in (Sequence, Concurrent, Frequency, Trend, Recent)
}


def register_clause(cls: type[Clause]) -> type[Clause]:
    """Extension point for more clause kinds (the anomaly-model clause plugs in here).

    A registered clause is read back by `Pattern.from_dict` and compiled through its
    `compile(slot, compiled_set)` method, which returns the run-time operator.
    """
    CLAUSE_TYPES[cls.op] = cls
    return cls


#: Entry-point group through which installed packages offer clause kinds by `op` name
#: (`goldrush.models` offers `anomaly`), so the DSL reads them back without importing upwards.
CLAUSE_PLUGINS = "goldrush.clauses"


def load_clause_plugin(op: object) -> bool:
    """Whether `op` names a clause kind, loading it from its plug-in on first use."""
    if op in CLAUSE_TYPES:
        return True
    if isinstance(op, str):
        for ep in entry_points(group=CLAUSE_PLUGINS, name=op):
            register_clause(ep.load())
    return op in CLAUSE_TYPES


def clause_label(index: int, clause: Any) -> str:
    return f"#{index} ({getattr(clause, 'op', type(clause).__name__)})"


__all__ = [
    "EventSpec", "Metric", "Clause", "Sequence", "Concurrent", "Frequency", "Trend", "Recent",
    "event", "metric", "sequence", "concurrent", "frequency", "trend", "recent",
    "register_clause", "load_clause_plugin", "CLAUSE_PLUGINS", "clause_label", "CLAUSE_TYPES", "KEY_ATTRIBUTES",
]
