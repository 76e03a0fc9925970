"""The least any worker must do per event, in plain aiokafka: `goldrush bench e2e`'s floor row.

The target compares the worker with a bare consumer, but a worker must also
(1) decode and validate every event, so that bad ones are dead-lettered, and
(2) send every event once through an internal topic keyed by tenant, so that a
tenant's events from every source topic and partition meet on one worker.
These measure those two steps alone — the worker's own decoder, the events'
bytes forwarded, packed per key, and read back — with no Faust, no engine and no
state. No worker on this stack can be faster than them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from goldrush.agents.ingest import decode_message

_NAME = b'"name"'


def count_names(record: Any) -> int:
    """Events in a message without parsing it: the bare consumer's work."""
    return record.value.count(_NAME)


def count_decoded(record: Any) -> int:
    """Events in a message, each decoded and validated as the worker's ingest does."""
    events, dead, filtered = decode_message(record.value, record.topic, record.partition, record.offset)
    return len(events) + len(dead) + filtered


async def consume(bootstrap: str, topic: str, total: int, count: Callable[[Any], int] = count_names,
                  idle: float = 30.0) -> float:
    """Events/s of one consumer reading the whole topic, `count` being its work per message.

    Gives up when nothing arrived for `idle` seconds, rather than wait for ever for events that are not there.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    seen = 0
    t0 = last = time.perf_counter()
    try:
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for r in records:
                    seen += count(r)
            if batch:
                last = time.perf_counter()
            elif time.perf_counter() - last > idle:
                raise RuntimeError(f"{topic}: {seen} of {total} events, then nothing for {idle:g} s")
    finally:
        await consumer.stop()
    return total / (time.perf_counter() - t0)


async def decode_and_forward(bootstrap: str, topic: str, internal: str, total: int, idle: float = 30.0) -> float:
    """Events/s of decoding every message, forwarding its events under its key, and reading them back.

    As the worker does, the events of one key in a fetch travel as one message
    (their bytes joined into one JSON array, not re-encoded).
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20,
                                max_request_size=8 << 20)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await producer.start()
    await consumer.start()
    try:
        t0 = time.perf_counter()
        reader = asyncio.create_task(consume(bootstrap, internal, total, idle=idle))
        seen = 0
        while seen < total:
            by_key: dict[bytes | None, list[bytes]] = {}
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for r in records:
                    seen += count_decoded(r)
                    by_key.setdefault(r.key, []).append(r.value[1:-1] if r.value[:1] == b"[" else r.value)
            sent = [await producer.send(internal, b"[" + b",".join(items) + b"]", key=key)
                    for key, items in by_key.items()]
            await asyncio.gather(*sent)
        await reader
        return total / (time.perf_counter() - t0)
    finally:
        await consumer.stop()
        await producer.stop()
