"""Keep every topic the worker produces to in the producer's metadata refreshes.

aiokafka's client refreshes metadata only for the topics in its `_topics` set
(all topics while the set is empty), and each refresh *replaces* the cluster
view. A topic learned from the first, full refresh is never added to the set.
When a topic that did not exist yet is sent to (the late or dead-letter topic
on first use), the set stops being empty and later refreshes drop every
untracked topic. A batch already queued for a dropped topic — engine-in,
matches — then has no leader. The sender refreshes again and again, always for
the same partial set. The flush waits for Faust's producer request timeout
(20 minutes). Measured: with debug logging, 5 of 12 single-worker bursts
stalled this way.

Registering all produced topics up front makes every refresh cover them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import faust

from .compat import producer_client


async def track_produced_topics(app: faust.App, internal: Iterable[faust.TopicT], outputs: Iterable[str]) -> None:
    """Track the internal topics, every table's changelog and `outputs`; wait for one refresh.

    Internal topics are declared first: a metadata request may auto-create a
    topic with the broker's default partition count, and a changelog or
    engine-in topic with the wrong count breaks co-partitioning. (Agents start
    before the table manager declares the changelogs.)
    """
    declared = [*internal, *(table.changelog_topic for table in app.tables.values())]
    for topic in declared:
        await topic.maybe_declare()
    names = {topic.get_topic_name() for topic in declared} | set(outputs)
    await track_topics(producer_client(app), names)  # the client of the AIOKafkaProducer Faust started


async def track_topics(client: Any, names: Iterable[str]) -> None:
    """Add `names` to an aiokafka client's tracked topics; return after the refresh that includes them."""
    pending = [client.add_topic(name) for name in sorted(names)]
    for fut in pending:
        await fut


class TrackedOnce:
    """`await tracked()` before a first send: tracks the produced topics once (the first caller
    starts it, every caller waits for it), shielded from a caller's cancellation."""

    def __init__(self, app: faust.App, internal: Iterable[faust.TopicT], outputs: Iterable[str]):
        self.app, self.internal, self.outputs = app, list(internal), list(outputs)
        self.task: asyncio.Future | None = None

    async def __call__(self) -> None:
        if self.task is None:
            self.task = asyncio.ensure_future(track_produced_topics(self.app, self.internal, self.outputs))
        await asyncio.shield(self.task)
