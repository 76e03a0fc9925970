"""What the explainer records about one watched pattern (see observer.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from goldrush.compiler.compiled import CompiledPattern, CompiledSet
from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING
from goldrush.dsl import KEY_ATTRIBUTES
from goldrush.events.envelope import Event
from goldrush.events.match import Match

from .diagnose import diagnose
from .series import SeriesStore
from .states import key_states
from .tally import ClauseTally, Peak, clause_tallies

HOLDS_KEPT = 200  # examples of each kind of hold kept (all are counted)


class Watch:
    """One pattern's tallies, matches, holds and nearest miss, fed by the `Observer`."""

    def __init__(self, compiled: CompiledSet, cp: CompiledPattern, tenant: str | None,
                 key_filter: dict[str, str], at: float | None, keep_series: bool):
        self.compiled, self.cp = compiled, cp
        self.tenant, self.key_filter, self.at = tenant, key_filter, at
        self.clauses: list[ClauseTally] = clause_tallies(compiled, cp)
        self.matches: list[dict[str, Any]] = []
        self.holds: list[dict[str, Any]] = []
        self.hold_counts: Counter[str] = Counter()
        self.closest = Peak()
        self.at_states: dict[str, dict[str, Any]] = {}
        self.observations = 0
        self.disagreements: list[tuple] = []  # states.py said otherwise than the engine: a bug, tested to stay empty
        self.keep_series = keep_series
        self.series = SeriesStore()  # what windowed clauses evaluated, when kept (for the report)
        self.fired: list | None = None
        self.held: dict[int, bool] = {}
        self.updated = False
        self.suppressed_before = 0

    def reset(self, suppressed: int) -> None:
        self.fired, self.held, self.updated, self.suppressed_before = None, {}, False, suppressed

    # -- what the specs saw --------------------------------------------------------
    def _wanted(self, ev: Event) -> tuple[bool, Any]:
        """(the event is of the tenant and key asked about, its key or None)."""
        if self.tenant is not None and ev.tenant != self.tenant:
            return False, None
        key = ev.tenant if self.cp.tenant_key else self.cp.key(ev)
        if self.key_filter:
            if key is None:  # counted as "without key" unless a key field it does have differs
                return all(v is None or str(v) == want for v, want in
                           ((self._field(ev, k), want) for k, want in self.key_filter.items())), None
            values = self.cp.key_dict(key)
            if any(str(values.get(k)) != v for k, v in self.key_filter.items()):
                return False, None
        return True, key

    def tally_specs(self, ev: Event, late: bool = False) -> Any:
        """Count `ev` for every spec that reads it; its key (None: not wanted or no key)."""
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
                    if spec.selects(ev):
                        spec.selected += 1
                    else:
                        spec.reject(ev, None if spec.node is None else diagnose(spec.node, ev.data))
        return None if late else key

    @staticmethod
    def _field(ev: Event, k: str) -> Any:
        """A key field of the event, None when it is missing or null."""
        if k in KEY_ATTRIBUTES:
            return getattr(ev, k)
        v = get_path(ev.data, tuple(k.split(".")))
        return None if v is MISSING else v

    def _missing_key_fields(self, ev: Event) -> list[str]:
        return [k for k in self.cp.key_by[1:] if self._field(ev, k) is None]

    # -- what the engine decided ---------------------------------------------------
    def observe(self, ev: Event, key: Any, state: tuple, matches: list[tuple[Match, list[Any], dict[str, int]]],
                suppressed: int) -> None:
        """After the engine processed `ev` for `key`: read the states; record matches (with their
        action records and policy holds) and what held a match back."""
        t = ev.timestamp
        readable, live = state
        self.observations += 1
        states = key_states(self.compiled, self.cp, readable, t)
        key_text = ",".join(f"{k}={v}" for k, v in self.cp.key_dict(key).items())
        seq = self.cp.sequence
        if seq is not None:
            states[seq.slot]["holds"] = self.fired is not None
            if self.fired is not None:
                states[seq.slot]["fired_with"] = [e.id for e in self.fired]
        for slot, held in self.held.items():  # the engine's own verdicts against the states read
            if states[slot]["holds"] != held:
                self.disagreements.append((t, slot + 1, held, states[slot]))
        for clause, s in zip(self.clauses, states, strict=True):
            clause.observe(s, t, key_text)
        held = sum(1 for s in states if s["holds"])
        reached = seq is None or self.fired is not None or states[seq.slot]["reached"] > 0
        self.closest.offer((reached, held), {"at": t, "key": key_text, "clauses": states})
        if self.keep_series:
            self._keep_series(t, key_text, states, readable)
        if self.at is not None and t <= self.at:  # the windows as they stand at `at`, after this event
            self.at_states[key_text] = {"at": self.at, "last_event": ev.id, "last_event_at": t,
                                        "clauses": key_states(self.compiled, self.cp, readable, self.at)}
        for m, actions, held_by_policy in matches:
            events = list(self.fired) if self.fired is not None else [ev]
            self.matches.append({"match": m.to_dict(), "events": [e.to_dict() for e in events], "clauses": states,
                                 "actions": [a.to_dict() for a in actions], "held_by_policy": held_by_policy})
            if held_by_policy:
                self._hold("policy", t, key_text, "matched, but the action policies held back: " + ", ".join(
                    f"{k} ×{n}" for k, n in held_by_policy.items()), match_id=m.match_id)
        if suppressed:
            self._hold("cooldown", t, key_text, "matched, but held back by the pattern's cooldown",
                       until=None if live is None else live.cool_until)
        elif not matches:
            self._blocked(t, key_text)

    def _keep_series(self, t: float, key_text: str, states: list[dict[str, Any]], st: Any) -> None:
        """The figures the report plots: window counts, metric samples with the trend's
        confidence, model scores."""
        for s in states:
            op = s["op"]
            if op == "frequency":
                self.series.add(s["clause"], key_text, t, float(s["count"]))
            elif op == "trend":
                times = st.ops[s["clause"] - 1].times
                if times and times[-1] == t:  # this event gave a sample
                    value = st.ops[s["clause"] - 1].values[-1]
                    self.series.add(s["clause"], key_text, t, value, s["confidence"])
            elif op == "anomaly" and s.get("score") is not None and s.get("at") == t:
                self.series.add(s["clause"], key_text, t, s["score"])

    def _blocked(self, t: float, key_text: str) -> None:
        if self.cp.sequence is not None and self.fired is not None:
            failed = [slot + 1 for slot, ok in self.held.items() if not ok]
            self._hold("sequence_fired_but_blocked", t, key_text,
                       f"the sequence completed, but clause #{failed[0] if failed else '?'} did not hold",
                       events=[e.id for e in self.fired], failed_clauses=failed)
        elif self.cp.sequence is None and self.held and all(self.held.values()) \
                and len(self.held) == len(self.cp.durative):
            self._hold("not_a_rising_edge", t, key_text,
                       "every clause held, but already did at the previous relevant event: "
                       "a pattern without a sequence matches on the rising edge only")

    def _hold(self, kind: str, t: float, key_text: str, text: str, **extra: Any) -> None:
        self.hold_counts[kind] += 1
        if self.hold_counts[kind] <= HOLDS_KEPT:
            self.holds.append({"kind": kind, "at": t, "key": key_text, "text": text, **extra})
