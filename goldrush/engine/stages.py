"""The engine split in two stages, so that key groups finer than the tenant can be spread out.

- `TenantStage` (partitioned by tenant): reorders by event time, finds late
  events, evaluates the patterns keyed by the tenant alone, numbers every
  released event per tenant, hands the events each key group needs to the key
  stage (`outbox`), and applies the action policies in replay order
  (`PolicySequencer`) once the key stage's verdicts are back.
- `KeyStage` (partitioned by key): evaluates one key group's patterns over the
  events of one key, in the tenant's processing order, and reports per event.

Run together with every message delivered, they give exactly `replay`'s
matches and actions (tests/unit/test_stages.py checks that on random streams and
deliveries). Both are pure: the Faust agents move their inputs and outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from goldrush.actions.policies import PolicyEngine
from goldrush.actions.sequencer import PolicySequencer
from goldrush.compiler.compiled import CompiledSet, canonical_key
from goldrush.compiler.keygroups import KeyGroup, Layout, Router, split_key_groups
from goldrush.dsl import Pattern
from goldrush.dsl.durations import Duration
from goldrush.engine.engine import Engine
from goldrush.events.envelope import Event
from goldrush.events.match import Match

Forward = tuple[int, Any, int, Event]  # (group, key, tenant sequence number, event)


class TenantStage:
    """Per tenant: reorder, tenant-keyed patterns, routing to key groups, ordered policies."""

    def __init__(self, patterns: Sequence[Pattern] | CompiledSet, *, allowed_lateness: Duration = "2s",
                 split: bool = True, sequenced: bool = False, version: int | None = None,
                 layout: Layout | None = None):
        """With `split=False` every pattern is evaluated here, as in replay (no key stage). With
        `sequenced`, policies go through a `PolicySequencer` even without key groups: after a live
        switch from a set with key groups, work queued before it still waits for their verdicts.
        `version`: the pattern-set version of these patterns, recorded on the queued matches.
        `layout`: the key groups' numbers (`split_key_groups`; None: by order)."""
        patterns = [cp.pattern for cp in patterns.patterns] if isinstance(patterns, CompiledSet) else list(patterns)
        local, self.groups = split_key_groups(patterns, layout) if split else (patterns, [])
        self.outbox: list[Forward] = []
        if not self.groups and not sequenced:  # nothing to hand on: the plain engine, unchanged
            self.sequencer = None
            self.engine = Engine(CompiledSet(patterns), allowed_lateness=allowed_lateness)
            return
        self.router = Router(self.groups)
        self.sequencer = PolicySequencer(PolicyEngine(patterns), {p.name: i for i, p in enumerate(patterns)},
                                         self.groups)
        self.sequencer.version = version
        self.engine = Engine(CompiledSet(local), allowed_lateness=allowed_lateness,
                             policies=self.sequencer, route=self._route)

    def _route(self, ev: Event) -> None:
        """Number the event in its tenant's order; queue it for the key groups that need it.

        Runs for every released event, so the common steps are inlined.
        """
        sequencer = self.sequencer
        assert sequencer is not None
        tenant = ev.tenant
        if sequencer.early:
            seq = sequencer.next_seq(tenant)
        else:
            seq = sequencer.seq[tenant] = sequencer.seq.get(tenant, 0) + 1
        routes = self.router.routes(ev.name)
        if not routes:
            return
        waiting = 0
        for route in routes:
            if route.relevant(ev):
                key = route.key(ev)
                if key is not None:
                    self.outbox.append((route.group, key, seq, ev))
                    if route.waits:
                        waiting |= 1 << route.group
        if waiting:
            sequencer.wait(tenant, seq, waiting)

    def drain_outbox(self) -> list[Forward]:
        out, self.outbox = self.outbox, []
        return out

    def drain_actions(self) -> list[Any]:
        """Actions decided since the last call: directly, or released by completed verdicts."""
        actions = self.engine.drain_actions()
        if self.sequencer is not None:
            self.sequencer.release_all()
            actions += self.sequencer.drain()
        return actions

    def drain_failed(self) -> list[tuple[Event, str]]:
        """Events whose evaluation raised since the last call, with the error (see `Engine.failed`)."""
        failed, self.engine.failed = self.engine.failed, []
        return failed

    def on_results(self, tenant: str, group: int, done: list[list]) -> None:
        """A key group's verdicts on some of the tenant's events (see `KeyStage.apply`)."""
        if self.sequencer is None:
            raise ValueError("verdicts from a key group, but the loaded patterns have no key groups")
        if not 0 <= group < len(self.groups):
            raise ValueError(f"verdicts from key group {group}, but there are {len(self.groups)}")
        if self.groups[group].has_actions:  # a group without actions only reports its matches (for rates)
            self.sequencer.on_results(tenant, group, done)

    def on_verdicts(self, tenant: str, key_by: Sequence[str], done: list[list]) -> None:
        """Verdicts named by their group's `key_by` (as messages name them): the policy work takes
        them when it waits for that group, also one of an earlier pattern-set version."""
        bit = self.verdict_bit(key_by)
        if bit is not None:
            assert self.sequencer is not None
            self.sequencer.on_results(tenant, bit, done)

    def progress(self, tenant: str) -> tuple[int, float] | None:
        """(last sequence number given out, the tenant's clock): every event numbered later
        is at or after that time, as events are numbered in time order. Sent to the key stage
        after the events up to that number, it lets idle keys go (`KeyStage.forget_idle`)."""
        seq = None if self.sequencer is None else self.sequencer.seq.get(tenant)
        clock = self.engine.clock.get(tenant)
        return None if seq is None or clock is None else (seq, clock)

    def waiting(self, tenant: str) -> int:
        return 0 if self.sequencer is None else self.sequencer.waiting(tenant)

    def verdict_bit(self, key_by: Sequence[str]) -> int | None:
        """The group number under which the policy work waits for verdicts of `key_by`, or None when
        none is awaited. Includes groups of an earlier pattern-set version whose verdicts the
        work queued before a switch still waits for (`PolicySequencer.load`)."""
        return None if self.sequencer is None else self.sequencer.awaited.get(tuple(key_by))


