"""The engine, run as in replay, with some patterns watched event by event.

`Observer` is the compiled `Engine` itself: it binds the same per-name plans, then wraps
each watched pattern's updates, sequence step and durative `holds`, so that what the
engine decided (fired or not, which clause held, in the engine's short-circuit order) is
recorded, not recomputed. After each event it reads the key's operator state
(`states.key_states`) and tallies, per clause, what its event specs saw. Matches are the
engine's own, so an explained match is a replay match by construction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from goldrush.engine.engine import Engine, KeyState
from goldrush.events.envelope import Event
from goldrush.events.match import Match
from goldrush.explainer.checks import did_you_mean

from .watch import Watch


class Observer(Engine):
    """Replay's engine over every pattern (policies included), watching `watch` (default: all)."""

    def __init__(self, patterns: Any, watch: Iterable[str] | None = None, *, allowed_lateness: Any = "2s",
                 tenant: str | None = None, key: dict[str, str] | None = None, at: float | None = None,
                 keep_series: bool = False):
        super().__init__(patterns, allowed_lateness=allowed_lateness)
        by_name = {cp.name: cp for cp in self.compiled.patterns}
        names = list(by_name) if watch is None else list(watch)
        for name in names:
            if name not in by_name:
                hint = did_you_mean(name, by_name)
                raise KeyError(f"no pattern named {name!r}" + (f"; did you mean {hint}?" if hint else "")
                               + f" (loaded: {', '.join(by_name)})")
        unknown = [k for k in (key or {}) for name in names if k not in by_name[name].key_by]
        if unknown:
            raise KeyError(f"key field {unknown[0]!r} is not in the key_by of {names[0]!r} "
                           f"({', '.join(by_name[names[0]].key_by)})")
        self.watches: dict[str, Watch] = {
            name: Watch(self.compiled, by_name[name], tenant, key or {}, at, keep_series) for name in names}
        self.names: Counter[str] = Counter()  # every event name processed (for "did you mean")
        self.tenants_seen: Counter[str] = Counter()
        self.late_total = 0  # late events seen (the list itself may be handed on and cleared)
        self.policy_log: dict[str, tuple[list[Any], dict[str, int]]] = {}  # match id → (actions, policy holds)
        self._record_policies()

    # -- recording what the engine decides -----------------------------------------
    def _bind(self, name: str) -> tuple:
        preds, metrics, candidates = super()._bind(name)
        wrapped = []
        for cp, by_name, mids, others, step, durative in candidates:
            w = self.watches.get(cp.name)
            if w is not None:
                others = tuple((_updating(w, f), slot) for f, slot in others)
                if step:
                    step = (_stepping(w, step[0]), step[1])
                durative = tuple((_holding(w, f, slot), slot) for f, slot in durative)
            wrapped.append((cp, by_name, mids, others, step, durative))
        bound = self._bound[name] = (preds, metrics, tuple(wrapped))
        return bound

    # -- per event ---------------------------------------------------------------
    def push_many(self, events: Any) -> list[Match]:
        start = len(self.late)  # replay may hand late events on and clear the list between calls
        out = super().push_many(events)
        self.late_total += len(self.late) - start
        for ev in self.late[start:]:
            for w in self.watches.values():
                w.tally_specs(ev, late=True)
        return out

    def process_many(self, events: Any) -> list[Match]:
        out: list[Match] = []
        watches = self.watches.values()
        for ev in events:
            for w in watches:
                w.reset(self.suppressed[w.cp.name])
            found = super().process_many([ev])
            out += found
            self.names[ev.name] += 1
            self.tenants_seen[ev.tenant] += 1
            for w in watches:
                key = w.tally_specs(ev)
                if key is not None and w.updated:
                    mine = [(m, *self.policy_log.pop(m.match_id, ([], {}))) for m in found if m.pattern == w.cp.name]
                    w.observe(ev, key, self._state(w, ev, key), mine, self.suppressed[w.cp.name] - w.suppressed_before)
            self.policy_log.clear()
        return out

    def _record_policies(self) -> None:
        """Wrap the policies' `on_match` to keep, per match, its action records and what the policies
        held back (their counters' change during that call)."""
        policies = self.policies
        on_match = policies.on_match

        def recorded(match: Match) -> list[Any]:
            before = dict(policies.stats)
            records = on_match(match)
            held = {k: n - before.get(k, 0) for k, n in policies.stats.items()
                    if n != before.get(k, 0) and not k.startswith("emitted_")}
            self.policy_log[match.match_id] = (records, held)
            return records

        policies.on_match = recorded

    def _state(self, w: Watch, ev: Event, key: Any) -> tuple[KeyState, KeyState | None]:
        """(the key's state to read, the live one or None): a state the sweep just dropped
        behaved exactly like a fresh one."""
        per_pattern = self.tenants.get(ev.tenant)
        st = None if per_pattern is None else per_pattern[w.cp.index].get(key)
        return (KeyState([op.new_state() for op in w.cp.ops]) if st is None else st), st


def _updating(w: Watch, update: Callable) -> Callable:
    def recorded(*args: Any) -> None:
        w.updated = True
        update(*args)
    return recorded


def _stepping(w: Watch, step: Callable) -> Callable:
    def recorded(st: Any, t: float, ev: Event, vals: list) -> Any:
        w.updated = True
        w.fired = step(st, t, ev, vals)
        return w.fired
    return recorded


def _holding(w: Watch, holds: Callable, slot: int) -> Callable:
    def recorded(st: Any, t: float) -> bool:
        w.held[slot] = result = holds(st, t)
        return result
    return recorded
