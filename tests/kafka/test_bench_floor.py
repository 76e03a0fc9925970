"""The bench's floor row must do the work it claims: every event decoded, and forwarded once."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from goldrush.bench.e2e import _prepare
from goldrush.bench.floor import consume, count_decoded, decode_and_forward
from goldrush.events.codec import loads
from goldrush.simulator import simulate


async def _read_all(bootstrap: str, topic: str, messages: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    out: list[bytes] = []
    try:
        while len(out) < messages:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += [r.value for r in records]
    finally:
        await consumer.stop()
    return out


def test_the_floor_decodes_and_forwards_every_event_once_packed_per_key(broker):
    events = list(simulate("cascade", tenants=3, rate=50, duration=6, seed=5))
    messages = asyncio.run(_prepare(broker.bootstrap, "floor-src", events, 7))
    assert messages > len(events) // 7

    assert asyncio.run(consume(broker.bootstrap, "floor-src", len(events), count_decoded)) > 0
    assert asyncio.run(decode_and_forward(broker.bootstrap, "floor-src", "floor-internal", len(events), idle=10)) > 0

    # The forwarded messages are fewer (packed per key) and hold exactly the events sent.
    async def count_messages() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic("floor-internal") or set()
            tps = [TopicPartition("floor-internal", p) for p in parts]
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    forwarded = asyncio.run(count_messages())
    assert 0 < forwarded < messages
    got = [ev for value in asyncio.run(_read_all(broker.bootstrap, "floor-internal", forwarded)) for ev in loads(value)]
    assert sorted(map(_canonical, got)) == sorted(map(_canonical, events))


def _canonical(event: dict) -> str:
    return json.dumps(event, sort_keys=True)