class KeyStage:
    """Evaluates each key group over its keys' events, in order, once each."""

    def __init__(self, patterns: Sequence[Pattern] | CompiledSet, version: int | None = None,
                 layout: Layout | None = None):
        """`version`: the pattern-set version these patterns are (recorded in key snapshots);
        `layout`: the key groups' numbers (`split_key_groups`; None: by order)."""
        patterns = [cp.pattern for cp in patterns.patterns] if isinstance(patterns, CompiledSet) else list(patterns)
        self.version = version
        _, self.groups = split_key_groups(patterns, layout)
        self.by_key_by = {g.key_by: g for g in self.groups if g.live}
        # No reordering (the tenant stage did it) and no policies (the tenant stage applies them).
        # No sweep: keys of one tenant come through different partitions, each in time order but
        # not in step with each other, so the tenant's clock (the latest event of any key) can be
        # ahead of a key's next event, and expiring the key's windows there would lose events
        # that still count for it.
        self.engines = [Engine(CompiledSet(g.patterns), allowed_lateness=0, policies=PolicyEngine(()),
                               sweeps=False) for g in self.groups]
        self.last: dict[tuple[int, Any], int] = {}  # (group, key) → sequence number of its last event applied
        # (group, key) → [lo, hi, {seq: match dicts}]: the verdicts of the key's events numbered in (lo, hi],
        # those without matches left out. Kept where the key is evaluated beside its tenant (`apply`'s
        # `memo_after`): there no verdicts topic keeps them, and a tenant restored from a checkpoint older
        # than the key's snapshot numbers those events again and waits for their verdicts. It relies on
        # the key getting its events in its tenant's order, as it does there: a number in the range that
        # has no entry is one of its events without matches.
        self.memos: dict[tuple[int, Any], list] = {}

    def group(self, index: int) -> KeyGroup:
        if not 0 <= index < len(self.groups):
            raise ValueError(f"key group {index} does not exist (the loaded patterns have {len(self.groups)})")
        return self.groups[index]

    def group_of(self, key_by: Sequence[str]) -> KeyGroup | None:
        return self.by_key_by.get(tuple(key_by))

    def apply(self, group: int, key: Any, events: Sequence[tuple[int, Event]],
              floor: int = 0, version: int | None = None,
              memo_after: int | None = None) -> tuple[list[Match], list[list]]:
        """Evaluate one key's events; (matches, verdicts for the tenant stage).

        With `version`, matches (and the verdicts' match dicts) carry it as `pattern_set_version`:
        the version that produced them, which also picks their actions' definitions.

        Verdicts are `[seq, [match dicts]]` per event, matches or not; the tenant
        stage waits for them when the group has actions (`KeyGroup.has_actions`).
        Events at or below the key's last applied sequence number, or at or below `floor`
        (see `forget_idle`), are re-deliveries: answered again from the key's memo when it
        covers them, else skipped. With `memo_after` (the sequence number of the tenant's
        last checkpoint on the broker), the memo keeps the verdicts numbered above it.
        """
        engine = self.engines[self.group(group).index]
        key = canonical_key(key)  # as read from a message: its NaNs are new objects
        at = (group, key)
        last = max(self.last.get(at, 0), floor)
        memo = self.memos.get(at)
        if memo_after is not None:
            if memo is None or memo[1] != last:  # none yet, or events were applied without it
                memo = self.memos[at] = [last, last, {}]
            elif memo_after > memo[0]:
                memo[0] = min(memo_after, memo[1])
                memo[2] = {seq: found for seq, found in memo[2].items() if seq > memo_after}
        matches: list[Match] = []
        done: list[list] = []
        for seq, ev in events:
            if seq <= last:
                if memo is not None and memo[0] < seq <= memo[1]:
                    done.append([seq, memo[2].get(seq, [])])
                continue
            last = seq
            found = engine.process_many([ev])
            if version is not None and found:
                found = [dataclasses.replace(m, pattern_set_version=version) for m in found]
            matches += found
            verdict = [m.to_dict() for m in found]
            done.append([seq, verdict])
            if memo_after is not None:
                memo[1] = seq
                if verdict:
                    memo[2][seq] = verdict
        self.last[at] = last
        return matches, done

    def memo_size(self, group: int, key: Any) -> int:
        """How many matching events the key's memo holds (see `apply`)."""
        memo = self.memos.get((group, canonical_key(key)))
        return 0 if memo is None else len(memo[2])

    def drain_failed(self) -> list[tuple[Event, str]]:
        """Events whose evaluation raised since the last call, in any group (see `Engine.failed`)."""
        failed = []
        for engine in self.engines:
            failed += engine.failed
            engine.failed = []
        return failed

    def forget_idle(self, group: int, key: Any, now: float, seq: int | None = None) -> bool:
        """Forget the key if its state is idle at `now`; True if it was.

        The caller vouches that the key's later events are all at or after `now` and all
        numbered above a floor it passes to `apply` from then on: the key's own last
        sequence number goes with its state (agents/key_expiry.py). `seq`: the number the
        caller's `now` holds for. A key that applied events numbered above it is not judged:
        the tenant stage restarted from an older snapshot and numbers again events this key
        has, so its state is past `now`, and the floor would not skip those events.
        """
        engine = self.engines[self.group(group).index]
        key = canonical_key(key)
        if seq is not None and self.last.get((group, key), 0) > seq:
            return False
        if not engine.key_idle(key[0], key, now):
            return False
        engine.forget_key(key[0], key)
        self.last.pop((group, key), None)
        self.memos.pop((group, key), None)
        return True

    def snapshot(self, group: int, key: Any) -> dict[str, Any]:
        key = canonical_key(key)
        snap = self.engines[group].snapshot_key(key[0], key)
        snap["last"] = self.last.get((group, key), 0)
        snap["key_by"] = list(self.groups[group].key_by)
        memo = self.memos.get((group, key))
        if memo is not None:
            snap["memo"] = [memo[0], memo[1], sorted(memo[2].items())]
        if self.version is not None:
            snap["version"] = self.version
        return snap

    def take(self, group: int, key: Any) -> dict[str, Any]:
        """The key's snapshot, and the key forgotten here: it moves to another version's stage."""
        snap = self.snapshot(group, key)
        key = canonical_key(key)
        self.engines[group].forget_key(key[0], key)
        self.last.pop((group, key), None)
        self.memos.pop((group, key), None)
        return snap

    def restore(self, group: int, key: Any, snap: dict[str, Any]) -> None:
        """Put back a key's snapshot, unless another group saved it.

        Snapshots are stored under the group's number, and a restart with a pattern set that
        adds or removes a finer `key_by` renumbers the groups (unless a layout fixes the numbers):
        the snapshot under this number may be another group's, of a key with the same values. Its
        state and its last sequence number (which would skip this key's events as re-deliveries)
        are not this group's.
        """
        key = canonical_key(key)
        engine = self.engines[self.group(group).index]
        saved = snap.get("key_by")  # absent: written before it was recorded
        if saved is not None and tuple(saved) != self.groups[group].key_by:
            engine.states_reset.update(dict.fromkeys(snap["patterns"], 1))
            return
        engine.restore_key(key[0], key, snap)
        self.last[(group, key)] = snap["last"]
        memo = snap.get("memo")  # absent: not evaluated beside its tenant since its last checkpoint
        if memo is not None:
            self.memos[(group, key)] = [memo[0], memo[1], {seq: found for seq, found in memo[2]}]

    def unload_all(self) -> None:
        """Partitions moved: forget every key (they are reloaded from snapshots on demand)."""
        for engine in self.engines:
            for tenant in list(engine.tenants):
                engine.unload_tenant(tenant)
        self.last.clear()
        self.memos.clear()

    def state_size(self) -> int:
        return sum(engine.state_size() for engine in self.engines)
