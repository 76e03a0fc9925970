"""The source topics are read by a plain aiokafka consumer, not a Faust agent.

Ingest keeps no state: it decodes, dead-letters and forwards to engine-in, and a
message forwarded twice is skipped later by its source position (agents/host.py).
So it does not need Faust's per-message machinery (stream events, acks, the
conductor), which caps a Faust agent at a few thousand messages per second, while
producers commonly send one event per message. It has a consumer group of its own,
`<app-id>-ingest`, and commits a batch's offsets only once the batch's forwards are
on the broker (at least once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.errors import CommitFailedError, KafkaError

from .config import WorkerConfig

log = logging.getLogger("goldrush.worker")

MAX_RECORDS = 5000  # per batch: large enough to group many events per tenant, small enough to stay responsive


class SourceConsumer:
    """Reads the source topics in batches; `lag()` for the metrics."""

    def __init__(self, cfg: WorkerConfig):
        self.cfg = cfg
        self.consumer: AIOKafkaConsumer | None = None
        self.positions: dict[Any, int] = {}  # partition → offset of the next record to handle

    def _make(self) -> AIOKafkaConsumer:
        cfg = self.cfg
        rebalance_ms = int(cfg.rebalance_timeout * 1000)
        return AIOKafkaConsumer(
            *cfg.topics, bootstrap_servers=cfg.broker, group_id=f"{cfg.app_id}-ingest",
            client_id=f"{cfg.app_id}-ingest", enable_auto_commit=False, auto_offset_reset="earliest",
            # See agents/fetch_wait.py: the embedded broker answers a parked fetch only when the wait runs out.
            fetch_max_wait_ms=max(1, int(cfg.fetch_wait * 1000)),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            # The embedded broker holds a join for the whole rebalance timeout (as in the Faust app's settings).
            rebalance_timeout_ms=rebalance_ms, session_timeout_ms=max(6000, rebalance_ms + 2000),
            heartbeat_interval_ms=1000,
        )

    async def run(self, handle: Callable[[list[ConsumerRecord]], Awaitable[None]]) -> None:
        """Batches to `handle` until cancelled; offsets committed after each one `handle` finished."""
        consumer = self.consumer = self._make()
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=int(self.cfg.batch_within * 1000),
                                                 max_records=MAX_RECORDS)
                records = [r for part in batches.values() for r in part]
                if records:
                    await handle(records)
                    try:
                        await consumer.commit()
                    except (CommitFailedError, KafkaError) as exc:
                        # Partitions moved meanwhile: their new owner reads the batch again, and the
                        # tenant stage skips what was already applied by its source positions.
                        log.warning("source offsets not committed (%s); the batch will be read again", exc)
                self.positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        finally:
            self.consumer = None
            await asyncio.shield(consumer.stop())

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
