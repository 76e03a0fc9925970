"""Action policies in replay order when part of a tenant's matches are found elsewhere.

Policies are per tenant and depend on order (an alert rate limit spans all
patterns and keys of a tenant; a scaling target's instance count follows the
events). Replay applies them event by event: first the event's instance report,
then its matches in pattern order. When key groups are evaluated on other
workers, their verdict on an event comes back later; the tenant's policy work
from that event on waits in a queue, numbered by the tenant's processing
sequence, and is applied in order as soon as every verdict before it is in.

All state is plain data per tenant (`dump`/`load`), kept in the tenant's snapshot.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .events import Event, decode
from .match import Match
from .policies import PolicyEngine, instances_reported

OBSERVE = -1  # an event's instance report comes before its matches


class _Entry:
    """Policy work of one event (by sequence number) and the key groups it still waits for."""

    __slots__ = ("waiting", "items")

    def __init__(self, waiting: set[int]):
        self.waiting = waiting
        self.items: list[tuple[int, Event | Match]] = []  # (pattern position or OBSERVE, what)


class PolicySequencer:
    """Drop-in for `PolicyEngine` in the engine: applies directly when nothing waits."""

    def __init__(self, policies: PolicyEngine, order: dict[str, int]):
        self.policies = policies
        self.order = order  # pattern name → position in the full pattern list
        self.seq: dict[str, int] = {}  # tenant → sequence number of its last processed event
        self.pending: dict[str, dict[int, _Entry]] = {}  # tenant → seq → entry, ascending
        # tenant → seq → group → matches: verdicts that came before their event (after a
        # restart from an older snapshot, the key stage may be ahead of this one)
        self.early: dict[str, dict[int, dict[int, list[dict]]]] = {}
        self.ready: list[Any] = []  # actions released by completed entries, drained by the caller

    @property
    def watches_instances(self) -> bool:
        return self.policies.watches_instances

    @property
    def stats(self) -> Counter[str]:
        return self.policies.stats

    # -- what the engine calls ---------------------------------------------------
    def next_seq(self, tenant: str) -> int:
        seq = self.seq[tenant] = self.seq.get(tenant, 0) + 1
        early = self.early.get(tenant)
        if early:  # verdicts for events that were not produced again are of no use
            for s in [s for s in early if s < seq]:
                del early[s]
        return seq

    def wait(self, tenant: str, seq: int, groups: list[int]) -> None:
        """The tenant's event `seq` went to `groups`; policy work from here on waits for them."""
        entry = _Entry(set(groups))
        self.pending.setdefault(tenant, {})[seq] = entry
        early = self.early.get(tenant)
        if early and seq in early:
            for group, matches in early.pop(seq).items():
                self._accept(entry, group, matches)

    def observe(self, ev: Event) -> None:
        if not self.pending.get(ev.tenant):
            self.policies.observe(ev)
        elif instances_reported(ev) is not None:
            self._current(ev.tenant).items.append((OBSERVE, ev))

    def on_match(self, match: Match) -> list[Any]:
        if not self.pending.get(match.tenant):
            return self.policies.on_match(match)
        self._current(match.tenant).items.append((self.order[match.pattern], match))
        return []

    def _current(self, tenant: str) -> _Entry:
        """The entry of the event being processed (one that waits for nothing if new)."""
        queue = self.pending[tenant]
        seq = self.seq[tenant]
        entry = queue.get(seq)
        if entry is None:
            entry = queue[seq] = _Entry(set())
        return entry

    # -- verdicts from the key stage ---------------------------------------------
    def on_results(self, tenant: str, group: int, done: list[list]) -> None:
        """`done`: [seq, [match dicts]] for each event of the tenant the group evaluated."""
        queue = self.pending.get(tenant, {})
        last = self.seq.get(tenant, 0)
        for seq, matches in done:
            entry = queue.get(seq)
            if entry is not None:
                self._accept(entry, group, matches)
            elif seq > last:
                self.early.setdefault(tenant, {}).setdefault(seq, {})[group] = matches
            # else: applied already (a re-delivered verdict)
        self.release(tenant)

    def _accept(self, entry: _Entry, group: int, matches: list[dict]) -> None:
        if group not in entry.waiting:
            return  # a duplicate verdict
        entry.waiting.discard(group)
        for d in matches:
            entry.items.append((self.order[d["pattern"]], Match.from_dict(d)))

    def release(self, tenant: str) -> None:
        """Apply every entry at the head of the tenant's queue that waits for nothing."""
        queue = self.pending.get(tenant)
        while queue:
            seq, entry = next(iter(queue.items()))
            if entry.waiting:
                return
            del queue[seq]
            entry.items.sort(key=lambda item: item[0])  # stable: pattern order, report first
            for _, what in entry.items:
                if isinstance(what, Match):
                    self.ready.extend(self.policies.on_match(what))
                else:
                    self.policies.observe(what)
        self.pending.pop(tenant, None)

    def release_all(self) -> None:
        for tenant in list(self.pending):
            self.release(tenant)

    def drain(self) -> list[Any]:
        out, self.ready = self.ready, []
        return out

    def waiting(self, tenant: str) -> int:
        """Events of the tenant whose policy work is queued."""
        return len(self.pending.get(tenant, ()))

    # -- state ---------------------------------------------------------------------
    def dump(self, tenant: str) -> dict[str, Any]:
        return {
            "inner": self.policies.dump(tenant),
            "seq": self.seq.get(tenant, 0),
            "pending": [[seq, sorted(e.waiting),
                         [[o, "match", w.to_dict()] if isinstance(w, Match) else [o, "event", w.to_dict()]
                          for o, w in e.items]]
                        for seq, e in self.pending.get(tenant, {}).items()],
            "early": [[seq, group, matches] for seq, by_group in self.early.get(tenant, {}).items()
                      for group, matches in by_group.items()],
        }

    def load(self, data: dict[str, Any], tenant: str) -> None:
        if "inner" not in data:  # written without key groups: there is nothing queued
            self.policies.load(data)
            return
        self.policies.load(data["inner"])
        self.seq[tenant] = data["seq"]
        queue: dict[int, _Entry] = {}
        for seq, waiting, items in data["pending"]:
            entry = queue[seq] = _Entry(set(waiting))
            entry.items = [(o, Match.from_dict(w) if kind == "match" else decode(w)) for o, kind, w in items]
        if queue:
            self.pending[tenant] = queue
        for seq, group, matches in data["early"]:
            self.early.setdefault(tenant, {}).setdefault(seq, {})[group] = matches

    def forget(self, tenant: str) -> None:
        self.policies.forget(tenant)
        for table in (self.seq, self.pending, self.early):
            table.pop(tenant, None)
