"""Merging the source partitions by event time, so that reading a backlog turns no event late.

A tenant's watermark follows the newest event the tenant stage has seen. When a worker
reads a backlog spread over several source partitions (the seed's per-system topics, a
restart after downtime), the broker hands out each partition's records at its own pace:
one partition runs ahead in event time, and the events of the others fall below the
watermark. Replay reads one file in order and has no such problem.

So the source consumer puts what it reads through an `EventTimeMerge` before it forwards
anything. Events are held per *lane*, a (partition, tenant) pair, in the order they were
read. An event of tenant T is released once its time is at or below T's *bound*: the
least, over the partitions that still have a backlog (records on the broker not read yet),
of how far each has reached for T:

- a partition that has shown T (an event of T was read from it): the newest time of T read;
- one that has not, in a topic partitioned by tenant (each record keyed by its events'
  tenant, placed by Kafka's default partitioner, as `goldrush.client.EventProducer` does):
  nothing if T's key hashes to another partition (it never carries T), −∞ if it hashes
  to this one (T's events are further on in its backlog: wait until they come);
- one that has not, in any other topic: the newest time read from it at all (Flink's
  per-partition watermark);
- one not read at all yet: −∞ for every tenant.

Each tenant's released events come out in event-time order across its lanes (a k-way
merge of their heads), each lane's own order kept. A partition with no backlog is *idle*:
it holds nothing back, as in Flink's per-partition watermarks with idleness. When no
partition has a backlog (a live feed the worker keeps up with) every bound is +∞ and
everything read is released at once, so live latency does not change.

Why per tenant: a tenant's events keep their order within a partition (producers key by
tenant), but a partition shared by several tenants need not interleave them in time
order. The simulator, like many producers, batches per tenant: one message holds a
tenant's next 100 events, and a tenant with few events of a kind sends its first message
to that kind's topic only when it stops, holding all of them. A partition-wide bound ran
ahead of the tenants whose batch had not come yet.

Why that is enough (d: the disorder the allowed lateness absorbs): a lane's later events
are at or after the newest it gave, up to d, and a bound never passes a partition that
may still give T an earlier event, except in a topic not partitioned by tenant, where a
partition is taken at its overall progress as Flink does. `tests/unit/test_event_time_merge.py`
checks on random interleavings that each tenant gets a stream with disorder ≤ d when
(a) the lanes have disorder ≤ d and which partitions carry which tenant is known, or (b)
every partition has disorder ≤ d as a whole, or (c) every lane has and the first read of a
partition shows every tenant it carries. Otherwise an event can still be late; it is
counted and reported.

Plain Python, no Kafka: partitions and tenants are any hashable keys, items anything.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

INF = float("inf")
NEG_INF = float("-inf")


class EventTimeMerge:
    """What was read from each partition, per tenant, released in event-time order up to each tenant's bound."""

    def __init__(self, carries: Callable[[Hashable, Hashable], bool | None] | None = None) -> None:
        """`carries(partition, tenant)`: whether the partition carries the tenant's events, when that is
        known before they are read (the topic is partitioned by tenant); None: not known."""
        self.carries = carries
        self.lanes: dict[tuple[Hashable, Hashable], deque[tuple[float, Any]]] = {}  # only lanes that hold items
        self.newest: dict[tuple[Hashable, Hashable], float] = {}  # (partition, tenant) → newest event time read
        self.front: dict[Hashable, float] = {}  # partition → newest event time read from it, any tenant
        self.seen: set[Hashable] = set()  # partitions read at least once
        self.counts: dict[Hashable, int] = {}  # partition → items held
        self.waited_for: set[Hashable] = set()  # after `release`: the partitions a held tenant waits for
        self.held = 0
        self._rank: dict[Hashable, int] = {}  # ties between partitions: the one first seen first

    def add(self, partition: Hashable, items: Iterable[tuple[float | None, Hashable, Any]]) -> None:
        """Items read from `partition`, in its order: (event time, tenant, item). An item without a time
        (a message that holds no event: a dead letter) goes at the next `release`, whatever is held."""
        self.seen.add(partition)
        self._rank.setdefault(partition, len(self._rank))
        lanes, newest = self.lanes, self.newest
        n = 0
        front = self.front.get(partition, NEG_INF)
        for t, tenant, item in items:
            lane = (partition, tenant)
            queue = lanes.get(lane)
            if queue is None:
                queue = lanes[lane] = deque()
            n += 1
            if t is None:
                queue.append((NEG_INF, item))
                continue
            queue.append((t, item))
            last = newest.get(lane)
            if last is None or t > last:
                newest[lane] = t
            if t > front:
                front = t
        self.front[partition] = front
        self.counts[partition] = self.counts.get(partition, 0) + n
        self.held += n

    def bound(self, tenant: Hashable, backlogged: Iterable[Hashable]) -> float:
        """The tenant's events at or below this time may go (−∞ while a backlogged partition was never read)."""
        backlogged = set(backlogged)
        if backlogged - self.seen:
            return NEG_INF
        return self._bound(tenant, backlogged)[0]

    def _bound(self, tenant: Hashable, backlogged: set[Hashable]) -> tuple[float, Hashable | None]:
        bound, slowest = INF, None
        newest, front = self.newest, self.front
        carries = self.carries
        for p in backlogged:
            t = newest.get((p, tenant))
            if t is None:  # not shown this tenant (yet)
                known = None if carries is None else carries(p, tenant)
                if known is False:
                    continue  # it never will
                # It will: wait until it does. Not known: how far it has reached at all.
                t = NEG_INF if known else front.get(p, NEG_INF)
            if t < bound:
                bound, slowest = t, p
        return bound, slowest

    def release(self, backlogged: Iterable[Hashable]) -> list[tuple[Hashable, Any]]:
        """(partition, item) of everything releasable now; each tenant's in event-time order across partitions."""
        backlogged = set(backlogged)
        unread = backlogged - self.seen
        by_tenant: dict[Hashable, list[Hashable]] = {}
        for p, tenant in self.lanes:
            by_tenant.setdefault(tenant, []).append(p)
        out: list[tuple[Hashable, Any]] = []
        waited: set[Hashable] = set(unread)
        lanes, rank = self.lanes, self._rank
        for tenant, parts in by_tenant.items():
            if unread:
                bound = NEG_INF  # untimed items (−∞) still go
            else:
                bound, slowest = self._bound(tenant, backlogged)
                if slowest is not None:
                    waited.add(slowest)
            if len(parts) == 1:
                p = parts[0]
                q = lanes[p, tenant]
                while q and q[0][0] <= bound:
                    out.append((p, q.popleft()[1]))
                if not q:
                    del lanes[p, tenant]
                continue
            heap = [(lanes[p, tenant][0][0], rank[p], p) for p in parts]
            heapq.heapify(heap)
            while heap:
                t, r, p = heap[0]
                if t > bound:
                    break
                q = lanes[p, tenant]
                out.append((p, q.popleft()[1]))
                if q:
                    heapq.heapreplace(heap, (q[0][0], r, p))
                else:
                    heapq.heappop(heap)
                    del lanes[p, tenant]
        for p, _ in out:
            self.counts[p] -= 1
        self.held -= len(out)
        self.waited_for = waited
        return out

    def heads(self, partition: Hashable) -> list[Any]:
        """The first item not released yet of each of the partition's lanes that holds any."""
        return [q[0][1] for (p, _), q in self.lanes.items() if p == partition]

    def all_heads(self) -> dict[Hashable, list[Any]]:
        """`heads` of every partition that holds items, in one pass."""
        out: dict[Hashable, list[Any]] = {}
        for (p, _), q in self.lanes.items():
            out.setdefault(p, []).append(q[0][1])
        return out

    def holding(self, partition: Hashable) -> int:
        return self.counts.get(partition, 0)

    def drop(self, partitions: Iterable[Hashable]) -> int:
        """Forget `partitions` (revoked): their held items are not released; returns how many."""
        gone = set(partitions)
        dropped = 0
        for lane in [lane for lane in self.lanes if lane[0] in gone]:
            dropped += len(self.lanes.pop(lane))
        for lane in [lane for lane in self.newest if lane[0] in gone]:
            del self.newest[lane]
        for p in gone:
            self.front.pop(p, None)
            self.counts.pop(p, None)
        self.seen -= gone
        self.waited_for -= gone
        self.held -= dropped
        return dropped
