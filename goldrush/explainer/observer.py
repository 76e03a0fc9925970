"""The engine, run as in replay, with one pattern watched event by event.

`Observer` is the compiled `Engine` itself: it binds the same per-name plans, then wraps
the watched pattern's sequence step and durative `holds` so that what the engine decided
(fired or not, which clause held, in the engine's short-circuit order) is recorded, not
recomputed. After each event it reads the key's operator state (`states.key_states`) and
tallies, per clause, what its event specs saw. Matches are the engine's own, so an
explained match is a replay match by construction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ..engine import Engine, KeyState
from ..events import Event
from ..match import Match
from .diagnose import diagnose
from .states import key_states
from .tally import ClauseTally, Peak, clause_tallies


class Observer(Engine):
    """Replay's engine over every pattern (policies included), watching `pattern` only."""

    def __init__(self, patterns: Any, pattern: str, *, allowed_lateness: Any = "2s",
                 tenant: str | None = None, key: dict[str, str] | None = None, at: float | None = None,
                 keep_states: bool = False):
        super().__init__(patterns, allowed_lateness=allowed_lateness)
        found = [cp for cp in self.compiled.patterns if cp.name == pattern]
        if not found:
            from ..checks import did_you_mean

            names = [cp.name for cp in self.compiled.patterns]
            hint = did_you_mean(pattern, names)
            raise KeyError(f"no pattern named {pattern!r}" + (f"; did you mean {hint}?" if hint else "")
                           + f" (loaded: {', '.join(names)})")
        self.cp = found[0]
        self.tenant, self.key_filter, self.at = tenant, key or {}, at
        self.clauses: list[ClauseTally] = clause_tallies(self.compiled, self.cp)
        self.names: Counter[str] = Counter()  # every event name processed (for "did you mean")
        self.matches: list[dict[str, Any]] = []
        self.holds: list[dict[str, Any]] = []  # cooldown suppressions, edge waits, sequence fired but blocked
        self.closest: Peak = Peak()
        self.at_states: dict[str, dict[str, Any]] = {}
        self.observations = 0
        self.disagreements: list[tuple] = []  # states.py said otherwise than the engine: a bug, tested to stay empty
        self.keep_states = keep_states
        self.timeline: list[tuple[float, str, list[dict[str, Any]]]] = []  # (t, key text, states) if kept
        self._late_seen = 0
        self._fired: list | None = None
        self._held: dict[int, bool] = {}
        self._updated = False

    # -- recording what the engine decides -----------------------------------------
    def _bind(self, name: str) -> tuple:
        preds, metrics, candidates = super()._bind(name)
        wrapped = []
        for cp, by_name, mids, others, step, durative in candidates:
            if cp is self.cp:
                others = tuple((self._updating(f), slot) for f, slot in others)
                if step:
                    step = (self._stepping(step[0]), step[1])
                durative = tuple((self._holding(f, slot), slot) for f, slot in durative)
            wrapped.append((cp, by_name, mids, others, step, durative))
        bound = self._bound[name] = (preds, metrics, tuple(wrapped))
        return bound

    def _updating(self, update: Callable) -> Callable:
        def recorded(*args: Any) -> None:
            self._updated = True
            update(*args)
        return recorded

    def _stepping(self, step: Callable) -> Callable:
        def recorded(st: Any, t: float, ev: Event, vals: list) -> Any:
            self._updated = True
            self._fired = step(st, t, ev, vals)
            return self._fired
        return recorded

    def _holding(self, holds: Callable, slot: int) -> Callable:
        def recorded(st: Any, t: float) -> bool:
            self._held[slot] = result = holds(st, t)
            return result
        return recorded

    # -- per event ---------------------------------------------------------------
    def push_many(self, events: Any) -> list[Match]:
        out = super().push_many(events)
        for ev in self.late[self._late_seen:]:
            self._tally_specs(ev, late=True)
        self._late_seen = len(self.late)
        return out

    def process_many(self, events: Any) -> list[Match]:
        out: list[Match] = []
        for ev in events:
            self._fired, self._held, self._updated = None, {}, False
            suppressed = self.suppressed[self.cp.name]
            actions = len(self.actions)
            stats = Counter(self.policies.stats)
            found = super().process_many([ev])
            out += found
            self.names[ev.name] += 1
            key = self._tally_specs(ev)
            if key is not None and self._updated:
                mine = [m for m in found if m.pattern == self.cp.name]
                self._observe(ev, key, mine, self.suppressed[self.cp.name] - suppressed,
                              self.actions[actions:], Counter(self.policies.stats) - stats)
        return out

    def _wanted(self, ev: Event) -> tuple[bool, Any]:
        """(the event is of the tenant and key asked about, its key or None)."""
        if self.tenant is not None and ev.tenant != self.tenant:
            return False, None
        key = self.cp.key(ev) if not self.cp.tenant_key else ev.tenant
        if self.key_filter:
            if key is None:
                return all(str(getattr(ev, k, None)) == v for k, v in self.key_filter.items()
                           if k in ("source", "subsystem")), None
            values = self.cp.key_dict(key)
            if any(str(values.get(k)) != v for k, v in self.key_filter.items()):
                return False, None
        return True, key

    def _tally_specs(self, ev: Event, late: bool = False) -> Any:
        wanted, key = self._wanted(ev)
        if not wanted:
            return None
        for clause in self.clauses:
            for spec in clause.specs:
                if not spec.reads(ev):
                    continue
                if late:
                    spec.late += 1
                elif key is None:
                    spec.without_key.update(self._missing_key_fields(ev))
                else:
                    spec.seen += 1
                    verdict = spec.selects(ev)
                    if verdict:
                        spec.selected += 1
                    else:
                        spec.reject(ev, None if spec.node is None else diagnose(spec.node, ev.data))
        return key

    def _missing_key_fields(self, ev: Event) -> list[str]:
        from ..codegen import get_path
        from ..threevalued import MISSING

        out = []
        for k in self.cp.key_by[1:]:
            v = getattr(ev, k) if k in ("source", "subsystem") else get_path(ev.data, tuple(k.split(".")))
            if v is None or v is MISSING:
                out.append(k)
        return out

    def _observe(self, ev: Event, key: Any, matches: list[Match], suppressed: int,
                 actions: list[Any], held_by_policy: Counter) -> None:
        t = ev.timestamp
        self.observations += 1
        per_pattern = self.tenants.get(ev.tenant)
        st = None if per_pattern is None else per_pattern[self.cp.index].get(key)
        # a state the sweep just dropped behaved exactly like a fresh one
        fresh = KeyState([op.new_state() for op in self.cp.ops])
        states = key_states(self.compiled, self.cp, fresh if st is None else st, t)
        key_text = _key_text(self.cp.key_dict(key))
        seq = self.cp.sequence
        if seq is not None and states:
            states[seq.slot]["holds"] = self._fired is not None
            if self._fired is not None:
                states[seq.slot]["fired_with"] = [e.id for e in self._fired]
        for slot, held in self._held.items():  # the engine's own verdicts against the states read
            if states[slot]["holds"] != held:
                self.disagreements.append((t, slot + 1, held, states[slot]))
        for clause, state in zip(self.clauses, states, strict=True):
            clause.observe(state, t, key_text)
        held = sum(1 for s in states if s["holds"])
        self.closest.offer((seq is None or states[seq.slot]["reached"] > 0 or self._fired is not None, held),
                           {"at": t, "key": key_text, "clauses": states})
        if self.keep_states:
            self.timeline.append((t, key_text, states))
        if self.at is not None and t <= self.at:
            self.at_states[key_text] = {"at": t, "event": ev.id, "clauses": states}
        for m in matches:
            self._record_match(m, ev, states, actions, held_by_policy)
        if suppressed:
            self.holds.append({"kind": "cooldown", "at": t, "key": key_text, "until": st.cool_until if st else None,
                               "text": "matched, but held back by the pattern's cooldown"})
        elif not matches:
            self._record_blocked(t, key_text, states)

    def _record_match(self, m: Match, ev: Event, states: list[dict[str, Any]], actions: list[Any],
                      held_by_policy: Counter) -> None:
        events = list(self._fired) if self._fired is not None else [ev]
        mine = [a.to_dict() for a in actions if a.pattern == m.pattern]
        self.matches.append({"match": m.to_dict(), "events": [e.to_dict() for e in events], "clauses": states,
                             "actions": mine, "held_by_policy": dict(held_by_policy)})

    def _record_blocked(self, t: float, key_text: str, states: list[dict[str, Any]]) -> None:
        seq = self.cp.sequence
        if seq is not None and self._fired is not None:
            failed = [slot + 1 for slot, ok in self._held.items() if not ok]
            self.holds.append({"kind": "sequence_fired_but_blocked", "at": t, "key": key_text,
                               "events": [e.id for e in self._fired], "failed_clauses": failed,
                               "text": f"the sequence completed, but clause #{failed[0] if failed else '?'} "
                                       "did not hold, so the pattern did not match"})
        elif seq is None and self._held and all(self._held.values()) and len(self._held) == len(self.cp.durative):
            self.holds.append({"kind": "not_a_rising_edge", "at": t, "key": key_text,
                               "text": "every clause held, but already did at the previous relevant event: "
                                       "a pattern without a sequence matches on the rising edge only"})


def _key_text(key: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in key.items())
