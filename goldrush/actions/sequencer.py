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

from collections import Counter, OrderedDict
from collections.abc import Sequence
from itertools import chain
from typing import Any

from goldrush.actions.policies import PolicyEngine
from goldrush.compiler.keygroups import KeyGroup
from goldrush.events.envelope import Event, decode
from goldrush.events.match import Match

OBSERVE = -1  # an event's instance report comes before its matches

Item = tuple[int, Event | Match]  # (pattern position or OBSERVE, what)


class PolicySequencer:
    """Drop-in for `PolicyEngine` in the engine: applies directly when nothing waits.

    Per tenant, `queue` maps each waiting event's sequence number to the bit mask
    of key groups whose verdict is still missing (0: complete, but behind one that
    is not); `items` holds the policy work of the few events that have any. Both
    stay flat so that the snapshot written after every batch stays cheap when the
    key stage lags thousands of events behind.
    """

    def __init__(self, policies: PolicyEngine, order: dict[str, int], groups: Sequence[KeyGroup] = ()):
        self.policies = policies
        self.order = order  # pattern name → position in the full pattern list
        # bit i of a mask is group i; a snapshot records the groups' key_by, so that a
        # restart with another pattern set can tell which verdicts will still come
        self.layout = [g.key_by for g in groups]
        self.awaited = {g.key_by: g.index for g in groups if g.has_actions}  # only these send verdicts here
        # Set on a live switch of the pattern set (agents/pattern_set.py): the key stage still evaluates
        # the events forwarded under the earlier version with that version's groups, so work queued
        # then waits for their verdicts even when this set has no such group (`load`).
        self.retiring = False
        self.version: int | None = None  # the pattern-set version of the engine feeding it (None: from a file)
        self.orders: dict[int, dict[str, int]] = {}  # earlier pattern-set version → its `order`
        self.seq: dict[str, int] = {}  # tenant → sequence number of its last processed event
        self.queue: dict[str, OrderedDict[int, int]] = {}  # tenant → seq → mask of groups awaited
        self.items: dict[str, dict[int, list[Item]]] = {}  # tenant → seq → its policy work
        # tenant → seq → group → matches: verdicts that came before their event (after a
        # restart from an older snapshot, the key stage may be ahead of this one)
        self.early: dict[str, dict[int, dict[int, list[dict]]]] = {}
        self.ready: list[Any] = []  # actions released by completed events, drained by the caller

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

    def wait(self, tenant: str, seq: int, mask: int) -> None:
        """The tenant's event `seq` went to the groups in `mask` (bit i: group i);
        policy work from here on waits for their verdicts."""
        queue = self.queue.get(tenant)
        if queue is None:
            queue = self.queue[tenant] = OrderedDict()
        queue[seq] = mask
        early = self.early.get(tenant)
        if early and seq in early:
            for group, matches in early.pop(seq).items():
                self._accept(tenant, queue, seq, group, matches)

    def observe(self, ev: Event) -> None:
        if "instances" not in ev.data:
            return  # reports nothing (checked first: this runs for every event)
        if not self.queue.get(ev.tenant):
            self.policies.observe(ev)
        elif (seen := self.policies.observation(ev)) is not None:
            self._current(ev.tenant).append((OBSERVE, seen))

    def on_match(self, match: Match) -> list[Any]:
        if not self.queue.get(match.tenant):
            return self.policies.on_match(match)
        self._current(match.tenant).append((self.order[match.pattern], match))
        return []

    def _current(self, tenant: str) -> list[Item]:
        """The policy work of the event being processed, queued behind the waiting ones."""
        seq = self.seq[tenant]
        queue = self.queue[tenant]
        if seq not in queue:
            queue[seq] = 0
        return self.items.setdefault(tenant, {}).setdefault(seq, [])

    # -- verdicts from the key stage ---------------------------------------------
    def on_results(self, tenant: str, group: int, done: list[list]) -> None:
        """`done`: [seq, [match dicts]] for each event of the tenant the group evaluated."""
        queue = self.queue.get(tenant)
        last = self.seq.get(tenant, 0)
        for seq, matches in done:
            if queue is not None and seq in queue:
                self._accept(tenant, queue, seq, group, matches)
            elif seq > last:
                self.early.setdefault(tenant, {}).setdefault(seq, {})[group] = matches
            # else: applied already (a re-delivered verdict)
        self.release(tenant)

    def _accept(self, tenant: str, queue: OrderedDict[int, int], seq: int, group: int,
                matches: list[dict]) -> None:
        bit = 1 << group
        if not queue[seq] & bit:
            return  # a duplicate verdict
        queue[seq] &= ~bit
        if matches:
            work = self.items.setdefault(tenant, {}).setdefault(seq, [])
            # a pattern the loaded set no longer has (a verdict from before a restart) has no actions;
            # a match of an earlier version (a live switch) is ordered as that version ordered it
            orders = self.orders
            work += [((orders.get(d.get("pattern_set_version"), self.order) if orders else self.order)
                      .get(d["pattern"], len(self.order)), Match.from_dict(d)) for d in matches]

    def release(self, tenant: str) -> None:
        """Apply the policy work of every event at the head of the tenant's queue that waits for nothing."""
        queue = self.queue.get(tenant)
        if queue is None:
            return
        items = self.items.get(tenant, {})
        while queue:
            seq = next(iter(queue))
            if queue[seq]:
                return
            queue.popitem(last=False)
            work = items.pop(seq, None)
            if work:
                work.sort(key=lambda item: item[0])  # stable: the report first, then pattern order
                for _, what in work:
                    if isinstance(what, Match):
                        self.ready.extend(self.policies.on_match(what))
                    else:
                        self.policies.observe(what)
        del self.queue[tenant]
        self.items.pop(tenant, None)

    def release_all(self) -> None:
        for tenant in list(self.queue):
            self.release(tenant)

    def drain(self) -> list[Any]:
        out, self.ready = self.ready, []
        return out

    def waiting(self, tenant: str) -> int:
        """Events of the tenant whose policy work is queued."""
        return len(self.queue.get(tenant, ()))

    # -- state ---------------------------------------------------------------------
    def dump(self, tenant: str) -> dict[str, Any]:
        return {
            "inner": self.policies.dump(tenant),
            "seq": self.seq.get(tenant, 0),
            "queue": _pack_queue(self.queue.get(tenant)),
            "items": [[seq, [[o, "match", self._versioned(w)] if isinstance(w, Match) else [o, "event", w.to_dict()]
                             for o, w in work]]
                      for seq, work in self.items.get(tenant, {}).items()],
            "early": [[seq, group, matches] for seq, by_group in self.early.get(tenant, {}).items()
                      for group, matches in by_group.items()],
            "groups": [list(key_by) for key_by in self.layout],
        }

    def _versioned(self, match: Match) -> dict[str, Any]:
        """A queued match as saved: with the version that produced it, so that restored under
        another version (a live switch, a restart) it still takes its own version's actions."""
        d = match.to_dict()
        if self.version is not None and "pattern_set_version" not in d:
            d["pattern_set_version"] = self.version
        return d

    def load(self, data: dict[str, Any], tenant: str) -> list[Any]:
        """Restore the tenant's queue; returns the actions of work that no verdict holds back any more."""
        if "inner" not in data:  # written without key groups: there is nothing queued
            self.policies.load(data)
            return []
        self.policies.load(data["inner"])
        self.seq[tenant] = data["seq"]
        if data["items"]:
            self.items[tenant] = {seq: [(o, Match.from_dict(w) if kind == "match" else decode(w))
                                        for o, kind, w in work] for seq, work in data["items"]}
        queue = _unpack_queue(data["queue"], self.items.get(tenant, {}))
        # in the loaded set's group numbers, waiting only for verdicts that will come (the set may have changed)
        if self.retiring and data.get("groups") is not None:
            used = 0
            for mask in queue.values():
                used |= mask
            for _, group, _ in data["early"]:
                used |= 1 << group
            self.accept([tuple(k) for i, k in enumerate(data["groups"]) if used >> i & 1])
        moved = self._moved(data.get("groups"))
        queue = OrderedDict((seq, _remap(mask, moved)) for seq, mask in queue.items())
        early = [(seq, moved[group], matches) for seq, group, matches in data["early"] if moved.get(group) is not None]
        if queue:
            self.queue[tenant] = queue
        for seq, group, matches in early:
            self.early.setdefault(tenant, {}).setdefault(seq, {})[group] = matches
        before = len(self.ready)
        self.release(tenant)
        released, self.ready[before:] = self.ready[before:], []
        return released

    def accept(self, key_bys: list[tuple[str, ...]]) -> None:
        """Take verdicts of these groups of another version too, under numbers after this set's. No
        event of this set waits for them; one that comes early is kept (`early`) and goes along in
        the tenant's snapshot to the version whose events wait for it."""
        for key_by in key_bys:
            if key_by not in self.awaited:
                self.awaited[key_by] = len(self.layout)
                self.layout.append(key_by)

    def _moved(self, saved: list[list[str]] | None) -> dict[int, int | None]:
        """Saved group number → the loaded group number whose verdict is awaited, or None when none
        will come: the group is gone, or has no actions now."""
        layout = self.layout if saved is None else [tuple(k) for k in saved]  # None: saved before layouts were
        return {i: self.awaited.get(key_by) for i, key_by in enumerate(layout)}

    def forget(self, tenant: str) -> None:
        self.policies.forget(tenant)
        for table in (self.seq, self.queue, self.items, self.early):
            table.pop(tenant, None)


