"""Per-clause tallies for `goldrush explain`: what each event spec saw, and each clause's peak.

A `SpecTally` counts the events of one spec (seen, selected, UNKNOWN and why, FALSE and
the nearest values, late, without key fields); whether an event is selected is the
compiled predicate's answer (`CompiledSpec.pred`, the function the engine runs). A
`ClauseTally` adds how often the clause held and its best moment (the nearest miss).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from goldrush.compiler.compiled import CompiledPattern, CompiledSet
from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING, NUMBER_TYPES
from goldrush.dsl import clause_label
from goldrush.events.envelope import Event
from goldrush.operators import ConcurrentOp, FrequencyOp, RecentOp, SequenceOp, TrendOp

from .diagnose import Reason, problem_of
from .states import spec_text

EXAMPLES = 3  # values kept per FALSE condition


@dataclass
class Peak:
    """The best (highest-scored) moment offered so far; ties keep the first."""

    score: Any = None
    state: dict[str, Any] | None = None

    def offer(self, score: Any, state: dict[str, Any]) -> None:
        if self.score is None or score > self.score:
            self.score, self.state = score, state


@dataclass
class FalseTally:
    """A condition that was FALSE: how often, the value nearest to holding, the commonest values."""

    count: int = 0
    nearest: dict[str, Any] | None = None
    distance: float = math.inf
    values: Counter = field(default_factory=Counter)

    def add(self, reason: Reason, ev: Event) -> None:
        self.count += 1
        v, b = reason.value, reason.bound
        if type(v) in NUMBER_TYPES and type(b) in NUMBER_TYPES:
            d = abs(float(v) - float(b))
            if d < self.distance:
                self.distance = d
                self.nearest = {"value": v, "event": ev.id, "at": ev.timestamp}
        elif isinstance(v, str | bool) and (v in self.values or len(self.values) < 50):
            self.values[v] += 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"count": self.count}
        if self.nearest is not None:
            out["nearest"] = self.nearest
        if self.values:
            out["values"] = [[v, n] for v, n in self.values.most_common(EXAMPLES)]
        return out


@dataclass
class SpecTally:
    """One event spec (or a metric's events) of a clause."""

    text: str
    glob_matches: Any
    glob: str | None = None  # the event name glob (None: a metric of every event)
    pred: Any = None  # the compiled predicate (None: always TRUE); a metric path for metrics
    node: Any = None
    metric_path: tuple[str, ...] | None = None
    seen: int = 0
    selected: int = 0
    late: int = 0
    without_key: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)
    false: dict[str, FalseTally] = field(default_factory=dict)

    def reads(self, ev: Event) -> bool:
        if self.glob_matches is not None and not self.glob_matches(ev.name):
            return False
        # A metric without an event glob reads every event that has its field.
        return self.metric_path is None or self.glob_matches is not None or \
            get_path(ev.data, self.metric_path) is not MISSING

    def selects(self, ev: Event) -> bool:
        if self.metric_path is not None:
            v = get_path(ev.data, self.metric_path)
            return type(v) in NUMBER_TYPES and v - v == 0  # as the engine samples (engine.process_many)
        return True if self.pred is None else bool(self.pred(ev.data))

    def reject(self, ev: Event, reason: Reason | None) -> None:
        if self.metric_path is not None:
            v = get_path(ev.data, self.metric_path)
            self.unknown[f"data.{'.'.join(self.metric_path)} {problem_of(v, 'finite number')}"] += 1
            return
        if reason is None or reason.verdict is True:  # cannot happen: the predicate and diagnose agree
            self.unknown["not selected (no reason found)"] += 1
        elif reason.verdict is None:
            self.unknown[f"{reason.field} {reason.problem} in {reason.condition}"] += 1
        else:
            self.false.setdefault(reason.condition, FalseTally()).add(reason, ev)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.text, "seen": self.seen, "selected": self.selected, "late": self.late,
                "without_key": dict(self.without_key), "unknown": dict(self.unknown.most_common()),
                "false": {k: v.to_dict() for k, v in self.false.items()}}


@dataclass
class ClauseTally:
    index: int
    label: str
    specs: list[SpecTally]
    held: int = 0
    observed: int = 0
    first_held: float | None = None
    peak: Peak = field(default_factory=Peak)

    def observe(self, state: dict[str, Any], t: float, key: str) -> None:
        self.observed += 1
        if state["holds"]:
            self.held += 1
            if self.first_held is None:
                self.first_held = t
        self.peak.offer(_closeness(state), {"at": t, "key": key, **state})

    def to_dict(self) -> dict[str, Any]:
        return {"clause": self.index, "label": self.label, "observed": self.observed, "held": self.held,
                "first_held": self.first_held, "peak": self.peak.state,
                "specs": [s.to_dict() for s in self.specs]}


def _closeness(state: dict[str, Any]) -> tuple:
    """How near a clause state is to holding: bigger is nearer (the nearest miss is the max)."""
    op = state["op"]
    if state["holds"]:
        return (1,)
    if op == "sequence":
        return (0, state["reached"])
    if op == "frequency":
        gap = state["count"] - state["threshold"]
        return (0, -abs(gap))
    if op == "trend":
        slope = state["slope_per_second"]
        right = slope is not None and (slope > 0) == (state["direction"] == "increasing") and slope != 0
        return (0, min(state["samples"], state["min_samples"]), right, state["confidence"] or 0.0)
    if op == "anomaly" and state.get("score") is not None:
        up = state.get("compare", ">") in (">", ">=")
        return (0, state["score"] if up else -state["score"])
    return (0,)


def clause_tallies(compiled: CompiledSet, cp: CompiledPattern) -> list[ClauseTally]:
    """One tally per clause, with a `SpecTally` per event spec or metric it reads."""
    out = []
    for op in cp.ops:
        clause = cp.pattern.clauses[op.slot]
        if isinstance(op, SequenceOp | ConcurrentOp):
            gids = op.gids
        elif isinstance(op, FrequencyOp | RecentOp):
            gids = (op.gid,)
        else:
            gids = getattr(op, "gids", ())
        specs = [SpecTally(spec_text(compiled, g), compiled.specs[g].matches, compiled.specs[g].glob,
                           compiled.specs[g].pred, compiled.specs[g].node) for g in dict.fromkeys(gids)]
        mid = op.mid if isinstance(op, TrendOp) else getattr(op, "mid", None)
        if mid is not None:
            m = compiled.metrics[mid]
            specs.append(SpecTally(f"metric(data.{'.'.join(m.path)}" + (f", event={m.event!r})" if m.event else ")"),
                                   m.matches, m.event, metric_path=m.path))
        out.append(ClauseTally(op.slot + 1, clause_label(op.slot + 1, clause), specs))
    return out
