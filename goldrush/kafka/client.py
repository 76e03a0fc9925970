"""Python API for both ends of goldrush: produce events, consume actions and matches.

    async with EventProducer("localhost:9092", batch=100) as producer:
        await producer.send({"name": "vsm_core.system1.operation", "timestamp": 1.7e9, ...})

    async with ActionConsumer("localhost:9092") as consumer:
        async for record in consumer:      # typed action records (and matches), de-duplicated
            ...
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from goldrush.actions.records import parse_action
from goldrush.events.codec import dumps_bytes, loads
from goldrush.events.envelope import Envelope, Event, decode
from goldrush.events.match import Match
from goldrush.events.topics import ACTIONS, DEFAULT_SOURCE, MATCHES, default_broker


async def started(client: Any) -> None:
    """Start an aiokafka client; one that cannot start is closed again (no "Unclosed" warning
    on top of the error)."""
    try:
        await client.start()
    except BaseException:
        await client.stop()
        raise


class _AsyncClient(ABC):
    """`async with` support for a client with `start()` and `stop()`."""

    @abstractmethod
    async def start(self) -> Self:
        """Connect; returns the client."""

    @abstractmethod
    async def stop(self) -> None:
        """Flush what is pending and disconnect."""

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class EventProducer(_AsyncClient):
    """Validates events and sends them, `batch` events per Kafka message (a JSON array).

    Messages are keyed by tenant, so a tenant's events stay in order in one
    partition; a batch never mixes tenants. Invalid events raise `InvalidEvent`
    before anything is sent. No idempotent or transactional producer: the
    embedded broker has neither, and goldrush de-duplicates by id downstream.
    """

    def __init__(self, bootstrap: str | None = None, *, topic: str = DEFAULT_SOURCE, batch: int = 1,
                 **producer_options: Any):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.bootstrap = bootstrap or default_broker()
        self.topic = topic
        self.batch = batch
        self._options = {"acks": 1, "linger_ms": 5, "max_request_size": 4 * 1024 * 1024, **producer_options}
        self._producer: AIOKafkaProducer | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self.sent_events = 0
        self.sent_messages = 0

    async def start(self) -> EventProducer:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **self._options)
        await started(producer)
        self._producer = producer
        return self

    async def stop(self) -> None:
        if self._producer is not None:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._producer = None

    @staticmethod
    def _envelope(event: dict[str, Any] | Envelope | Event) -> tuple[str, dict[str, Any]]:
        if isinstance(event, Envelope):
            return event.tenant, event.model_dump(exclude_none=True)
        ev = event if isinstance(event, Event) else decode(event, None, True)  # a caller's object: every check
        return ev.tenant, ev.to_dict()

    async def send(self, event: dict[str, Any] | Envelope | Event) -> None:
        tenant, envelope = self._envelope(event)
        pending = self._pending.setdefault(tenant, [])
        pending.append(envelope)
        if len(pending) >= self.batch:
            await self._send_tenant(tenant)

    async def send_many(self, events: Iterable[dict[str, Any] | Envelope | Event]) -> None:
        for event in events:
            await self.send(event)

    async def flush(self) -> None:
        for tenant in list(self._pending):
            await self._send_tenant(tenant)
        if self._producer is not None:
            await self._producer.flush()

    async def _send_tenant(self, tenant: str) -> None:
        events = self._pending.pop(tenant, [])
        if not events:
            return
        if self._producer is None:
            raise RuntimeError("EventProducer is not started: use `async with EventProducer(...)`")
        value = dumps_bytes(events[0] if self.batch == 1 and len(events) == 1 else events)
        await self._producer.send(self.topic, value, key=tenant.encode())
        self.sent_events += len(events)
        self.sent_messages += 1


class NewOnly:
    """For a consumer with no group that starts at the latest records: drops an old record.

    The embedded broker answers "latest" with the offset of a partition's last record, one
    short of the next, so such a consumer got that last old record of every partition
    (`goldrush tail --follow-new` printed 26 of them). The first record read from each
    partition is dropped when it was written before the consumer started; on Apache Kafka that
    record is always new, so nothing is lost there.
    """

    def __init__(self) -> None:
        self.started_ms = int(time.time() * 1000)
        self.seen: set[tuple[str, int]] = set()

    def old(self, topic: str, partition: int, timestamp: int | None) -> bool:
        if (topic, partition) in self.seen:
            return False
        self.seen.add((topic, partition))
        return timestamp is not None and 0 <= timestamp < self.started_ms


class ActionConsumer(_AsyncClient):
    """Async iterator over action records (typed) and matches, de-duplicated by id.

    Delivery from goldrush is at-least-once (a restarted worker may publish an
    action again); ids are deterministic, so remembering the last `remember`
    ids turns that into effectively-once for the consumer. It starts at the records
    published from now on; `from_beginning=True` reads the history too (with a `group_id`,
    a restart resumes where the group stopped).
    """

    def __init__(self, bootstrap: str | None = None, *, topics: Iterable[str] | None = None,
                 group_id: str | None = None, from_beginning: bool = False, remember: int = 100_000,
                 **consumer_options: Any):
        self.bootstrap = bootstrap or default_broker()
        self.topics = tuple(topics) if topics is not None else (*ACTIONS.values(), MATCHES)
        self._options = {"group_id": group_id, "auto_offset_reset": "earliest" if from_beginning else "latest",
                         "enable_auto_commit": group_id is not None, **consumer_options}
        self._consumer: AIOKafkaConsumer | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self.duplicates = 0
        self._new_only = NewOnly() if group_id is None and not from_beginning else None

    async def start(self) -> ActionConsumer:
        consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap, **self._options)
        await started(consumer)
        self._consumer = consumer
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @staticmethod
    def parse(topic: str, value: bytes) -> Any:
        data = loads(value)
        if topic == MATCHES:
            return Match.from_dict(data)
        return parse_action(data)

    def _fresh(self, record: Any) -> bool:
        rid = record.match_id if isinstance(record, Match) else record.action_id
        if rid in self._seen:
            self.duplicates += 1
            return False
        self._seen[rid] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True

    async def __aiter__(self) -> AsyncIterator[Any]:
        if self._consumer is None:
            raise RuntimeError("ActionConsumer is not started: use `async with ActionConsumer(...)`")
        async for msg in self._consumer:
            if self._new_only is not None and self._new_only.old(msg.topic, msg.partition, msg.timestamp):
                continue
            record = self.parse(msg.topic, msg.value)
            if self._fresh(record):
                yield record
