"""The engine: per-key pattern state driven by events in event-time order.

Pure and synchronous: no Kafka, no Faust. `replay` and the streaming agents
both drive an `Engine`; they differ only in where events come from and where
matches go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .compiler import CompiledPattern, CompiledSet
from .dsl import Pattern
from .durations import Duration, to_seconds
from .events import Event
from .match import Match
from .reorder import ReorderBuffer

SWEEP_EVERY = 65536  # processed events between sweeps of idle key state


class KeyState:
    """Everything one pattern remembers about one key."""

    __slots__ = ("ops", "was_true", "cool_until")

    def __init__(self, ops: list[Any]):
        self.ops = ops
        self.was_true = False
        self.cool_until: float | None = None


class Engine:
    """Compiled patterns + reorder buffer + per-key state.

    `push(event)` returns the matches that became final; `flush()` at end of input.
    Late events go to `self.late`; counters to `self.stats`.
    """

    def __init__(self, patterns: Iterable[Pattern] | CompiledSet, *, allowed_lateness: Duration = "2s"):
        self.compiled = patterns if isinstance(patterns, CompiledSet) else CompiledSet(patterns)
        self.lateness = to_seconds(allowed_lateness, what="allowed_lateness", allow_zero=True)
        self.buffer = ReorderBuffer(self.lateness)
        self.states: list[dict[Any, KeyState]] = [{} for _ in self.compiled.patterns]
        self.clock: dict[str, float] = {}  # per tenant: time of the last processed event
        self.late: list[Event] = []
        self.stats: Counter[str] = Counter()
        self.suppressed: Counter[str] = Counter()
        self._since_sweep = 0

    # -- input -------------------------------------------------------------
    def push(self, event: Event) -> list[Match]:
        released: list[Event] = []
        if not self.buffer.push(event, released):
            self.late.append(event)
            self.stats["late"] += 1
            return []
        if not released:
            return []
        return self.process_many(released)

    def flush(self) -> list[Match]:
        """End of input: release and process every buffered event."""
        released: list[Event] = []
        self.buffer.flush(released)
        return self.process_many(released)

    def flush_tenant(self, tenant: str) -> list[Match]:
        """A tenant went quiet (streaming): release its buffer now."""
        released: list[Event] = []
        self.buffer.flush_tenant(tenant, released)
        return self.process_many(released)

    # -- evaluation ----------------------------------------------------------
    def process_many(self, events: list[Event]) -> list[Match]:
        out: list[Match] = []
        process = self.process
        for ev in events:
            found = process(ev)
            if found:
                out.extend(found)
        return out

    def process(self, ev: Event) -> list[Match] | None:
        """Evaluate one event, already in event-time order for its tenant."""
        compiled = self.compiled
        plan = compiled.plan(ev.name)
        self.clock[ev.tenant] = ev.timestamp
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep()
        if not plan.candidates:
            return None
        data = ev.data
        vals = compiled.vals_template.copy()
        for gid, pred in plan.preds:
            vals[gid] = True if pred is None else pred(data)
        if plan.metrics:
            samples = compiled.samples_template.copy()
            sample = compiled.sample
            for mid, path in plan.metrics:
                samples[mid] = sample(data, path)
        else:
            samples = compiled.samples_template
        found = None
        for cand in plan.candidates:
            if not cand.by_name:
                for mid in cand.metric_ids:
                    if samples[mid] is not None:
                        break
                else:
                    continue
            m = self._evaluate(cand.pattern, cand.updates, ev, vals, samples)
            if m is not None:
                if found is None:
                    found = [m]
                else:
                    found.append(m)
        return found

    def _evaluate(self, cp: CompiledPattern, updates: tuple, ev: Event, vals: list,
                  samples: list) -> Match | None:
        key = cp.key(ev)
        if key is None:
            return None
        states = self.states[cp.index]
        st = states.get(key)
        if st is None:
            st = states[key] = KeyState([op.new_state() for op in cp.ops])
        t = ev.timestamp
        op_states = st.ops
        seq = cp.sequence
        occurrence = None
        for op in updates:
            if op is seq:
                occurrence = op.step(op_states[op.slot], t, ev, vals)
            else:
                op.update(op_states[op.slot], t, vals, samples)
        if seq is not None:
            if occurrence is None:
                return None
            for op in cp.durative:
                if not op.holds(op_states[op.slot], t):
                    return None
            op_states[seq.slot].clear()  # skip past last event
            evidence = occurrence
        else:
            holds = True
            for op in cp.durative:
                if not op.holds(op_states[op.slot], t):
                    holds = False
                    break
            was = st.was_true
            st.was_true = holds
            if not holds or was:
                return None
            evidence = [ev]
        if st.cool_until is not None and t < st.cool_until:
            self.suppressed[cp.name] += 1
            return None
        if cp.cooldown is not None:
            st.cool_until = t + cp.cooldown
        self.stats["matches"] += 1
        return Match(cp.name, ev.tenant, cp.key_dict(key), t, [e.id for e in evidence])

    # -- memory ----------------------------------------------------------------
    def sweep(self) -> int:
        """Drop key state that no clause can use any more; returns how many keys went.

        A key whose state equals a fresh key's (windows empty, no partial
        matches, edge low, cooldown over) is indistinguishable from one never
        seen, so memory follows the active keys and the windows, not the stream.
        """
        self._since_sweep = 0
        dropped = 0
        clock = self.clock
        for cp, states in zip(self.compiled.patterns, self.states, strict=True):
            dead = []
            for key, st in states.items():
                now = clock.get(cp.tenant_of(key))
                if now is None:
                    continue
                if st.was_true:
                    continue
                if st.cool_until is not None:
                    if now < st.cool_until:
                        continue
                    st.cool_until = None
                empty = True
                for op in cp.ops:
                    s = st.ops[op.slot]
                    op.expire(s, now)
                    if not op.is_empty(s):
                        empty = False
                if empty:
                    dead.append(key)
            for key in dead:
                del states[key]
            dropped += len(dead)
        return dropped

    def state_size(self) -> int:
        """Number of (pattern, key) states held."""
        return sum(len(s) for s in self.states)