def _remap(mask: int, moved: dict[int, int | None]) -> int:
    """A mask of saved group numbers in the loaded set's numbers; groups that send no verdict are dropped."""
    out = 0
    for old, new in moved.items():
        if mask >> old & 1 and new is not None:
            out |= 1 << new
    return out


def _pack_queue(queue: OrderedDict[int, int] | None) -> dict[str, Any]:
    """The first seq and one byte per seq up to the last (its mask), when every mask fits a byte.

    The key stage may lag far behind under a burst, and the queue is in every
    snapshot of the tenant: one byte per waiting event keeps a 100,000-event
    backlog at 100 kB. A seq absent from the queue and one whose mask is 0
    without policy work are alike (releasing either does nothing).
    """
    if not queue:
        return {}
    first, last = next(iter(queue)), next(reversed(queue))
    if max(queue.values()) < 256:
        masks = bytearray(last - first + 1)
        for seq, mask in queue.items():
            masks[seq - first] = mask
        return {"first": first, "masks": bytes(masks)}
    return {"pairs": list(chain.from_iterable(queue.items()))}  # more than 8 key groups: seq, mask, …


def _unpack_queue(packed: dict[str, Any], items: dict[int, list]) -> OrderedDict[int, int]:
    queue: OrderedDict[int, int] = OrderedDict()
    if "masks" in packed:  # bytes, or a list of ints after the JSON fallback of internal_codec
        first = packed["first"]
        for offset, mask in enumerate(packed["masks"]):
            seq = first + offset
            if mask or seq in items:
                queue[seq] = mask
    elif "pairs" in packed:
        pairs = packed["pairs"]
        queue.update(zip(pairs[0::2], pairs[1::2], strict=True))
    return queue


def load_policies(policies: Any, data: dict[str, Any], tenant: str) -> list[Any]:
    """Restore a tenant's policy state from a snapshot written with or without key groups.

    A `PolicySequencer`'s dump (it has `"inner"`) read into a plain `PolicyEngine` (the
    loaded patterns no longer have key groups): the work it queued for their verdicts is
    applied now, in order, and its actions are returned.
    """
    if isinstance(policies, PolicyEngine) and "inner" in data:
        order = {name: i for i, name in enumerate(policies.bindings)}
        return PolicySequencer(policies, order).load(data, tenant)
    return policies.load(data, tenant)
