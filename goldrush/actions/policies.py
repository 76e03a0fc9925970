"""Action policies: turn matches into actions, the way operators need them.

Pure and deterministic, driven in event-time order by the engine, so replay and
streaming produce the same actions. All state is plain data (`dump`/`load`) so
the streaming runtime can keep it in a changelog-backed table.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from goldrush.actions.records import (
    AlgedonicAlertAction,
    AlgedonicParams,
    AutoScaleAction,
    AutoScaleParams,
    CoordinationAdjustmentAction,
    CoordinationParams,
    Suppressed,
    action_id,
)
from goldrush.actions.text import iso_time
from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING
from goldrush.dsl import KEY_ATTRIBUTES, Pattern
from goldrush.dsl.actions import AlgedonicAlert, AutoScale, CoordinationAdjustment
from goldrush.events.envelope import Event
from goldrush.events.match import Match

SEEN_IDS = 100_000  # recent action ids remembered for de-duplication


def instances_reported(ev: Event) -> int | None:
    """The instance count an event reports in `data.instances`, if it is a usable one."""
    return _instances(ev.data.get("instances"))


MAX_INSTANCES = 2**31 - 1  # a reported count above this is a producer's bug, not a fleet


def _instances(value: Any) -> int | None:
    """A whole, non-negative count up to MAX_INSTANCES; anything else is not a usable count
    (`instances: 1e300` made a scale-in action whose `from` no JSON encoder could write)."""
    if type(value) is int and 0 <= value <= MAX_INSTANCES:
        return value
    if type(value) is float and value.is_integer() and 0 <= value <= MAX_INSTANCES:
        return int(value)
    return None


class PolicyEngine:
    """Per-target scaling state, per-severity alert windows, cooldowns, de-duplication."""

    def __init__(self, patterns: Iterable[Pattern]):
        self.bindings = {p.name: p.actions for p in patterns if p.actions}
        # earlier pattern-set version → its bindings: a match of that version applied after a live
        # switch (its verdict came back late) takes the actions it was defined with
        self.versions: dict[int, dict[str, Any]] = {}
        self.target_fields = sorted(
            {a.target or "" for acts in self.bindings.values() for a in acts if isinstance(a, AutoScale)})
        # (tenant, target field, target value) → [instance count, time of last scaling action]
        self.scale: dict[tuple, list] = {}
        # (tenant, severity) → times of alerts that passed, and (count, since) of those held back
        self.alerts: dict[tuple, deque] = {}
        self.held: dict[tuple, list] = {}
        # (tenant, pattern, index, key) → time of the last coordination adjustment
        self.coordination: dict[tuple, float] = {}
        self.seen: OrderedDict[str, str] = OrderedDict()  # action id → tenant
        self.stats: Counter[str] = Counter()

    def dump(self, tenant: str | None = None) -> dict[str, Any]:
        """Policy state (of one tenant, or all) as JSON-ready data; every key starts with the tenant."""
        def mine(k: tuple) -> bool:
            return tenant is None or k[0] == tenant

        return {
            "scale": [[list(k), v] for k, v in self.scale.items() if mine(k)],
            "alerts": [[list(k), list(v)] for k, v in self.alerts.items() if mine(k)],
            "held": [[list(k), v] for k, v in self.held.items() if mine(k)],
            "coordination": [[[k[0], k[1], k[2], [list(kv) for kv in k[3]]], v]
                             for k, v in self.coordination.items() if mine(k)],
            "seen": [[t, aid] for aid, t in self.seen.items() if tenant is None or t == tenant],
        }

    def load(self, data: dict[str, Any], tenant: str | None = None) -> list[Any]:
        """Merge a dump into this state (tenants not in it are left alone).

        A `PolicySequencer`'s dump is read for its policy state only; to apply the work
        it queued as well, load it with `goldrush.actions.sequencer.load_policies`.
        """
        if "inner" in data:
            data = data["inner"]
        self.scale.update({tuple(k): list(v) for k, v in data["scale"]})
        self.alerts.update({tuple(k): deque(v) for k, v in data["alerts"]})
        self.held.update({tuple(k): list(v) for k, v in data["held"]})
        self.coordination.update({(k[0], k[1], k[2], tuple(tuple(kv) for kv in k[3])): v
                                  for k, v in data["coordination"]})
        for t, aid in data["seen"]:
            self.seen[aid] = t
        return []

    def forget(self, tenant: str) -> None:
        for table in (self.scale, self.alerts, self.held, self.coordination):
            for k in [k for k in table if k[0] == tenant]:
                del table[k]
        for aid in [aid for aid, t in self.seen.items() if t == tenant]:
            del self.seen[aid]

    @property
    def watches_instances(self) -> bool:
        return bool(self.target_fields)

    def observe(self, ev: Event) -> None:
        """An event reporting `data.instances` sets the known count of its target."""
        count = instances_reported(ev)
        if count is None:
            return
        for f in self.target_fields:
            value = ev.tenant if not f else _event_field(ev, f)
            if value is None:
                continue
            state = self.scale.get((ev.tenant, f, value))
            if state is None:
                self.scale[(ev.tenant, f, value)] = [count, None]
            else:
                state[0] = count

    def observation(self, ev: Event) -> Event | None:
        """What `observe` needs of `ev` (None: it reports nothing).

        Kept instead of the event while its policy work waits for key-stage verdicts,
        so that a long wait does not put whole events into every tenant snapshot.
        """
        if instances_reported(ev) is None:
            return None
        data = {"instances": ev.data["instances"]}
        for f in self.target_fields:
            if f and f not in KEY_ATTRIBUTES:
                first = f.split(".", 1)[0]
                if first in ev.data:
                    data[first] = ev.data[first]
        return Event(ev.name, ev.timestamp, ev.tenant, ev.source, ev.subsystem, data, id="-")

    def on_match(self, match: Match) -> list[Any]:
        out = []
        bindings = self.bindings
        if self.versions and match.pattern_set_version in self.versions:
            bindings = self.versions[match.pattern_set_version]
        for index, spec in enumerate(bindings.get(match.pattern, ())):
            aid = action_id(match.match_id, spec.type, index)
            if aid in self.seen:
                self.stats["duplicate"] += 1
                continue
            if isinstance(spec, AutoScale):
                record = self._autoscale(spec, match, aid)
            elif isinstance(spec, AlgedonicAlert):
                record = self._alert(spec, match, aid)
            else:
                record = self._coordinate(spec, match, aid, index)
            if record is None:
                continue
            self.seen[aid] = match.tenant
            if len(self.seen) > SEEN_IDS:
                self.seen.popitem(last=False)
            self.stats[f"emitted_{spec.type}"] += 1
            out.append(record)
        return out

    @staticmethod
    def _common(match: Match, aid: str) -> dict[str, Any]:
        return {"action_id": aid, "pattern": match.pattern, "tenant": match.tenant, "key": match.key,
                "timestamp": match.timestamp, "match_id": match.match_id, "event_ids": match.event_ids,
                "pattern_set_version": match.pattern_set_version}

    def _autoscale(self, spec: AutoScale, match: Match, aid: str) -> AutoScaleAction | None:
        field = spec.target or ""
        value = match.tenant if not spec.target else match.key.get(spec.target)
        t = match.timestamp
        state = self.scale.setdefault((match.tenant, field, value), [spec.min_instances, None])
        current, last = state
        if last is not None and t < last + spec.cooldown:
            self.stats["autoscale_cooldown"] += 1
            return None
        if spec.direction == "scale_out":
            proposed = min(max(current + spec.step, spec.min_instances), spec.max_instances)
        else:
            proposed = max(min(current - spec.step, spec.max_instances), spec.min_instances)
        if proposed == current or (spec.direction == "scale_out") != (proposed > current):
            self.stats["autoscale_at_bound"] += 1
            return None
        state[0], state[1] = proposed, t
        params = AutoScaleParams(direction=spec.direction, from_=current, to=proposed, target=str(value),
                                 min_instances=spec.min_instances, max_instances=spec.max_instances,
                                 reason=f"pattern {match.pattern} matched at {iso_time(t)}")
        return AutoScaleAction(params=params, **self._common(match, aid))

    def _alert(self, spec: AlgedonicAlert, match: Match, aid: str) -> AlgedonicAlertAction | None:
        t = match.timestamp
        rk = (match.tenant, spec.severity)
        if spec.rate_limit is not None:
            passed = self.alerts.setdefault(rk, deque())
            horizon = t - spec.window
            while passed and passed[0] <= horizon:
                passed.popleft()
            if len(passed) >= spec.rate_limit:
                held = self.held.setdefault(rk, [0, t])
                held[0] += 1
                self.stats["algedonic_rate_limited"] += 1
                return None
            passed.append(t)
        held = self.held.pop(rk, None)
        params = AlgedonicParams(signal=spec.signal, severity=spec.severity,
                                 description=spec.description or f"pattern {match.pattern} matched",
                                 suppressed=None if held is None else Suppressed(count=held[0], since=held[1]))
        return AlgedonicAlertAction(params=params, **self._common(match, aid))

    def _coordinate(self, spec: CoordinationAdjustment, match: Match, aid: str,
                    index: int) -> CoordinationAdjustmentAction | None:
        t = match.timestamp
        ck = (match.tenant, match.pattern, index, tuple(sorted(match.key.items())))
        last = self.coordination.get(ck)
        if last is not None and t < last + spec.cooldown:
            self.stats["coordination_cooldown"] += 1
            return None
        self.coordination[ck] = t
        params = CoordinationParams(strategy=spec.strategy, factor=spec.factor,
                                    reason=f"pattern {match.pattern} matched at {iso_time(t)}")
        return CoordinationAdjustmentAction(params=params, **self._common(match, aid))


def _event_field(ev: Event, name: str) -> Any:
    if name in KEY_ATTRIBUTES:
        return getattr(ev, name)
    value = get_path(ev.data, tuple(name.split(".")))
    return None if value is MISSING else value
