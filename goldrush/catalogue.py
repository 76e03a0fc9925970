"""The VSM event catalogue: event names, who sends them, and their `data` fields with types.

It is what the built-in patterns read and what the simulator writes (a test holds the
two to it), and what `goldrush check` compares users' patterns against. A sample of
real events (`Catalogue.from_events`) can stand in for it or be merged into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from goldrush.compiler.runtime import glob_matcher
from goldrush.dsl import KEY_ATTRIBUTES
from goldrush.events.envelope import Event, InvalidEvent, _kind, decode

VALUES_KEPT = 12  # distinct string values remembered per field (enumerations, for "did you mean")


# The JSON type name of a value, as comparisons see it (SEMANTICS §2); the decoder's own.
json_kind = _kind


@dataclass
class FieldInfo:
    """One `data` field: its JSON types, what it means and, for strings, the values seen."""

    types: set[str]
    doc: str = ""
    values: set[str] | None = None  # None: any value; a set: the known values (an enumeration)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "|".join(sorted(self.types))}
        if self.values:
            out["values"] = sorted(self.values)
        if self.doc:
            out["doc"] = self.doc
        return out


@dataclass
class EventInfo:
    """One event name: the envelope attributes it carries and its `data` fields (dotted paths)."""

    name: str
    doc: str = ""
    attributes: set[str] = field(default_factory=lambda: {"tenant"})
    fields: dict[str, FieldInfo] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "attributes": sorted(self.attributes),
                "data": {k: f.to_dict() for k, f in sorted(self.fields.items())}}


def _f(types: str, doc: str = "", values: Iterable[str] | None = None) -> FieldInfo:
    return FieldInfo(set(types.split("|")), doc, None if values is None else set(values))


_S1 = set(KEY_ATTRIBUTES)
_SYS = {"tenant", "subsystem"}

VSM_EVENTS: tuple[EventInfo, ...] = (
    EventInfo("vsm_core.system1.operation", "an operation of a System 1 service", set(_S1), {
        "response_time_ms": _f("number", "latency of the operation, milliseconds"),
        "performance_score": _f("number", "0–100, higher is better"),
        "status": _f("string", "outcome", ("ok", "slow")),
    }),
    EventInfo("vsm_core.system1.failure", "a System 1 service failed", set(_S1), {
        "service": _f("string", "the failing service"),
        "error": _f("string", "what went wrong, e.g. timeout"),
    }),
    EventInfo("vsm_core.variety.calculated", "a variety measurement of a service (Ashby)", set(_S1), {
        "input_variety": _f("number", "variety the service receives"),
        "output_variety": _f("number", "variety the service can absorb"),
        "utilization": _f("number", "0–1 share of variety capacity used"),
    }),
    EventInfo("vsm_core.system2.coordination", "a System 2 coordination step", set(_SYS), {
        "action": _f("string", "what coordination did", ("adjust", "hold")),
        "adjustment_magnitude": _f("number", "size of the adjustment"),
    }),
    EventInfo("vsm_core.system3.resources", "a System 3 resource reading", set(_SYS), {
        "utilization": _f("number", "0–1 share of capacity in use"),
        "instances": _f("number", "running instances (an integer)"),
    }),
    EventInfo("vsm_core.system4.scan", "a System 4 scan of the environment", set(_SYS), {
        "market_sentiment": _f("string", "", ("positive", "neutral", "negative")),
        "signal_strength": _f("number", "0–1"),
    }),
    EventInfo("vsm_core.system5.policy", "a System 5 policy statement", set(_SYS), {
        "policy": _f("string", "the policy in force"),
        "identity_coherence": _f("number", "0–1"),
    }),
    EventInfo("vsm_core.algedonic.signal", "an algedonic (pain/pleasure) signal", set(_SYS), {
        "signal": _f("string", "", ("pain", "pleasure")),
        "severity": _f("string", "", ("low", "medium", "high", "critical")),
        "source_system": _f("string", "the VSM system that raised it"),
        "instances": _f("number", "running instances (an integer)"),
    }),
)


class Catalogue:
    """Event names → `EventInfo`; looked up by exact name or by a pattern's glob."""

    def __init__(self, events: Iterable[EventInfo] = VSM_EVENTS, *, source: str = "the VSM catalogue"):
        self.events: dict[str, EventInfo] = {}
        self.source = source
        for info in events:
            self.events[info.name] = EventInfo(info.name, info.doc, set(info.attributes),
                                               {k: FieldInfo(set(f.types), f.doc, None if f.values is None
                                                             else set(f.values)) for k, f in info.fields.items()})

    @classmethod
    def from_events(cls, events: Iterable[Any]) -> Catalogue:
        """What a sample of events (envelope dicts or `Event`s) actually carries; invalid ones are skipped."""
        cat = cls((), source="the sample")
        for obj in events:
            try:
                ev = obj if isinstance(obj, Event) else decode(obj)
            except InvalidEvent:
                continue
            cat.add(ev)
        return cat

    def add(self, ev: Any) -> None:
        """Widen the catalogue with one decoded event."""
        info = self.events.get(ev.name)
        if info is None:
            info = self.events[ev.name] = EventInfo(ev.name, attributes=set())
        info.attributes.add("tenant")
        for attr in ("source", "subsystem"):
            if getattr(ev, attr) is not None:
                info.attributes.add(attr)
        for path, value in _leaves(ev.data):
            f = info.fields.get(path)
            if f is None:
                f = info.fields[path] = FieldInfo(set(), values=set())
            f.types.add(json_kind(value))
            if f.values is not None and isinstance(value, str) and value not in f.values:
                f.values = f.values | {value} if len(f.values) < VALUES_KEPT else None

    def matching(self, glob: str) -> list[EventInfo]:
        """The catalogue's events a pattern's name glob selects."""
        matches = glob_matcher(glob)
        return [info for name, info in self.events.items() if matches(name)]

    def names(self) -> list[str]:
        return sorted(self.events)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "timestamp": TIMESTAMP_FORMS,
                "events": [self.events[n].to_dict() for n in self.names()]}

    def render(self) -> str:
        """Text for `goldrush schema events`: one block per event name."""
        lines = ["Envelope: name, timestamp, tenant (default 'default'), source, subsystem, id, data.",
                 "timestamp: " + "; or ".join(f"{k} (e.g. {v})" for k, v in TIMESTAMP_FORMS.items()), ""]
        for name in self.names():
            info = self.events[name]
            lines.append(f"{name}" + (f"  — {info.doc}" if info.doc else ""))
            lines.append(f"  carries: {', '.join(sorted(info.attributes))}")
            for path, f in sorted(info.fields.items()):
                vals = f" one of {', '.join(repr(v) for v in sorted(f.values))}" if f.values else ""
                doc = f"  ({f.doc})" if f.doc else ""
                lines.append(f"  data.{path}: {'|'.join(sorted(f.types))}{vals}{doc}")
            lines.append("")
        return "\n".join(lines)


TIMESTAMP_FORMS = {
    "epoch seconds": 1767225600.25,
    "ISO 8601 string": "2026-01-01T00:00:00.250Z (no offset means UTC; a space may replace T)",
}


def _leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every field; nested objects are walked, their paths included."""
    if not isinstance(data, dict):
        return
    for k, v in data.items():
        path = f"{prefix}{k}"
        yield path, v
        if isinstance(v, dict):
            yield from _leaves(v, path + ".")


VSM_CATALOGUE = Catalogue()
