"""aiokafka forgets topics it learned from a full metadata refresh; tracking them keeps them.

This is the mechanism behind the single-worker stall fixed in agents/produced_topics.py:
a batch queued for a forgotten topic waited for a leader for Faust's 20-minute request timeout.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from goldrush.agents.produced_topics import track_topics


async def _known_after_new_topic(bootstrap: str, tag: str, track: bool) -> set[str]:
    old, new = f"old-{tag}", f"new-{tag}"
    setup = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await setup.start()
    try:
        await setup.send_and_wait(old, b"x")  # the topic exists before the producer under test starts
    finally:
        await setup.stop()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.client.force_metadata_update()  # a full refresh: `old` is known, not tracked
        assert old in producer.client.cluster.topics()
        if track:
            await track_topics(producer.client, [old])
        await producer.send_and_wait(new, b"y")  # first use of a new topic: a partial refresh
        await producer.client.force_metadata_update()
        return producer.client.cluster.topics()
    finally:
        await producer.stop()


def test_untracked_topic_is_forgotten_by_a_partial_refresh(broker):
    known = asyncio.run(_known_after_new_topic(broker.bootstrap, "untracked", track=False))
    assert "new-untracked" in known
    assert "old-untracked" not in known  # the upstream behaviour; if this fails, aiokafka fixed it


def test_tracked_topic_survives_a_partial_refresh(broker):
    known = asyncio.run(_known_after_new_topic(broker.bootstrap, "tracked", track=True))
    assert {"new-tracked", "old-tracked"} <= known
