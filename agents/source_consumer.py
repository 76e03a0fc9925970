"""The source topics are read by a plain aiokafka consumer, not a Faust agent.

Ingest keeps no state: it decodes, dead-letters and forwards to engine-in, and a
message forwarded twice is skipped later by its source position (agents/host.py).
So it does not need Faust's per-message machinery (stream events, acks, the
conductor), which caps a Faust agent at a few thousand messages per second, while
producers commonly send one event per message. It has a consumer group of its own,
`<app-id>-ingest`, and commits a batch's offsets only once the batch's forwards are
on the broker (at least once). A partition this group has never committed starts
where the group `<app-id>` stopped, if it did: versions before this one read the
sources with a Faust agent in that group, and an upgrade must not read the whole
retention of the sources again.

What it reads goes through an `EventTimeMerge` (agents/event_time_merge.py) before it
is handed on: while some source partition still has a backlog, the others' events wait
until it has caught up in event time, so that reading a backlog in whatever order the
broker hands it out turns no event late. Records are decoded here (the merge needs the
events' times) and handed on as `Piece`s: the part of one record released together,
with its events already decoded (`Piece.decoded`). Offsets are committed per partition
only up to its first record not handed on in full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

from goldrush.events.envelope import Event, future_limit

from .config import WorkerConfig
from .consumer_groups import adopt_earlier_offsets
from .event_time_merge import EventTimeMerge
from .in_place import Receipts
from .ingest import DeadLetter, decode_message, name_filter

log = logging.getLogger("goldrush.worker")

MAX_RECORDS = 5000  # per batch: large enough to group many events per tenant, small enough to stay responsive
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Events held back by the merge at most (about 1 kB each in memory): beyond, the partitions ahead are
# paused until the one behind has caught up; fetching resumes below half of it.
MAX_HELD = 20_000
# A partition with a backlog that gives nothing for this long (wall clock, while not paused) is not waited for.
IDLE_AFTER = 30.0
# A partition this far behind the others in event time (seconds) is logged, once per catch-up.
FAR_BEHIND = 300.0


class Piece:
    """The part of one source record handed on at once: what `handle` gets instead of the record.

    `decoded` is `decode_message`'s result for this part: (index in the message, event) pairs,
    dead letters, events filtered out. A record's dead letters and filtered count come with its
    first piece; a record whose events were released in several merges comes as several pieces."""

    __slots__ = ("topic", "partition", "offset", "key", "value", "timestamp", "decoded")

    def __init__(self, record: Any, decoded: tuple[list[tuple[int, Event]], list[DeadLetter], int]):
        self.topic, self.partition, self.offset = record.topic, record.partition, record.offset
        self.key, self.value, self.timestamp = record.key, record.value, getattr(record, "timestamp", None)
        self.decoded = decoded


class SourceConsumer:
    """Reads the source topics in batches; `lag()` for the metrics."""

    def __init__(self, cfg: WorkerConfig):
        self.cfg = cfg
        self.consumer: AIOKafkaConsumer | None = None
        self.positions: dict[Any, int] = {}  # partition → offset of the next record to handle
        self.ready = False  # the group gave this consumer its partitions (possibly none) at least once
        self.batches = 0  # handled
        self.restarts = 0  # by `run_forever`, after a failure
        self.merge = EventTimeMerge(self._carries)
        # topic → whether every record read from it was keyed by its events' tenant and placed by Kafka's
        # default partitioner: then a partition's tenants are known before they are read (see `_carries`)
        self._by_tenant: dict[str, bool] = {}
        self._partitions: dict[str, int] = {}  # topic → its partition count (from the consumer's metadata)
        self._hashes: dict[str, int] = {}  # tenant → the default partitioner's hash of it as a key
        self._keys: dict[tuple[str, bytes], tuple[str, int]] = {}  # (topic, key) checked → (tenant, partition)
        self._filters = {topic: name_filter(globs) for topic, globs in cfg.event_filters.items()}
        # partition with a backlog → when it last gave records (or got a backlog, or was resumed)
        self._last_read: dict[Any, float] = {}
        self._paused: set[Any] = set()
        self._behind: set[Any] = set()  # partitions logged as far behind, until they catch up
        self._committed: dict[Any, int] = {}
        # records handed to the tenant stage in place, committed once a snapshot covers them (agents/in_place.py)
        self.receipts = Receipts()

    def held(self) -> int:
        """Events read but held back until the partitions behind them catch up (a gauge)."""
        return self.merge.held

    def _make(self) -> AIOKafkaConsumer:
        cfg = self.cfg
        rebalance_ms = int(cfg.rebalance_timeout * 1000)
        return AIOKafkaConsumer(
            bootstrap_servers=cfg.broker, group_id=f"{cfg.app_id}-ingest",
            client_id=f"{cfg.app_id}-ingest", enable_auto_commit=False, auto_offset_reset="earliest",
            # See cap_fetch_wait in agents/compat.py: the embedded broker answers a parked fetch only when the wait runs out.
            fetch_max_wait_ms=max(1, int(cfg.fetch_wait * 1000)),
            # At most ~4 MB per batch (about 20,000 events of 200 bytes): decoding it holds the
            # event loop, and with it the stages, for a fraction of a second, not for seconds.
            fetch_max_bytes=MAX_BATCH_BYTES, max_partition_fetch_bytes=1024 * 1024,
            # The embedded broker holds a join for the whole rebalance timeout (as in the Faust app's settings).
            rebalance_timeout_ms=rebalance_ms, session_timeout_ms=max(6000, rebalance_ms + 2000),
            heartbeat_interval_ms=1000,
        )

    async def declare(self, declare: Callable[[], Awaitable[None]]) -> None:
        """Create the source topics if missing, before joining the group (so that it joins once,
        with the partitions there); retried, since no controller may be known yet at start."""
        while True:
            try:
                await declare()
                return
            except Exception:  # noqa: BLE001 - retried; the worker must not crash at start for it
                log.warning("could not declare the source topics yet; trying again", exc_info=True)
                await asyncio.sleep(1.0)

    async def run_forever(self, handle: Callable[[list[ConsumerRecord]], Awaitable[None]],
                          max_delay: float = 30.0, start_reading: asyncio.Event | None = None) -> None:
        """`run`, started again after any failure (the broker gone, a bug in `handle`): a worker
        that stopped reading its sources while its web views still answered would stall unseen.
        Each restart resumes at the committed offsets, so a failed batch is read again."""
        delay = 1.0
        while True:
            handled = self.batches
            try:
                await self.run(handle, start_reading)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged with its traceback, then retried
                if self.batches > handled:
                    delay = 1.0  # it had been working: start again quickly
                log.exception("reading the source topics failed; starting again in %.0f s", delay)
                self.restarts += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)

    async def run(self, handle: Callable[[list[ConsumerRecord]], Awaitable[None]],
                  start_reading: asyncio.Event | None = None) -> None:
        """Batches to `handle` until cancelled; offsets committed after each one `handle` finished.

        The group is joined at once, records are read only once `start_reading` is set: the
        worker starts this alongside Faust's own group join and table recovery, and a join
        takes seconds (the broker holds it while it waits for other members), so the two
        joins overlap instead of adding up.
        """
        await adopt_earlier_offsets(self.cfg)
        consumer = self.consumer = self._make()
        consumer.subscribe(self.cfg.topics, listener=_Assigned(self))
        try:
            await consumer.start()
            if start_reading is not None:
                await start_reading.wait()
            while True:
                batches = await consumer.getmany(timeout_ms=int(self.cfg.batch_within * 1000),
                                                 max_records=MAX_RECORDS)
                now = time.monotonic()
                for tp in batches:
                    self._last_read[tp] = now
                assigned = consumer.assignment()
                self.positions = {tp: await consumer.position(tp) for tp in assigned}
                backlogged = self._backlogged(consumer, assigned, now)
                limit = future_limit(self.cfg.max_future) if batches else None
                if len(batches) == 1 and not self.merge.held and backlogged <= batches.keys():
                    # The usual live case, and a backlog on one partition: nothing to merge with, all of
                    # it may go, in read order (the merge would release every event read: each is at or
                    # below the newest of its lane). Its progress is not noted: a later bound is lower.
                    pieces = [Piece(r, self._decode(r, limit)) for r in next(iter(batches.values()))]
                else:
                    for tp, records in batches.items():
                        self.merge.add(tp, self._decoded(records, limit))
                    pieces = self._pieces(self.merge.release(backlogged))
                if pieces:
                    await handle(pieces)
                    self.batches += 1
                if pieces or batches:
                    await self._commit(consumer)
                self._flow(consumer, assigned, backlogged)
        finally:
            self.consumer = None
            self.ready = False
            self.merge = EventTimeMerge(self._carries)  # held records were not committed: a new run reads them
            self.receipts.drop(self.receipts.partitions())  # nor those evaluated in place and not yet covered
            self._partitions.clear()
            self._keys.clear()
            self._last_read.clear()
            self._paused.clear()
            self._behind.clear()
            self._committed.clear()
            await asyncio.shield(consumer.stop())

    def _decoded(self, records: list[ConsumerRecord], limit: float | None) -> list[tuple[float | None, Any, Any]]:
        """(event time, tenant, (record, piece of its decoding)) for the merge: one item per event, and one
        without a time for a record's dead letters and filtered count (or for a record with no event)."""
        items: list[tuple[float | None, Any, Any]] = []
        for r in records:
            events, letters, filtered = self._decode(r, limit)
            if letters or filtered or not events:
                items.append((None, None, (r, None, letters, filtered)))
            for pair in events:
                ev = pair[1]
                items.append((ev.timestamp, ev.tenant, (r, pair, None, 0)))
        return items

    def _decode(self, r: ConsumerRecord, limit: float | None) -> tuple[list[tuple[int, Event]], list[DeadLetter], int]:
        decoded = decode_message(r.value, r.topic, r.partition, r.offset, self._filters.get(r.topic), limit)
        events = decoded[0]
        if events and self._by_tenant.get(r.topic) is not False:
            self._check_keyed(r, events)
        return decoded

    def _hash(self, tenant: str) -> int:
        h = self._hashes.get(tenant)
        if h is None:
            if len(self._hashes) > 100_000:
                self._hashes.clear()
            h = self._hashes[tenant] = murmur2(tenant.encode()) & 0x7FFFFFFF
        return h

    def _partition_count(self, topic: str) -> int | None:
        n = self._partitions.get(topic)
        if n is None and self.consumer is not None:
            n = len(self.consumer.partitions_for_topic(topic) or ())
            if n:
                self._partitions[topic] = n
        return n or None

    def _check_keyed(self, record: ConsumerRecord, events: list[tuple[int, Event]]) -> None:
        """Is the record's topic still partitioned by tenant? One record that is not makes it not, for good."""
        tenant = events[0][1].tenant
        topic = record.topic
        where = self._keys.get((topic, record.key))  # (tenant, partition) of a key seen before
        if where is not None and where == (tenant, record.partition) and all(ev.tenant == tenant for _, ev in events):
            return
        n = self._partition_count(topic)
        if n is None:
            return  # no metadata yet: not known
        if (record.key == tenant.encode() and self._hash(tenant) % n == record.partition
                and all(ev.tenant == tenant for _, ev in events)):
            self._by_tenant[topic] = True
            if len(self._keys) > 100_000:
                self._keys.clear()
            self._keys[topic, record.key] = (tenant, record.partition)
            return
        self._by_tenant[record.topic] = False
        log.info("source topic %s is not partitioned by tenant (record %s/%s): a backlog on it holds the "
                 "other partitions back by how far it was read, for tenants it has not shown yet",
                 record.topic, record.partition, record.offset)

    def _carries(self, tp: Any, tenant: Any) -> bool | None:
        """Whether `tp` carries `tenant`'s events, if its topic is partitioned by tenant; None: not known."""
        if not self._by_tenant.get(tp.topic) or not isinstance(tenant, str):
            return None
        n = self._partition_count(tp.topic)
        return None if n is None else self._hash(tenant) % n == tp.partition

    @staticmethod
    def _pieces(released: list[tuple[Any, Any]]) -> list[Piece]:
        """Released items, consecutive ones of one record joined into one piece, in the merge's order."""
        pieces: list[Piece] = []
        last = None
        for _, (record, pair, letters, filtered) in released:
            if record is not last:
                piece = Piece(record, ([], [], 0))
                pieces.append(piece)
                last = record
            events, dead, n = piece.decoded
            if pair is not None:
                events.append(pair)
            if letters or filtered:
                piece.decoded = (events, dead + letters, n + filtered)
        return pieces

    def _backlogged(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition], now: float) -> set[Any]:
        """Assigned partitions with records on the broker not read yet (highwater unknown: not fetched
        yet, so perhaps). One that gave nothing for IDLE_AFTER while fetched counts as idle."""
        out = set()
        for tp in assigned:
            high = consumer.highwater(tp)
            if high is not None and self.positions.get(tp, 0) >= high:
                self._last_read.pop(tp, None)  # caught up: its idle time counts from its next backlog
                continue
            since = self._last_read.setdefault(tp, now)
            if tp in self._paused or now - since < IDLE_AFTER:
                out.add(tp)
            elif tp not in self._behind:
                self._behind.add(tp)
                log.warning("source partition %s/%s has a backlog but gave no records for %.0f s: the others "
                            "no longer wait for it, and its events may come late", tp.topic, tp.partition, IDLE_AFTER)
        self._warn_far_behind(out)
        return out

    def _warn_far_behind(self, backlogged: set[Any]) -> None:
        newest = self.merge.front
        if not newest:
            return
        front = max(newest.values())
        for tp in backlogged:
            t = newest.get(tp)
            if t is None or front - t <= FAR_BEHIND:
                if t is not None and tp in self._behind and front - t <= FAR_BEHIND / 2:
                    self._behind.discard(tp)  # caught up: log again if it falls behind again
                continue
            if tp not in self._behind:
                self._behind.add(tp)
                log.warning("source partition %s/%s is %.0f s of event time behind the newest read; the "
                            "other partitions' events are held back until it catches up (%d held)",
                            tp.topic, tp.partition, front - t, self.merge.held)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """Per partition, up to its first record not handed on in full (at least once)."""
        offsets = {}
        held = self.merge.all_heads()
        for tp in consumer.assignment():
            heads = held.get(tp)
            # The position asked afresh: a rebalance during `handle` may have dropped what tp held.
            offset = min(item[0].offset for item in heads) if heads else await consumer.position(tp)
            in_place = self.receipts.first(tp.topic, tp.partition)
            if in_place is not None and in_place < offset:
                offset = in_place
            if self._committed.get(tp) != offset:
                offsets[tp] = offset
        if not offsets:
            return
        try:
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
            self._committed.update(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Partitions moved meanwhile: their new owner reads the batch again, and the
            # tenant stage skips what was already applied by its source positions.
            log.warning("source offsets not committed (%s); the batch will be read again", exc)

    async def commit_now(self) -> None:
        """Commit what is handed on now (before a graceful stop: the final snapshots cover more)."""
        consumer = self.consumer
        if consumer is not None:
            await self._commit(consumer)

    def rewind(self, holds: list[tuple[str, int, int, int]]) -> None:
        """The tenant stage dropped state that in-place records built and no snapshot covers (a
        rebalance unloaded it): their partitions are read again from the first of them (or from
        an earlier record still held in the merge), and the source positions skip what the
        snapshot holds. Held-back events of those partitions are read again too."""
        consumer = self.consumer
        firsts: dict[tuple[str, int], int] = {}
        for topic, partition, offset, epoch in holds:
            tp = (topic, partition)
            if self.receipts.epoch.get(tp, 0) == epoch and offset < firsts.get(tp, offset + 1):
                firsts[tp] = offset
        if consumer is None or not firsts:
            return
        assigned = consumer.assignment()
        heads = self.merge.all_heads()
        for (topic, partition), offset in firsts.items():
            tp = TopicPartition(topic, partition)
            if tp not in assigned:
                continue  # moved to another worker, which reads it from the committed offset
            held = heads.get(tp)
            if held:
                offset = min(offset, *(item[0].offset for item in held))
            self.merge.drop({tp})
            consumer.seek(tp, offset)
            log.info("source partition %s/%s read again from offset %d: state built from it was unloaded "
                     "before a snapshot covered it", topic, partition, offset)
        self.receipts.drop(firsts)

    def _flow(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition], backlogged: set[Any]) -> None:
        """Bound what the merge holds: past MAX_HELD, pause the partitions that hold events and that no
        held tenant waits for (they are ahead); resume below half of it, and at once one that is waited for."""
        merge = self.merge
        self._paused &= assigned
        waited = self._paused & merge.waited_for
        if waited:
            self._resume(consumer, waited)
        if merge.held >= MAX_HELD:
            ahead = {tp for tp in assigned if merge.holding(tp)} - merge.waited_for - self._paused
            if ahead:
                consumer.pause(*ahead)
                self._paused |= ahead
                log.info("%d events held back for partitions behind in event time: %d partitions paused",
                         merge.held, len(self._paused))
        elif self._paused and merge.held < MAX_HELD // 2:
            self._resume(consumer, set(self._paused))

    def _resume(self, consumer: AIOKafkaConsumer, partitions: set[Any]) -> None:
        now = time.monotonic()
        for tp in partitions:
            self._last_read[tp] = now
        consumer.resume(*partitions)
        self._paused -= partitions

    def lag(self) -> list[tuple[str, int, int]]:
        """(topic, partition, records not yet handled) per assigned source partition."""
        consumer = self.consumer
        if consumer is None:
            return []
        out = []
        for tp, position in sorted(self.positions.items()):
            high = consumer.highwater(tp)
            if high is not None:
                out.append((tp.topic, tp.partition, max(0, high - position)))
        return out


class _Assigned(ConsumerRebalanceListener):
    """Marks the source consumer ready once it has joined its group; drops what revoked partitions held."""

    def __init__(self, source: SourceConsumer):
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # What they hold was not committed: their next owner reads it again.
        source = self.source
        source.merge.drop(revoked)
        source.receipts.drop((tp.topic, tp.partition) for tp in revoked)
        for tp in revoked:
            source._last_read.pop(tp, None)
            source._committed.pop(tp, None)
            source._behind.discard(tp)
        source._paused -= set(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.source.ready = True
        self.source._partitions.clear()  # partition counts read afresh: a topic may have grown
        self.source._keys.clear()
