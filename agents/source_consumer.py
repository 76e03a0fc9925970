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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from .config import WorkerConfig

log = logging.getLogger("goldrush.worker")

MAX_RECORDS = 5000  # per batch: large enough to group many events per tenant, small enough to stay responsive
MAX_BATCH_BYTES = 4 * 1024 * 1024


class SourceConsumer:
    """Reads the source topics in batches; `lag()` for the metrics."""

    def __init__(self, cfg: WorkerConfig):
        self.cfg = cfg
        self.consumer: AIOKafkaConsumer | None = None
        self.positions: dict[Any, int] = {}  # partition → offset of the next record to handle
        self.ready = False  # the group gave this consumer its partitions (possibly none) at least once
        self.batches = 0  # handled
        self.restarts = 0  # by `run_forever`, after a failure

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
        await self._adopt_earlier_offsets()
        consumer = self.consumer = self._make()
        consumer.subscribe(self.cfg.topics, listener=_Assigned(self))
        try:
            await consumer.start()
            if start_reading is not None:
                await start_reading.wait()
            while True:
                batches = await consumer.getmany(timeout_ms=int(self.cfg.batch_within * 1000),
                                                 max_records=MAX_RECORDS)
                records = [r for part in batches.values() for r in part]
                if records:
                    await handle(records)
                    self.batches += 1
                    try:
                        await consumer.commit()
                    except (CommitFailedError, KafkaError) as exc:
                        # Partitions moved meanwhile: their new owner reads the batch again, and the
                        # tenant stage skips what was already applied by its source positions.
                        log.warning("source offsets not committed (%s); the batch will be read again", exc)
                self.positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        finally:
            self.consumer = None
            self.ready = False
            await asyncio.shield(consumer.stop())

    async def _adopt_earlier_offsets(self) -> None:
        """Source partitions the ingest group never committed get the offsets of the group `<app-id>`.

        Done before joining, by committing for the ingest group: a rebalance listener
        seeks too late (aiokafka has fetched from the reset position by then).
        """
        cfg = self.cfg
        ingest = AIOKafkaConsumer(bootstrap_servers=cfg.broker, group_id=f"{cfg.app_id}-ingest",
                                  enable_auto_commit=False)
        earlier = AIOKafkaConsumer(bootstrap_servers=cfg.broker, group_id=cfg.app_id, enable_auto_commit=False)
        try:
            await ingest.start()
            await earlier.start()
            existing = await ingest.topics()  # only topics that exist: a metadata request may create one
            partitions = [TopicPartition(t, p) for t in cfg.topics if t in existing
                          for p in sorted(ingest.partitions_for_topic(t) or ())]
            if not partitions:
                return
            ingest.assign(partitions)
            earlier.assign(partitions)
            adopt = {}
            for tp in partitions:
                if await ingest.committed(tp) is None:
                    offset = await earlier.committed(tp)
                    if offset is not None:
                        adopt[tp] = OffsetAndMetadata(offset, "")
            if adopt:
                await ingest.commit(adopt)
                log.info("source partitions %s start where group %s stopped",
                         {f"{tp.topic}/{tp.partition}": o.offset for tp, o in adopt.items()}, cfg.app_id)
        except KafkaError as exc:  # e.g. members of the new group already committing: they have offsets
            log.warning("could not take over group %s's source offsets (%s)", cfg.app_id, exc)
        finally:
            await ingest.stop()
            await earlier.stop()

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
    """Marks the source consumer ready once it has joined its group."""

    def __init__(self, source: SourceConsumer):
        self.source = source

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.source.ready = True
