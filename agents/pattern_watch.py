"""A worker following the goldrush.patterns topic (goldrush/kafka/pattern_store.py).

At start, `initial_set` reads the topic: the worker runs the newest version that compiles (the
built-ins when nothing was pushed). While it runs, `PatternWatch.run` reads new versions; each is
compiled and swapped in by `EngineHost.adopt` (agents/pattern_set.py) between two batches: the
stages' `handle` is synchronous, so the swap, done in this task, always falls between batches.
A set that does not compile is rejected: logged, counted in /metrics, written to
goldrush.patterns.rejected; the old set keeps running. Records whose version is not above every
version read before them lost a concurrent push and are skipped (goldrush/kafka/pattern_store.py). Every worker of a
group reads the same records and compiles them the same way, so all converge on one version.
The switches the host records go to goldrush.patterns.applied for `replay --pattern-history`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from goldrush.compiler.keygroups import Layout
from goldrush.compiler.pattern_sets import PatternSetRejected, compile_set
from goldrush.dsl import Pattern
from goldrush.kafka.pattern_store import (
    APPLIED_TOPIC,
    PATTERNS_TOPIC,
    REJECTED_TOPIC,
    PatternStore,
    read_from,
    record_layout,
    version_key,
    winning,
)

from .config import WorkerConfig
from .metrics import Metrics

log = logging.getLogger("goldrush.worker")

POLL = 0.5  # seconds a read of the patterns topic waits for new records
EARLIER_KEPT = 5  # earlier versions a starting worker compiles for the key stage's in-flight messages


async def initial_set(cfg: WorkerConfig) -> tuple[list[Pattern] | None, int | None, int, Layout | None]:
    """(patterns, version, offset to follow from, its key groups' layout): the newest version that
    compiles; (None, None, …, None) when the topic holds none (the worker runs `cfg.patterns`, by
    default the built-ins).

    A newer version that does not compile is written to goldrush.patterns.rejected, as the pattern
    watch does with one pushed while the worker runs, unless it is there already: every worker of
    the group, and every restart, meets the same version, and one record says it all."""
    async with PatternStore(cfg.broker) as store:  # creates the topics if missing
        records, offset = await read_from(cfg.broker, PATTERNS_TOPIC, 0, timeout=30.0)
        for record in reversed(winning(records.values())):
            try:
                return compile_set(record["patterns"]), record["version"], offset, record_layout(record)
            except PatternSetRejected as exc:
                log.error("pattern-set version %s does not compile, trying the one before: %s",
                          record["version"], exc)
                rejected, _ = await read_from(cfg.broker, REJECTED_TOPIC, 0, timeout=30.0)
                if version_key(record["version"]) not in rejected:
                    await store.reject(record["version"], str(exc), worker_name(cfg))
    return None, None, offset, None


async def recorded_history(cfg: WorkerConfig, version: int | None, offset: int
                           ) -> tuple[list[tuple[int, list[Pattern], Layout | None]], list[dict[str, Any]]]:
    """Before the stages start: the earlier versions a restarted worker may still need, compiled, and
    the switches recorded on goldrush.patterns.applied. A tenant restored from a snapshot older
    than its recorded switch resumes under its snapshot's version until that switch point
    (agents/tenant_versions.py); it needs both before its first message is read."""
    if version is None:
        return [], []
    records, _ = await read_from(cfg.broker, PATTERNS_TOPIC, 0, timeout=30.0, stop=offset)
    applied, _ = await read_from(cfg.broker, APPLIED_TOPIC, 0, timeout=30.0)
    return earlier_versions(winning(records.values()), version), list(applied.values())


def earlier_versions(valid: list[dict[str, Any]], running: int) -> list[tuple[int, list[Pattern], Layout | None]]:
    """The last EARLIER_KEPT versions below `running` that compile, with their layouts."""
    out = []
    for record in [r for r in valid if r["version"] < running][-EARLIER_KEPT:]:
        try:
            out.append((record["version"], compile_set(record["patterns"]), record_layout(record)))
        except PatternSetRejected:
            continue
    return out


def worker_name(cfg: WorkerConfig) -> str:
    return f"{socket.gethostname()}:{cfg.web_port}"


class PatternWatch:
    def __init__(self, cfg: WorkerConfig, host: Any, metrics: Metrics, offset: int):
        self.cfg, self.host, self.metrics, self.offset = cfg, host, metrics, offset
        self.worker = worker_name(cfg)
        self.refused: set[int] = set()
        self.top: int | None = None  # the highest version read so far: a record at or below it lost a race
        # Until `read_earlier` ran, keyed messages of an unknown earlier version wait (agents/key_versions.py).
        host.key_versions.complete = False

    async def read_earlier(self) -> None:
        """The versions before `self.offset`: the highest (records after it must be above it), and the
        last EARLIER_KEPT that compile below the running one, for keyed messages still in flight from
        before a restart (agents/key_versions.py)."""
        records, _ = await read_from(self.cfg.broker, PATTERNS_TOPIC, 0, timeout=30.0, stop=self.offset)
        valid = winning(records.values())
        if valid:
            self.top = valid[-1]["version"]
        running = self.host.version
        if running is not None:
            for version, patterns, layout in earlier_versions(valid, running):
                self.host.remember(version, patterns, layout)
        self.host.key_versions.complete = True

    def apply(self, record: dict[str, Any]) -> str | None:
        """Swap in `record`'s set now; the reason it was rejected, if it was."""
        version = record["version"]
        try:
            counts = self.host.adopt(compile_set(record["patterns"]), version, record_layout(record))
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
        if not self.host.key_versions.complete:
            await self.read_earlier()
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
                    if record is None or (self.top is not None and record["version"] <= self.top):
                        continue  # lost its number to an earlier record (goldrush/kafka/pattern_store.py)
                    self.top = record["version"]
                    current = self.host.version
                    if ((current is None or record["version"] > current) and record["version"] not in self.refused
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
