"""Compile a pattern set once: validate, simplify, share predicates, index by name.

The result is a `CompiledSet`: generated predicate functions (one per distinct
event spec across all patterns), operator objects per clause, and a lazily
built per-event-name plan that says which predicates to run and which patterns
and clauses the name can touch. The engine consults only that plan per event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from goldrush.compiler.codegen import Predicate, compile_predicate
from goldrush.compiler.definitions import definition_id
from goldrush.compiler.runtime import get_path, glob_matcher
from goldrush.compiler.simplify import reduce
from goldrush.compiler.threevalued import MISSING
from goldrush.dsl import (
    KEY_ATTRIBUTES,
    EventSpec,
    Metric,
    Pattern,
)
from goldrush.dsl.expr import Node, render
from goldrush.errors import PatternError
from goldrush.events.envelope import Event, canonical_json
from goldrush.operators import BUILDERS

MAX_CACHED_NAMES = 65536


@dataclass(frozen=True)
class CompiledSpec:
    gid: int
    glob: str
    node: Node | None
    pred: Predicate | None
    matches: Callable[[str], bool]


@dataclass(frozen=True)
class CompiledMetric:
    mid: int
    event: str | None
    path: tuple[str, ...]
    matches: Callable[[str], bool] | None


# NaN is not equal to itself, so tuples holding NaN are equal only when they hold the same
# float object: which events shared a key then depended on how their JSON was parsed (and
# the key stage, which reads events back from Kafka, never met the same object twice).
# Every NaN key value becomes this one object: one key, as it already is one partition.
KEY_NAN = float("nan")


MAX_KEY_CHARS = 256  # a data field's value longer than this (as text) is not a key value


def canonical_key(key: tuple) -> tuple:
    """A key read back from a snapshot or a message, with its NaNs made `KEY_NAN` again."""
    return tuple(KEY_NAN if type(v) is float and v != v else v for v in key)


def _key_function(key_by: tuple[str, ...]) -> Callable[[Event], Any]:
    """Event → hashable key (None when a key field is missing or null)."""
    if key_by == ("tenant",):
        return lambda ev: ev.tenant
    if len(key_by) > 1 and all(name in KEY_ATTRIBUTES for name in key_by):  # strings or None: one C-level getter, no JSON
        fields = attrgetter(*key_by)
        return lambda ev: None if None in (values := fields(ev)) else values
    getters: list[Callable[[Event], Any]] = []
    for name in key_by:
        if name in KEY_ATTRIBUTES:
            getters.append(lambda ev, a=name: getattr(ev, a))
        else:
            path = tuple(name.split("."))
            getters.append(lambda ev, p=path: get_path(ev.data, p))

    def key(ev: Event) -> Any:
        values = []
        for get in getters:
            v = get(ev)
            if v is None or v is MISSING:
                return None
            if isinstance(v, dict | list):
                v = canonical_json(v)
            elif type(v) is float and v != v:  # NaN
                v = KEY_NAN
            if type(v) is str and len(v) > MAX_KEY_CHARS:
                return None  # keys become Kafka record and table keys: a huge one is no key (SEMANTICS §4)
            values.append(v)
        return tuple(values)

    return key


class CompiledPattern:
    """One pattern's operators, in evaluation order, with its per-key states."""

    def __init__(self, index: int, pattern: Pattern, ops: list[Any], metric_ids: tuple[int, ...]):
        self.index = index
        self.pattern = pattern
        self.name = pattern.name
        self.key_by = pattern.key_by
        self.key = _key_function(pattern.key_by)
        self.ops = ops  # in clause order; op.slot is the clause index
        self.sequence: Any = next((o for o in ops if getattr(o, "instantaneous", False)), None)
        # Cheap clauses first: the conjunction short-circuits, so a slope is
        # fitted only when everything else already holds.
        self.durative = sorted((o for o in ops if o is not self.sequence), key=lambda o: o.cost)
        self.metric_ids = metric_ids
        self.cooldown = pattern.cooldown
        self.tenant_key = pattern.key_by == ("tenant",)
        self.definition = definition_id(pattern)  # which saved states fit these operators

    def key_dict(self, key: Any) -> dict[str, Any]:
        if self.key_by == ("tenant",):
            return {"tenant": key}
        return dict(zip(self.key_by, key, strict=True))

    def tenant_of(self, key: Any) -> str:
        return key if self.key_by == ("tenant",) else key[0]


class Candidate(NamedTuple):
    """A pattern an event name may be relevant to, and the operators it updates."""

    pattern: CompiledPattern
    by_name: bool
    metric_ids: tuple[int, ...]
    updates: tuple[Any, ...]


@dataclass(frozen=True)
class NamePlan:
    """What one event name touches: predicates to run, metrics to sample, candidates."""

    preds: tuple[tuple[int, Predicate | None], ...]
    metrics: tuple[tuple[int, str, tuple[str, ...] | None], ...]  # (id, first key, full path if nested)
    candidates: tuple[Candidate, ...]


