"""The engine: per-key pattern state driven by events in event-time order.

Pure and synchronous: no Kafka, no Faust. `replay` and the streaming agents
both drive an `Engine`; they differ only in where events come from and where
matches go.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from goldrush.actions.policies import PolicyEngine
from goldrush.actions.sequencer import load_policies
from goldrush.compiler.compiled import CompiledPattern, CompiledSet, canonical_key
from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING, NUMBER_TYPES
from goldrush.dsl import Pattern
from goldrush.dsl.durations import Duration, to_seconds
from goldrush.engine.reorder import LATE, ReorderBuffer
from goldrush.events.envelope import Event, decode
from goldrush.events.match import Match

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

    def __init__(self, patterns: Iterable[Pattern] | CompiledSet, *, allowed_lateness: Duration = "2s",
                 policies: Any = None, route: Callable[[Event], None] | None = None, sweeps: bool = True):
        """`policies` (default: a `PolicyEngine` of these patterns) turns matches into actions;
        `route`, if given, sees every event in processing order before it is evaluated
        (the streaming runtime hands events on to key groups evaluated elsewhere).
        `sweeps=False` keeps idle key state: the sweep judges every key of a tenant at the
        tenant's clock, which is only right when the tenant's events come in time order."""
        self.compiled = patterns if isinstance(patterns, CompiledSet) else CompiledSet(patterns)
        self.lateness = to_seconds(allowed_lateness, what="allowed_lateness", allow_zero=True)
        self.buffer = ReorderBuffer(self.lateness)
        # tenant → per pattern: key → state. Grouped by tenant because the tenant is
        # the unit of ordering, of partitioning and of state snapshots.
        self.tenants: dict[str, list[dict[Any, KeyState]]] = {}
        self.clock: dict[str, float] = {}  # per tenant: time of the last processed event
        self.late: list[Event] = []
        self.stats: Counter[str] = Counter()
        self.states_reset: Counter[str] = Counter()  # pattern → key states dropped on restore (changed definition)
        self.suppressed: Counter[str] = Counter()
        self._since_sweep = 0
        self.sweeps = sweeps
        self._bound: dict[str, tuple] = {}
        self.policies = PolicyEngine(cp.pattern for cp in self.compiled.patterns) if policies is None else policies
        self.route = route
        self.actions: list[Any] = []  # action records, in the order of their matches
        # Events whose evaluation raised (a model fed an extreme value, a policy, a bug): each is
        # reported with its error and the batch goes on, so one record never stops a stage.
        self.failed: list[tuple[Event, str]] = []

    # -- input -------------------------------------------------------------
    def push(self, event: Event) -> list[Match]:
        """One event in; the matches that became final (late events go to `self.late`)."""
        return self.push_many((event,))

    def push_many(self, events: Iterable[Event]) -> list[Match]:
        """Reorder a batch, then evaluate what was released in one pass."""
        released: list[Event] = []
        push = self.buffer.push
        late = self.late
        for event in events:
            accepted = push(event, released)
            if accepted is not True:
                if accepted is LATE:
                    late.append(event)
                    self.stats["late"] += 1
                else:
                    self.stats["duplicates"] += 1
        return self.process_many(released) if released else []

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

    def release_through(self, tenant: str, t: float) -> list[Match]:
        """Release and process the tenant's buffered events at or before `t` (see `ReorderBuffer.release_through`)."""
        released: list[Event] = []
        self.buffer.release_through(tenant, t, released)
        return self.process_many(released) if released else []

    # -- evaluation ----------------------------------------------------------
    def process_many(self, events: Iterable[Event]) -> list[Match]:
        """Evaluate events that are already in event-time order per tenant.

        This is the hot loop, so the per-pattern evaluation is written inline
        rather than as a method per candidate: at a few microseconds per event,
        a Python call is a noticeable share.
        """
        bound = self._bound
        vals_template = self.compiled.vals_template
        samples_template = self.compiled.samples_template
        clock = self.clock
        tenants = self.tenants
        n_patterns = len(self.compiled.patterns)
        observe = self.policies.observe if self.policies.watches_instances else None
        route = self.route
        out: list[Match] = []
        for ev in events:
            try:
                plan = bound.get(ev.name)
                if plan is None:
                    plan = self._bind(ev.name)
                t = ev.timestamp
                clock[ev.tenant] = t
                if route is not None:
                    route(ev)
                if observe is not None:
                    observe(ev)
                preds, metrics, candidates = plan
                if not candidates:
                    continue
                data = ev.data
                if preds:
                    vals = vals_template.copy()
                    for gid, pred in preds:
                        vals[gid] = True if pred is None else pred(data)
                else:
                    vals = vals_template
                if metrics:
                    samples = samples_template.copy()
                    for mid, key, path in metrics:
                        v = data.get(key, MISSING) if path is None else get_path(data, path)
                        if type(v) in NUMBER_TYPES and v - v == 0:
                            samples[mid] = float(v)
                else:
                    samples = samples_template
                tenant_states = tenants.get(ev.tenant)
                if tenant_states is None:
                    tenant_states = tenants[ev.tenant] = [{} for _ in range(n_patterns)]
                for cp, by_name, metric_ids, updates, step, durative in candidates:
                    if not by_name:
                        for mid in metric_ids:
                            if samples[mid] is not None:
                                break
                        else:
                            continue  # named like none of its specs and no sample: not relevant
                    key = ev.tenant if cp.tenant_key else cp.key(ev)
                    if key is None:
                        continue
                    key_states = tenant_states[cp.index]
                    st = key_states.get(key)
                    if st is None:
                        st = key_states[key] = KeyState([op.new_state() for op in cp.ops])
                    op_states = st.ops
                    for update, slot in updates:
                        update(op_states[slot], t, vals, samples, ev)
                    if step is not None:
                        if not step:
                            continue  # a sequence pattern matches only where its sequence fires
                        seq_state = op_states[step[1]]
                        occurrence = step[0](seq_state, t, ev, vals)
                        if occurrence is None:
                            continue
                        for holds, slot in durative:
                            if not holds(op_states[slot], t):
                                break
                        else:
                            seq_state.clear()  # matched: skip past last event
                            m = self._emit(cp, st, key, ev, occurrence)
                            if m is not None:
                                out.append(m)
                        continue
                    now = True
                    for holds, slot in durative:
                        if not holds(op_states[slot], t):
                            now = False
                            break
                    was = st.was_true
                    st.was_true = now
                    if now and not was:  # rising edge
                        m = self._emit(cp, st, key, ev, (ev,))
                        if m is not None:
                            out.append(m)
            except Exception as exc:  # noqa: BLE001 - contained to this event, reported with its error
                self.failed.append((ev, f"{type(exc).__name__}: {exc}"[:500]))

        self._since_sweep += len(events) if isinstance(events, list | tuple) else 1
        if self._since_sweep >= SWEEP_EVERY and self.sweeps:
            self.sweep()
        return out

    def _bind(self, name: str) -> tuple:
        """The compiled plan for `name`, bound to this engine's state and methods.

        Bound methods and slots are looked up once per name instead of per event.
        Sequence steps run after the other updates; the order is immaterial
        because each operator only touches its own state.
        """
        plan = self.compiled.plan(name)
        candidates = []
        for cp, by_name, metric_ids, updates in plan.candidates:
            seq = cp.sequence
            step = None if seq is None else (seq.step, seq.slot) if seq in updates else ()
            others = tuple((op.update, op.slot) for op in updates if op is not seq)
            durative = tuple((op.holds, op.slot) for op in cp.durative)
            candidates.append((cp, by_name, metric_ids, others, step, durative))
        if len(self._bound) >= 65536:
            self._bound.clear()
        bound = self._bound[name] = (plan.preds, plan.metrics, tuple(candidates))
        return bound

    def _emit(self, cp: CompiledPattern, st: KeyState, key: Any, ev: Event, evidence: Any) -> Match | None:
        """A match, unless the key's cooldown holds it back."""
        t = ev.timestamp
        if st.cool_until is not None and t < st.cool_until:
            self.suppressed[cp.name] += 1
            return None
        if cp.cooldown is not None:
            st.cool_until = t + cp.cooldown
        self.stats["matches"] += 1
        match = Match(cp.name, ev.tenant, cp.key_dict(key), t, [e.id for e in evidence])
        if cp.pattern.actions:
            self.actions.extend(self.policies.on_match(match))
        return match

    def drain_actions(self) -> list[Any]:
        """The action records produced since the last call."""
        out, self.actions = self.actions, []
        return out

    # -- memory ----------------------------------------------------------------
    def sweep(self) -> int:
        """Drop key state that no clause can use any more; returns how many keys went.

        A key whose state equals a fresh key's (windows empty, no partial
        matches, edge low, cooldown over) is indistinguishable from one never
        seen, so memory follows the active keys and the windows, not the stream.
        """
        self._since_sweep = 0
        dropped = 0
        for tenant in list(self.tenants):
            now = self.clock.get(tenant)
            if now is None:
                continue
            per_pattern = self.tenants[tenant]
            for cp, states in zip(self.compiled.patterns, per_pattern, strict=True):
                dead = [key for key, st in states.items() if self._idle(cp, st, now)]
                for key in dead:
                    del states[key]
                dropped += len(dead)
            if not any(per_pattern):
                del self.tenants[tenant]
        return dropped

    def key_idle(self, tenant: str, key: Any, now: float) -> bool:
        """True when every pattern's state for `key`, expired up to `now`, behaves like a fresh one.

        `now` must not exceed the time of any event the key may still get."""
        per_pattern = self.tenants.get(tenant)
        if per_pattern is None:
            return True
        for cp, states in zip(self.compiled.patterns, per_pattern, strict=True):
            st = states.get(key)
            if st is not None and not self._idle(cp, st, now):
                return False
        return True

    def forget_key(self, tenant: str, key: Any) -> None:
        """Drop one key's state (the tenant's other keys stay)."""
        per_pattern = self.tenants.get(tenant)
        if per_pattern is not None:
            for states in per_pattern:
                states.pop(key, None)
            if not any(per_pattern):
                del self.tenants[tenant]

    @staticmethod
    def _idle(cp: CompiledPattern, st: KeyState, now: float) -> bool:
        """True when `st` (expired up to `now`) behaves exactly like a fresh state."""
        if st.was_true:
            return False
        if st.cool_until is not None:
            if now < st.cool_until:
                return False
            st.cool_until = None
        empty = True
        for op in cp.ops:
            s = st.ops[op.slot]
            op.expire(s, now)
            if not op.is_empty(s):
                empty = False
        return empty

    # -- snapshots ---------------------------------------------------------------
    def _dump_state(self, cp: CompiledPattern, st: KeyState) -> dict[str, Any]:
        return {"was_true": st.was_true, "cool_until": st.cool_until,
                "ops": [op.dump(st.ops[op.slot]) for op in cp.ops]}

    def _load_state(self, cp: CompiledPattern, data: dict[str, Any]) -> KeyState:
        st = KeyState([op.load(d) for op, d in zip(cp.ops, data["ops"], strict=True)])
        st.was_true, st.cool_until = data["was_true"], data["cool_until"]
        return st

    def _load_states(self, cp: CompiledPattern, snap: dict[str, Any], saved: list[Any]) -> list[KeyState] | None:
        """`cp`'s saved key states, or None when another definition of the pattern saved them
        (goldrush/compiler/definitions.py): the pattern then starts fresh, counted in `states_reset`."""
        definitions = snap.get("definitions")
        if definitions is not None:
            if definitions.get(cp.name) == cp.definition:
                return [self._load_state(cp, data) for data in saved]
        else:  # saved by a version that recorded no definitions: state that does not fit is another's
            try:
                return [self._load_state(cp, data) for data in saved]
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                pass
        self.states_reset[cp.name] += len(saved)
        return None

    def snapshot_tenant(self, tenant: str) -> dict[str, Any]:
        """One tenant's whole state as JSON-ready data: restoring it resumes exactly here.

        The streaming runtime keeps one of these per tenant in a changelog-backed table.
        """
        per_pattern = self.tenants.get(tenant) or [{} for _ in self.compiled.patterns]
        held = [(cp, states) for cp, states in zip(self.compiled.patterns, per_pattern, strict=True) if states]
        buf = self.buffer.tenants.get(tenant)
        return {
            "patterns": {cp.name: [[key if cp.tenant_key else list(key), self._dump_state(cp, st)]
                                   for key, st in states.items()] for cp, states in held},
            "definitions": {cp.name: cp.definition for cp, _ in held},
            "clock": self.clock.get(tenant),
            # ±inf is not JSON (Faust's codec turns it into null): store None for "unset".
            "buffer": None if buf is None else {"high": _json_float(buf.high), "floor": _json_float(buf.floor),
                                                "queue": [e.to_dict() for e in buf.queue],
                                                "ids": self.buffer.dump_ids(tenant)},
            "policies": self.policies.dump(tenant),
        }

    def restore_tenant(self, tenant: str, snap: dict[str, Any]) -> None:
        """Replace what the engine knows of `tenant` by a snapshot (patterns matched by name)."""
        self.unload_tenant(tenant)
        per_pattern: list[dict[Any, KeyState]] = [{} for _ in self.compiled.patterns]
        for cp in self.compiled.patterns:
            entries = snap["patterns"].get(cp.name)  # a removed pattern's state is dropped
            states = self._load_states(cp, snap, [data for _, data in entries]) if entries else None
            if states:
                per_pattern[cp.index] = {(key if cp.tenant_key else canonical_key(key)): st
                                         for (key, _), st in zip(entries, states, strict=True)}
        if any(per_pattern):
            self.tenants[tenant] = per_pattern
        if snap["clock"] is not None:
            self.clock[tenant] = snap["clock"]
        if snap["buffer"] is not None:
            buf = self.buffer.tenant(tenant)
            buf.high = _unset_low(snap["buffer"]["high"])
            buf.floor = _unset_low(snap["buffer"]["floor"])
            buf.queue.extend(decode(e) for e in snap["buffer"]["queue"])
            self.buffer.load_ids(tenant, snap["buffer"].get("ids"))
        # work a changed pattern set no longer waits for comes out with the next actions
        self.actions += load_policies(self.policies, snap["policies"], tenant)

    def snapshot_key(self, tenant: str, key: Any) -> dict[str, Any]:
        """One key's state across the patterns (which share its `key_by`): a key group's unit."""
        per_pattern = self.tenants.get(tenant)
        held = [] if per_pattern is None else [
            (cp, st) for cp, by_key in zip(self.compiled.patterns, per_pattern, strict=True)
            if (st := by_key.get(key)) is not None]
        return {"patterns": {cp.name: self._dump_state(cp, st) for cp, st in held},
                "definitions": {cp.name: cp.definition for cp, _ in held}, "clock": self.clock.get(tenant)}

    def restore_key(self, tenant: str, key: Any, snap: dict[str, Any]) -> None:
        """Put back one key's state (other keys of the tenant are left alone)."""
        per_pattern = self.tenants.get(tenant)
        if per_pattern is None:
            per_pattern = self.tenants[tenant] = [{} for _ in self.compiled.patterns]
        for cp in self.compiled.patterns:
            data = snap["patterns"].get(cp.name)
            states = None if data is None else self._load_states(cp, snap, [data])
            if states:
                per_pattern[cp.index][key] = states[0]
        if snap["clock"] is not None and snap["clock"] > self.clock.get(tenant, float("-inf")):
            self.clock[tenant] = snap["clock"]

    def unload_tenant(self, tenant: str) -> None:
        """Forget a tenant (its partition moved to another worker)."""
        self.tenants.pop(tenant, None)
        self.clock.pop(tenant, None)
        self.buffer.tenants.pop(tenant, None)
        self.policies.forget(tenant)

    def snapshot(self) -> dict[str, Any]:
        """Every tenant's snapshot."""
        # Buffer order first: a flush releases tenants in that order, so restore must keep it.
        tenants = dict.fromkeys([*self.buffer.tenants, *self.tenants, *self.clock])
        return {"tenants": {t: self.snapshot_tenant(t) for t in tenants}}

    def restore(self, snap: dict[str, Any]) -> None:
        for tenant, data in snap["tenants"].items():
            self.restore_tenant(tenant, data)

    def state_size(self) -> int:
        """Number of (pattern, key) states held."""
        return sum(len(s) for per_pattern in self.tenants.values() for s in per_pattern)


def _json_float(x: float) -> float | None:
    return None if math.isinf(x) else x


def _unset_low(x: float | None) -> float:
    """None (or a codec's null for −inf) means "nothing yet": −inf."""
    return float("-inf") if x is None else float(x)
