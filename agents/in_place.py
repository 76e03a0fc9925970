"""Evaluating a tenant's events where they are read: no trip through engine-in when this worker
owns the tenant's engine-in partition (docs/streaming.md, *The engine-in hop*).

Ingest normally forwards every event to `<app-id>-engine-in`, keyed by tenant, so that a
tenant's events from every source meet on the worker that owns its partition. When that
worker is the one reading them, the trip only costs: packing, producing, fetching and
unpacking every event once more. So the tenant stage takes them in place, under three rules
that keep what the hop guaranteed:

- **Order.** A partition goes in place only once everything already on its way to it through
  engine-in has been read: ingest sends a *barrier* (an empty engine-in message naming a token)
  to the partition, and the tenant stage opens the partition when it reads that barrier. Until
  then, and whenever the assignment changes, the tenant's events are forwarded as before.
- **At least once.** A source record evaluated in place is committed only once a snapshot
  covering it is on the broker (`Receipts`), as an engine-in record is.
- **Rebalance.** A tenant unloaded by a rebalance drops its uncommitted state; the source
  records behind it, and those of inputs not evaluated yet, are read again
  (`SourceConsumer.rewind`), and its source positions skip what its snapshot already holds.

Plain Python; the Faust app supplies which partitions it owns.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka.partitioner import murmur2

from goldrush.events.envelope import Event

from .messages import EngineIn


class Where:
    """The stream message an in-place input stands for: tables write to the changelog partition
    of the current message, which must be the tenant's engine-in partition."""

    __slots__ = ("topic", "partition", "offset", "timestamp")

    def __init__(self, topic: str, partition: int, timestamp: float | None):
        self.topic, self.partition, self.offset, self.timestamp = topic, partition, -1, timestamp


class InPlaceInput:
    """One tenant's events from one ingest batch, handed to the tenant stage without the hop.

    `runs` are engine-in's (agents/messages.py): where each event came from, for the source
    positions that skip re-deliveries. `ack()` (once a snapshot covers it) releases its source
    records for committing."""

    __slots__ = ("key", "tenant", "message", "events", "runs", "records", "receipts", "__weakref__")

    def __init__(self, tenant: str, message: Where, events: list[Event], runs: list[list],
                 records: list[tuple[str, int, int]], receipts: Receipts):
        self.key, self.tenant, self.message = tenant.encode(), tenant, message
        self.events, self.runs, self.records, self.receipts = events, runs, records, receipts

    def ack(self) -> None:
        self.receipts.release(self.records)