class CompiledSet:
    """Everything the engine needs, built once per pattern set."""

    def __init__(self, patterns: Iterable[Pattern]):
        self.patterns: list[CompiledPattern] = []
        self.specs: list[CompiledSpec] = []
        self.metrics: list[CompiledMetric] = []
        self._spec_ids: dict[tuple[str, str], int] = {}
        self._metric_ids: dict[tuple[str | None, tuple[str, ...]], int] = {}
        self.plans: dict[str, NamePlan] = {}
        names = set()
        for index, pattern in enumerate(patterns):
            if not isinstance(pattern, Pattern):
                raise PatternError(f"expected a Pattern, got {type(pattern).__name__} {pattern!r}")
            if pattern.name in names:
                raise PatternError("two patterns share this name; match ids would collide",
                                   pattern=pattern.name)
            names.add(pattern.name)
            self.patterns.append(self._compile_pattern(index, pattern))
        self.vals_template = [False] * len(self.specs)
        self.samples_template = [None] * len(self.metrics)

    # -- building ----------------------------------------------------------
    def add_spec(self, spec: EventSpec) -> int:
        """The id of this event spec's shared predicate (a plug-in clause's `compile` calls it)."""
        node = None if spec.where is None else reduce(spec.where)
        if node == ("const", True):
            node = None
        sig = (spec.name, repr(node))
        gid = self._spec_ids.get(sig)
        if gid is None:
            gid = self._spec_ids[sig] = len(self.specs)
            self.specs.append(CompiledSpec(gid, spec.name, node, compile_predicate(node),
                                           glob_matcher(spec.name)))
        return gid

    def add_metric(self, m: Metric) -> int:
        """The id of this metric's shared sample slot (a plug-in clause's `compile` calls it)."""
        sig = (m.event, m.path)
        mid = self._metric_ids.get(sig)
        if mid is None:
            mid = self._metric_ids[sig] = len(self.metrics)
            self.metrics.append(CompiledMetric(mid, m.event, m.path,
                                               None if m.event is None else glob_matcher(m.event)))
        return mid

    def _compile_pattern(self, index: int, pattern: Pattern) -> CompiledPattern:
        ops: list[Any] = []
        metric_ids: list[int] = []
        for slot, clause in enumerate(pattern.clauses):
            build = BUILDERS.get(clause.op)
            if build is None:
                build = getattr(clause, "compile", None)  # a plug-in clause builds its own operator
                if build is None:
                    raise PatternError(f"operator {clause.op!r} cannot be compiled",
                                       pattern=pattern.name, clause=f"#{slot + 1} ({clause.op})")
                op = build(slot, self)
            else:
                op = build(clause, slot, self)
            ops.append(op)
            metric_ids.extend(getattr(op, "metric_ids", ()))
        return CompiledPattern(index, pattern, ops, tuple(dict.fromkeys(metric_ids)))

    # -- per-name plans ------------------------------------------------------
    def plan(self, name: str) -> NamePlan:
        plan = self.plans.get(name)
        if plan is None:
            if len(self.plans) >= MAX_CACHED_NAMES:
                self.plans.clear()
            plan = self.plans[name] = self._build_plan(name)
        return plan

    def _build_plan(self, name: str) -> NamePlan:
        spec_hit = {s.gid for s in self.specs if s.matches(name)}
        metric_hit = {m.mid for m in self.metrics if m.matches is None or m.matches(name)}
        candidates = []
        for cp in self.patterns:
            updates = []
            by_name = False
            for op in cp.ops:
                relevant, update = op.plan(spec_hit, metric_hit)
                by_name = by_name or relevant
                if update is not None:
                    updates.append(update)
            mids = tuple(m for m in cp.metric_ids if m in metric_hit)
            if by_name or mids:
                candidates.append(Candidate(cp, by_name, mids, tuple(updates)))
        preds = tuple((s.gid, s.pred) for s in self.specs if s.gid in spec_hit)
        metrics = tuple((m.mid, m.path[0], m.path if len(m.path) > 1 else None)
                        for m in self.metrics if m.mid in metric_hit)
        return NamePlan(preds, metrics, tuple(candidates))

    def describe(self) -> dict[str, Any]:
        """What the set compiled to, for `goldrush check`."""
        return {
            "predicates": [
                {"id": s.gid, "event": s.glob, "where": None if s.node is None else render(s.node),
                 "code": getattr(s.pred, "source", None)}
                for s in self.specs
            ],
            "metrics": [{"id": m.mid, "event": m.event, "field": ".".join(m.path)} for m in self.metrics],
            "patterns": [
                {"name": cp.name, "key_by": list(cp.key_by), "definition": cp.definition,
                 "operators": [f"{type(o).__name__}(slot={o.slot})" for o in cp.ops],
                 "evaluation_order": [f"{type(o).__name__}(slot={o.slot})" for o in cp.durative]}
                for cp in self.patterns
            ],
        }
