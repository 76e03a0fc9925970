"""A worker following the goldrush.patterns topic (goldrush/kafka/pattern_store.py).

At start, `initial_set` reads the topic: the worker runs the newest version that compiles (the
built-ins when nothing was pushed). While it runs, `PatternWatch.run` reads new versions; each is
compiled and swapped in by `EngineHost.adopt` (agents/pattern_set.py) between two batches: the
stages' `handle` is synchronous, so the swap, done in this task, always falls between batches.
A set that does not compile, or that cannot be swapped live, is rejected: logged, counted in
/metrics, written to goldrush.patterns.rejected; the old set keeps running. Every worker of a
group reads the same records and compiles them the same way, so all converge on one version.
The switches the host records go to goldrush.patterns.applied for `replay --pattern-history`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from goldrush.compiler.pattern_sets import PatternSetRejected, compile_set
from goldrush.dsl import Pattern
from goldrush.kafka.pattern_store import PATTERNS_TOPIC, PatternStore, read_from

from .config import WorkerConfig
from .metrics import Metrics

log = logging.getLogger("goldrush.worker")

POLL = 0.5  # seconds a read of the patterns topic waits for new records


async def initial_set(cfg: WorkerConfig) -> tuple[list[Pattern] | None, int | None, int]:
    """(patterns, version, offset to follow from): the newest version that compiles; (None, None, …)
    when the topic holds none (the worker runs `cfg.patterns`, by default the built-ins)."""
    async with PatternStore(cfg.broker):  # creates the topics if missing
        pass
    records, offset = await read_from(cfg.broker, PATTERNS_TOPIC, 0, timeout=30.0)
    for record in sorted(records.values(), key=lambda r: r["version"], reverse=True):
        try:
            return compile_set(record["patterns"]), record["version"], offset
        except PatternSetRejected as exc:
            log.error("pattern-set version %s does not compile, trying the one before: %s", record["version"], exc)
    return None, None, offset


class PatternWatch:
    def __init__(self, cfg: WorkerConfig, host: Any, metrics: Metrics, offset: int):
        self.cfg, self.host, self.metrics, self.offset = cfg, host, metrics, offset
        self.worker = f"{socket.gethostname()}:{cfg.web_port}"
        self.refused: set[int] = set()

    def apply(self, record: dict[str, Any]) -> str | None:
        """Swap in `record`'s set now; the reason it was rejected, if it was."""
        version = record["version"]
        try:
            counts = self.host.adopt(compile_set(record["patterns"]), version)
        except PatternSetRejected as exc:
            self.refused.add(version)
            self.metrics.inc("goldrush_pattern_sets_rejected_total")
            log.error("pattern-set version %s rejected, version %s keeps running: %s", version, self.host.version, exc)
            return str(exc)
        self.metrics.inc("goldrush_pattern_set_switches_total")
        self.metrics.inc("goldrush_patterns_started_fresh_total", counts["fresh"])
        log.warning("pattern-set version %s running (%s): %d patterns kept their state, %d start fresh, %d removed",
                    version, record.get("message") or "no message", counts["kept"], counts["fresh"], counts["removed"])
        return None

    async def run_forever(self) -> None:
        """`run`, started again after any failure: the engine keeps running on the set it has."""
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged with its traceback, then retried
                log.exception("reading goldrush.patterns failed; trying again in 5 s")
                await asyncio.sleep(5.0)

    async def run(self) -> None:
        store = await PatternStore(self.cfg.broker).start()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.cfg.broker, enable_auto_commit=False, group_id=None)
        await consumer.start()
        tp = TopicPartition(PATTERNS_TOPIC, 0)
        try:
            consumer.assign([tp])
            consumer.seek(tp, self.offset)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=int(POLL * 1000))
                newest = None
                for r in batch.get(tp, []):
                    if r.value is None:
                        continue
                    record = store_record(r.value)
                    current = self.host.version
                    if (record is not None and (current is None or record["version"] > current)
                            and record["version"] not in self.refused
                            and (newest is None or record["version"] > newest["version"])):
                        newest = record
                if newest is not None:
                    error = self.apply(newest)  # synchronous: between two batches
                    if error is not None:
                        await store.reject(newest["version"], error, self.worker)
                if self.host.switches:
                    switches, self.host.switches = self.host.switches, []
                    await store.record_switches(switches)
                if not batch:
                    await asyncio.sleep(0)
        finally:
            await consumer.stop()
            await store.stop()


def store_record(value: bytes) -> dict[str, Any] | None:
    from goldrush.events.codec import loads

    try:
        record = loads(value)
    except ValueError:
        log.error("an unreadable record on %s was skipped", PATTERNS_TOPIC)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("version"), int):
        log.error("a record on %s without a version was skipped", PATTERNS_TOPIC)
        return None
    return record