class Receipts:
    """Source records handed on in place and not yet covered by a written snapshot, counted per
    record (one record may carry several tenants). A source partition is committed only below
    its first such record. Dropping a partition (rebalance, rewind) voids its holds: an ack that
    comes later for them releases nothing, since the same offsets may be held again."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, int], dict[int, int]] = {}  # (topic, partition) → offset → holders
        # (topic, partition) → a heap of its held offsets, released ones removed only when on top:
        # `first` runs at every commit, and a partition of one-event records holds tens of thousands
        self.lowest: dict[tuple[str, int], list[int]] = {}
        self.epoch: dict[tuple[str, int], int] = {}

    def hold(self, records: Iterable[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        """Hold each (topic, partition, offset); returns the holds as (topic, partition, offset, epoch)."""
        out = []
        for topic, partition, offset in records:
            tp = (topic, partition)
            offsets = self.held.get(tp)
            if offsets is None:
                offsets = self.held[tp] = {}
                self.lowest[tp] = []
            holders = offsets.get(offset)
            if holders is None:
                offsets[offset] = 1
                heapq.heappush(self.lowest[tp], offset)
            else:
                offsets[offset] = holders + 1
            out.append((topic, partition, offset, self.epoch.get(tp, 0)))
        return out

    def release(self, holds: Iterable[tuple[str, int, int, int]]) -> None:
        for topic, partition, offset, epoch in holds:
            tp = (topic, partition)
            offsets = self.held.get(tp)
            if offsets is None or self.epoch.get(tp, 0) != epoch or offset not in offsets:
                continue
            if offsets[offset] <= 1:
                del offsets[offset]
            else:
                offsets[offset] -= 1

    def first(self, topic: str, partition: int) -> int | None:
        """The lowest offset of the partition still held, if any."""
        offsets = self.held.get((topic, partition))
        if not offsets:
            return None
        heap = self.lowest[topic, partition]
        while heap[0] not in offsets:  # released since it was pushed (re-held offsets are pushed again)
            heapq.heappop(heap)
        return heap[0]

    def drop(self, tps: Iterable[tuple[str, int]]) -> None:
        for tp in tps:
            self.held.pop(tp, None)
            self.lowest.pop(tp, None)
            self.epoch[tp] = self.epoch.get(tp, 0) + 1

    def partitions(self) -> list[tuple[str, int]]:
        return [tp for tp, offsets in self.held.items() if offsets]


class Router:
    """Which engine-in partitions are taken in place now. `owned()` gives the engine-in partitions
    this worker owns with their tables recovered, or None while a rebalance or recovery runs.

    A partition is *pending* from its barrier's sending until the tenant stage reads it; its
    tenants' inputs wait here meanwhile (`wait`), their source records held, and are evaluated
    right after the barrier (`passed`), behind everything forwarded before it. Forwarding them
    instead would put them behind the barrier too, where in-place events would overtake them."""

    def __init__(self, partitions: int, owned: Callable[[], set[int] | None]):
        self.partitions, self.owned = partitions, owned
        self.worker = uuid.uuid4().hex[:12]
        self.generation = 0
        self.ready: set[int] = set()
        self.pending: dict[int, str] = {}  # partition → token of the barrier sent to it
        self.waiting: dict[int, list[InPlaceInput]] = {}  # pending partition → its inputs, in order
        self.waiting_events = 0  # in `waiting`: ingest stops reading above MAX_WAITING (agents/source_batches.py)
        self.dropped: list[InPlaceInput] = []  # inputs not evaluated when the assignment changed: read again
        self.last_owned: set[int] | None = None
        self._tokens = itertools.count()
        self._partition_of: dict[str, int] = {}

    def partition(self, tenant: str) -> int:
        """The tenant's engine-in partition: Kafka's default partitioner on the tenant's name."""
        p = self._partition_of.get(tenant)
        if p is None:
            if len(self._partition_of) > 100_000:
                self._partition_of.clear()
            p = self._partition_of[tenant] = (murmur2(tenant.encode()) & 0x7FFFFFFF) % self.partitions
        return p

    def reset(self) -> None:
        """The assignment changed: nothing is in place until a new barrier passes."""
        self.generation += 1
        self.ready.clear()
        self.pending.clear()
        self.last_owned = None  # `follow` looks at the next assignment afresh
        for inputs in self.waiting.values():
            self.dropped += inputs
        self.waiting.clear()
        self.waiting_events = 0

    async def follow(self, drained: Callable[[set[int]], Awaitable[set[int]]]) -> None:
        """Called before each ingest batch, before anything of it is forwarded: on a new assignment,
        the partitions with nothing left to read in engine-in (`drained`: their committed offset is
        their end) go in place at once. Everything forwarded to them is applied, so no barrier is
        needed, and none is waited for (the first one can wait for a whole parked fetch)."""
        owned = self.owned()
        if owned == self.last_owned:
            return
        self.reset()
        self.last_owned = owned
        if owned:
            generation = self.generation
            empty = await drained(owned)
            if self.generation == generation and self.owned() == owned:
                self.ready |= empty & owned

    def refresh(self) -> list[tuple[int, bytes]]:
        """Called before each ingest batch: follows the assignment, and returns the barriers to send
        (partition, engine-in message) for owned partitions not in place yet."""
        owned = self.owned()
        if owned != self.last_owned:
            self.reset()
            self.last_owned = owned
        if not owned:
            return []
        out = []
        for partition in sorted(owned - self.ready - self.pending.keys()):
            token = f"{self.worker}:{self.generation}:{next(self._tokens)}"
            self.pending[partition] = token
            out.append((partition, EngineIn([], [], barrier=token).to_bytes()))
        return out

    def here(self, tenant: str) -> bool:
        """Whether ingest hands the tenant's events on in place (now, or once its barrier passed)."""
        if not self.ready and not self.pending:
            return False
        p = self.partition(tenant)
        return p in self.ready or p in self.pending

    def evaluate_now(self, inputs: list[InPlaceInput]) -> list[InPlaceInput]:
        """Those of `inputs` whose partition is in place; the others wait for their barrier."""
        now = []
        for item in inputs:
            p = item.message.partition
            if p in self.ready:
                now.append(item)
            elif p in self.pending:
                self.waiting.setdefault(p, []).append(item)
                self.waiting_events += len(item.events)
            else:  # cannot happen within one generation; never evaluated off its partition's order
                self.dropped.append(item)
        return now

    def passed(self, partition: int, token: str) -> list[InPlaceInput]:
        """The tenant stage read a barrier: if it is this generation's, the partition goes in place, and
        the inputs that waited for it are returned, to be evaluated next."""
        if self.pending.get(partition) != token:
            return []
        del self.pending[partition]
        self.ready.add(partition)
        inputs = self.waiting.pop(partition, [])
        self.waiting_events -= sum(len(item.events) for item in inputs)
        return inputs

    def take_dropped(self) -> list[InPlaceInput]:
        dropped, self.dropped = self.dropped, []
        return dropped

    def still(self, generation: int) -> bool:
        return generation == self.generation and self.owned() == self.last_owned


def in_place_holds(records: Iterable[Any]) -> list[tuple[str, int, int, int]]:
    """The source records behind in-place inputs among `records` (others are ignored)."""
    return [hold for record in records if isinstance(record, InPlaceInput) for hold in record.records]


def owned_partitions(app: Any, engine_in: str, recovered: Any) -> set[int] | None:
    """The engine-in partitions a Faust app owns, tables recovered; None while it rebalances or recovers."""
    if not recovered.is_set() or app.rebalancing or app.in_recovery:
        return None
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == engine_in}
