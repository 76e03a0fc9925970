"""Evaluating a tenant's finer keys beside it: no trip through the keyed and verdicts topics when
this worker owns every keyed partition (docs/streaming.md, *The key-stage hop*).

The key stage exists to spread a tenant's finer keys over workers. When one worker owns every
keyed partition, the trip there and back only costs: each forwarded event is packed, produced,
fetched, unpacked and evaluated, and its verdict packed, produced, fetched and unpacked again.
So the tenant stage hands its forwards to the key stage's code in memory, and applies the
verdicts at once, under three rules that keep what the hop guaranteed:

- **Order.** A generation (an assignment) goes in place only when, as it starts, this worker
  owns every keyed partition and each was read to its end: nothing is on its way through the
  keyed topic, and nothing else writes to it while the generation lasts (only the owner of a
  tenant forwards its events). Otherwise the generation takes the hop, as before.
- **Checkpoints together.** A key's state changes only with its tenant's, so its snapshot is
  written when its tenant's checkpoint is taken, and put on the broker *before* the tenant's:
  a key is never behind its tenant. It can be ahead (a crash between the two): the tenant,
  restored from its previous checkpoint, numbers those events again, and the key, which skips
  them as re-deliveries, answers from its *memo* of the verdicts since that checkpoint
  (`KeyStage.apply`), as the verdicts topic would have.
- **Letting keys go.** Idle keys are forgotten with the progress of the tenant's previous
  checkpoint, which is on the broker: a tenant never numbers again what a forgotten key held.

Plain Python: the Faust app says which partitions it owns and whether they were read to the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from goldrush.compiler.keygroups import partition_key
from goldrush.engine.stages import TenantStage
from goldrush.events.codec import to_row
from goldrush.events.envelope import Event

from .in_place import Where
from .key_expiry import floor_key, key_partition
from .messages import Keyed
from .stages.keyed import KeyStep
from .stages.outcome import Outcome

log = logging.getLogger("goldrush.worker")

# A key's memo above this many matches makes its tenant's next checkpoints come at once, which trims
# it: a hot key matching on every event would otherwise carry two checkpoint intervals of matches.
MEMO_CHECKPOINT = 1000


class KeyPlace:
    """The stream message a key evaluated in place stands for: its snapshot goes to the
    changelog partition of its keyed partition, as if its events had been read there."""

    __slots__ = ("key", "message", "__weakref__")

    def __init__(self, table_key: str, topic: str, partition: int):
        self.key, self.message = table_key.encode(), Where(topic, partition, None)


class KeysHere:
    """Whether this generation evaluates keyed work beside its tenants, and the checkpoints of
    the keys it evaluated so (`Settler` calls `evaluate` and `checkpoint`)."""

    def __init__(self, key_step: KeyStep, topic: str, partitions: int, key_expiry: float,
                 drained: Callable[[set[int]], Awaitable[set[int]]] | None = None):
        """`drained(partitions)`: those of the keyed `partitions` read to their end (agents/consumer_groups.py)."""
        self.key_step, self.topic, self.partitions, self.key_expiry = key_step, topic, partitions, key_expiry
        self.drained = drained
        self.active = False
        # tenant → table key → (key stage, group index, key, place): changed since the tenant's last checkpoint
        self.dirty: dict[str, dict[str, tuple[Any, int, tuple, Any]]] = {}
        self.taken: dict[str, tuple[int, float]] = {}  # tenant → its progress at its last checkpoint taken
        self.durable: dict[str, tuple[int, float]] = {}  # tenant → at the checkpoint before: on the broker
        self.let_go_at: dict[str, float] = {}  # tenant → when its idle keys were last looked for
        # table key → the evaluation (`ticks`) that last touched or let go of it: a let-go key is unloaded
        # once its delete is published only if nothing touched it since (outcomes are published later
        # than they are taken, and another may have evaluated or checkpointed it in between)
        self.ticks = 0
        self.touched_at: dict[str, int] = {}
        self._partition_of: dict[str, int] = {}

    def decide(self, owned: set[int] | None, drained: set[int]) -> bool:
        """At the start of a generation: in place when every keyed partition is owned and was read to
        its end (`drained`)."""
        every = set(range(self.partitions))
        self.active = owned == every and drained >= every
        return self.active

    async def follow(self, owned: set[int]) -> bool:
        """A new assignment, with `owned` keyed partitions: `decide`, asking the broker what was read to the end."""
        every = len(owned) == self.partitions  # (a subset of the keyed partitions)
        here = self.decide(owned, await self.drained(owned) if every and self.drained is not None else set())
        log.info("finer keys evaluated %s", "beside their tenants" if here else "through the keyed topic")
        return here

    def reset(self) -> None:
        """The assignment changes: what was not checkpointed is gone with the tenants (read again)."""
        self.active = False
        self.dirty.clear()
        self.taken.clear()
        self.durable.clear()
        self.let_go_at.clear()
        self.touched_at.clear()

    def place(self, table_key: str) -> KeyPlace:
        partition = self._partition_of.get(table_key)
        if partition is None:
            if len(self._partition_of) > 100_000:
                self._partition_of.clear()
            partition = self._partition_of[table_key] = key_partition(table_key, self.partitions)
        return KeyPlace(table_key, self.topic, partition)

    def evaluate(self, stage: TenantStage, version: int | None,
                 by_key: dict[tuple[int, Any], list[tuple[int, Event]]], out: Outcome) -> dict[tuple[str, tuple], list]:
        """One tenant stage's forwards evaluated here: matches and dead letters into `out`; the
        verdicts, (tenant, key_by) → done, for the tenant stage."""
        step, host = self.key_step, self.key_step.host
        reports: dict[tuple[str, tuple], list] = {}
        evaluated = 0
        host.key_index.index_restored(step.key_state)
        self.ticks += 1
        for (group, key), events in by_key.items():
            key_by = stage.groups[group].key_by
            tenant = key[0]
            table_key = partition_key(group, key).decode()
            place = self.place(table_key)
            durable = self.durable.get(tenant)
            touched = self.dirty.get(tenant)
            if touched is None:
                touched = self.dirty[tenant] = {}
            # only the verdicts a tenant waits for need a memo (groups with actions)
            memo_after = (0 if durable is None else durable[0]) if stage.groups[group].has_actions else None
            done = step.apply(version, key_by, key, events, place.message.partition, table_key, place, out, reports,
                              touched, memo_after=memo_after)
            if done is None:  # a key held by a later version without this group (a live switch)
                step.refuse_unknown_key_by(Keyed(key_by, key, [[seq, to_row(ev)] for seq, ev in events], version),
                                           place.message, out)
                continue
            evaluated += done
            self.touched_at[table_key] = self.ticks
            if memo_after is not None:
                keys, index, canonical, _ = touched[table_key]
                if keys.memo_size(index, canonical) > MEMO_CHECKPOINT:
                    host.snapshot_at.pop(tenant, None)  # its checkpoints move on, and the memo is trimmed
        step.metrics.inc("goldrush_events_keyed_total", evaluated)
        step.metrics.inc("goldrush_events_keyed_in_place_total", evaluated)
        return reports

    def checkpoint(self, tenant: str, progress: tuple[int, float] | None, out: Outcome) -> None:
        """The tenant's checkpoint is taken now, at `progress`: the snapshots of its keys changed since
        the last one into `out` (before the tenant's), and its idle keys let go."""
        step = self.key_step
        durable = self.taken.get(tenant)
        if durable is not None:
            self.durable[tenant] = durable
        if progress is not None:
            self.taken[tenant] = progress
        touched = self.dirty.pop(tenant, {})
        now = time.monotonic()
        if (durable is not None and self.key_expiry
                and now - self.let_go_at.get(tenant, -self.key_expiry) >= self.key_expiry):
            self.let_go_at[tenant] = now
            gone: list[tuple[str, int, tuple]] = []
            for partition in range(self.partitions):
                place = KeyPlace(floor_key(tenant, partition), self.topic, partition)
                gone += step.progress(tenant, partition, durable[0], durable[1], place, out, touched)
            if gone:
                self.ticks += 1
                for table_key, _, _ in gone:
                    self.touched_at[table_key] = self.ticks
                out.after.append(partial(self.unload_forgotten, gone, self.ticks))
        out.snapshots += [(step.key_state, table_key, place, stage.snapshot(group_index, key))
                          for table_key, (stage, group_index, key, place) in touched.items()]
        if len(self.taken) > 2 * len(step.host.loaded) + 1000:  # tenants unloaded since: forget them here too
            for gone_tenant in [t for t in self.taken if t not in step.host.loaded]:
                for table in (self.taken, self.durable, self.let_go_at):
                    table.pop(gone_tenant, None)

    def unload_forgotten(self, gone: Sequence[tuple[str, int, tuple]], tick: int) -> None:
        """Once their deletes are on the broker: the keys let go at `tick` that nothing touched since
        leave memory (loaded again, they start from no snapshot)."""
        touched_at = self.touched_at
        again = {table_key for table_key, _, _ in gone if touched_at.get(table_key) != tick}
        for table_key, _, _ in gone:
            if table_key not in again:
                del touched_at[table_key]
        host = self.key_step.host
        host.unload_forgotten(list(gone), again)
        host.key_versions.unload_forgotten(list(gone), again)
