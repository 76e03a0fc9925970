"""The source consumer: a failed batch is read again, and reading goes on."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiokafka import AIOKafkaProducer

from goldrush.agents.config import WorkerConfig
from goldrush.agents.source_consumer import SourceConsumer


def test_a_failed_batch_is_read_again_and_reading_goes_on(fresh_broker):
    cfg = WorkerConfig(broker=fresh_broker.bootstrap, app_id="sc", topics=["sc-in"])
    seen: list[list[bytes]] = []

    async def handle(records) -> None:
        seen.append([r.value for r in records])
        if len(seen) == 1:
            raise RuntimeError("a bug in the handler")

    async def wait_for(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(seen) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def run() -> SourceConsumer:
        producer = AIOKafkaProducer(bootstrap_servers=fresh_broker.bootstrap)
        await producer.start()
        source = SourceConsumer(cfg)
        task = asyncio.ensure_future(source.run_forever(handle))
        try:
            await producer.send_and_wait("sc-in", b"a", partition=0)
            await wait_for(2)
            await producer.send_and_wait("sc-in", b"b", partition=0)
            await wait_for(3)
            assert source.ready
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await producer.stop()
        return source

    source = asyncio.run(run())
    assert seen == [[b"a"], [b"a"], [b"b"]]  # not committed when it failed: read again, then on
    assert source.restarts == 1 and not source.ready


def test_it_joins_at_once_and_reads_only_once_allowed(fresh_broker):
    """The worker joins the ingest group alongside Faust's table recovery (EarlyStartApp in agents/compat.py)
    and reads only after it: forwards before the stages run would wait in engine-in anyway."""
    cfg = WorkerConfig(broker=fresh_broker.bootstrap, app_id="gate", topics=["gate-in"])
    seen: list[bytes] = []

    async def handle(records) -> None:
        seen.extend(r.value for r in records)

    async def run() -> tuple[bool, list[bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=fresh_broker.bootstrap)
        await producer.start()
        await producer.send_and_wait("gate-in", b"early", partition=0)
        source = SourceConsumer(cfg)
        allowed = asyncio.Event()
        task = asyncio.ensure_future(source.run_forever(handle, start_reading=allowed))
        try:
            deadline = time.monotonic() + 60
            while not source.ready and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            joined = source.ready
            await asyncio.sleep(1.0)  # a reader would have handled the record by now
            before = list(seen)
            allowed.set()
            while not seen and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return joined, before
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await producer.stop()

    joined, before = asyncio.run(run())
    assert joined and before == []
    assert seen == [b"early"]
