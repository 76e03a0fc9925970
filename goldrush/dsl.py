"""The pattern DSL (SEMANTICS §3–§6): event specs, metrics, the five operators, `Pattern`.

Constructors only record what the user wrote; `Pattern(...)` validates every
clause at once so that a `PatternError` can name the pattern and the clause.
Validated objects are immutable and serialise to plain JSON (`to_dict`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .durations import Duration, format_seconds, to_seconds
from .errors import PatternError
from .expr import CMP_OPS, Expr, field_path
from .simplify import check
from .whereform import node_to_json, where_to_node

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


def clause_label(index: int, clause: Any) -> str:
    return f"#{index} ({getattr(clause, 'op', type(clause).__name__)})"


def _key_by(key_by: Any) -> tuple[str, ...]:
    if isinstance(key_by, str):
        key_by = (key_by,)
    if not isinstance(key_by, tuple | list) or not all(isinstance(k, str) and k for k in key_by):
        raise PatternError(f"key_by must be a tuple of field names, got {key_by!r}")
    for k in key_by:
        if k not in KEY_ATTRIBUTES and not all(field_path(k)):
            raise PatternError(f"key_by field {k!r} is not a valid field name")
    keys = tuple(dict.fromkeys(k for k in key_by if k != "tenant"))
    return ("tenant", *keys)


@dataclass(frozen=True, init=False)
class Pattern:
    """A named conjunction of clauses, evaluated independently per key."""

    name: str
    clauses: tuple[Clause, ...]
    key_by: tuple[str, ...] = ("tenant",)
    cooldown: float | None = None
    actions: tuple[Any, ...] = field(default=())
    description: str = ""

    def __init__(self, name: str, *clauses: Clause, key_by: Any = ("tenant",),
                 cooldown: Duration | None = None, action: Any = None, description: str = ""):
        if not isinstance(name, str) or not name:
            raise PatternError(f"a pattern needs a non-empty string name, got {name!r}")
        if not clauses:
            raise PatternError("a pattern needs at least one clause", pattern=name)
        normalized = []
        for i, clause in enumerate(clauses, 1):
            label = clause_label(i, clause)
            if isinstance(clause, EventSpec | str):
                raise PatternError("an event spec is not a clause: wrap it in sequence(), recent(), "
                                   "frequency() or concurrent()", pattern=name, clause=label)
            if not isinstance(clause, Clause):
                raise PatternError(f"unknown operator {type(clause).__name__}: use sequence, concurrent, "
                                   f"frequency, trend or recent", pattern=name, clause=label)
            try:
                normalized.append(clause.normalized())
            except PatternError as exc:
                raise exc.located(pattern=name, clause=label) from None
        sequences = [i for i, c in enumerate(normalized, 1) if c.op == "sequence"]
        if len(sequences) > 1:
            raise PatternError(f"a pattern has at most one sequence clause, found {len(sequences)} "
                               f"(clauses {', '.join(f'#{i}' for i in sequences)})", pattern=name)
        try:
            keys = _key_by(key_by)
            cool = _optional_seconds(cooldown, "cooldown")
        except PatternError as exc:
            raise exc.located(pattern=name) from None
        if action is None:
            actions: tuple[Any, ...] = ()
        elif isinstance(action, list | tuple):
            actions = tuple(action)
        else:
            actions = (action,)
        from .actions import check_actions

        try:
            actions = check_actions(actions, keys)
        except PatternError as exc:
            raise exc.located(pattern=name, clause="action") from None
        if not isinstance(description, str):
            raise PatternError("description must be a string", pattern=name)
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "clauses", tuple(normalized))
        set_(self, "key_by", keys)
        set_(self, "cooldown", cool)
        set_(self, "actions", actions)
        set_(self, "description", description)

    @property
    def sequence(self) -> Sequence | None:
        for c in self.clauses:
            if c.op == "sequence":
                return c  # type: ignore[return-value]
        return None

    def with_actions(self, *actions: Any) -> Pattern:
        """The same pattern with these actions instead (built-ins stay untouched)."""
        from .actions import check_actions

        try:
            return self._copy(actions=check_actions(tuple(actions), self.key_by))
        except PatternError as exc:
            raise exc.located(pattern=self.name, clause="action") from None

    def add_actions(self, *actions: Any) -> Pattern:
        """The same pattern with these actions added to its own."""
        return self.with_actions(*self.actions, *actions)

    def _copy(self, **changes: Any) -> Pattern:
        new = object.__new__(Pattern)
        for name in ("name", "clauses", "key_by", "cooldown", "actions", "description"):
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new

    def renamed(self, name: str) -> Pattern:
        return self._copy(name=name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "key_by": list(self.key_by),
            "cooldown": _dump_seconds(self.cooldown),
            "clauses": [c.to_dict() for c in self.clauses],
        }
        if self.actions:
            out["actions"] = [a.to_dict() for a in self.actions]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pattern:
        if not isinstance(d, dict) or "name" not in d:
            raise PatternError(f"a serialised pattern must be an object with a name, got {d!r}")
        clauses = []
        for i, c in enumerate(d.get("clauses", []), 1):
            op = c.get("op") if isinstance(c, dict) else None
            if op not in CLAUSE_TYPES and op == "anomaly":
                import goldrush.models.clause  # noqa: F401  (registers the anomaly clause)
            if op not in CLAUSE_TYPES:
                raise PatternError(f"unknown operator {op!r}", pattern=d["name"], clause=f"#{i}")
            try:
                clauses.append(CLAUSE_TYPES[op].from_dict(c))  # type: ignore[attr-defined]
            except (KeyError, TypeError) as exc:
                raise PatternError(f"malformed {op} clause: {exc}", pattern=d["name"], clause=f"#{i} ({op})") from None
        actions = None
        if d.get("actions"):
            from .actions import action_from_dict

            actions = [action_from_dict(a) for a in d["actions"]]
        return cls(d["name"], *clauses, key_by=tuple(d.get("key_by", ("tenant",))),
                   cooldown=d.get("cooldown"), action=actions, description=d.get("description", ""))


__all__ = [
    "EventSpec", "Metric", "Clause", "Sequence", "Concurrent", "Frequency", "Trend", "Recent",
    "Pattern", "event", "metric", "sequence", "concurrent", "frequency", "trend", "recent",
    "register_clause",
]
