"""What one batch of a stage produced, to be published in this order by agents/publisher.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from goldrush.events.envelope import Event
from goldrush.events.match import Match


class Message(Protocol):
    topic: str
    partition: int
    offset: int


class StreamRecord(Protocol):
    """What a stage reads of a stream event: a Faust event, or `agents.local_run.Record` in tests."""

    key: Any
    value: bytes
    message: Message


def record_key(record: StreamRecord) -> str:
    key = record.key
    return key.decode() if isinstance(key, bytes) else str(key)


class Outcome:
    """Everything one batch produced, taken synchronously right after the engine ran.

    A rebalance can unload tenants at any `await`; snapshots taken later would be
    of unloaded (empty) state and would overwrite good state in the changelog.
    """

    __slots__ = ("dead", "engine_in", "barriers", "in_place", "matches", "actions", "late", "forwards", "progress", "verdicts",
                 "snapshots", "acks", "counts", "tenants", "since", "after")

    def __init__(self) -> None:
        self.dead: list[tuple[bytes | None, bytes]] = []  # (key, value) for the dead-letter topic
        self.engine_in: list[tuple[bytes, bytes]] = []  # (tenant, value) for engine-in (ingest)
        self.barriers: list[tuple[int, bytes]] = []  # (partition, value) for engine-in, after its forwards
        self.in_place: list[Any] = []  # ingest's `InPlaceInput`s, for the tenant stage (agents/in_place.py)
        self.matches: list[Match] = []
        self.actions: list = []
        self.late: list[Event] = []
        self.forwards: list[tuple[bytes, bytes]] = []  # (key, value) for the keyed topic
        self.progress: list[tuple[int, bytes]] = []  # (partition, value) for the keyed topic, after the forwards
        self.verdicts: list[tuple[bytes, bytes]] = []  # (key, value) for the verdicts topic
        # (table, key, stream event, snapshot), in order; a snapshot of None deletes the key's
        self.snapshots: list[tuple[Any, str, Any, dict | None]] = []
        self.acks: list[Any] = []  # input records to commit once this outcome is published
        self.counts: Counter = Counter()  # ("events"|"matches", tenant, name) → n, for the rate tables
        # tenant → its last stream record, for the tenants whose state this outcome advanced: they are
        # not unloaded before it is published, and their rates go to that record's changelog partition
        self.tenants: dict[str, Any] = {}
        self.since: float | None = None  # when the batch's earliest input record was written (detection latency)
        self.after: list[Callable[[], None]] = []  # called once this outcome is published

    def count_matches(self) -> None:
        for m in self.matches:
            self.counts["matches", m.tenant, m.pattern] += 1
