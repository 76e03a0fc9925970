"""A restarted worker releases a quiet tenant's buffered events without waiting for its next one.

A tenant's last events wait in its reorder buffer until it has been quiet for the
lateness (SEMANTICS §4); the idle flush releases them. A worker stopped in that
window (a deploy, a crash) keeps them in the tenant's snapshot, but tenants are
loaded when their messages arrive, and a quiet tenant sends none: its last
events, often the end of a failure cascade, waited for its next event, maybe forever.

So the tenant-state table also marks which tenants hold buffered events (a small
entry per tenant, written only when that changes). Once a worker has recovered its
partitions, it loads the marked tenants of the partitions it was given, and the
idle flush releases their events as it would have before the stop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from goldrush.engine.reorder import ReorderBuffer
from goldrush.events.codec import unpack

from .table_keys import mark_key, marked_tenant


class _Message:
    __slots__ = ("topic", "partition")

    def __init__(self, topic: str, partition: int):
        self.topic, self.partition = topic, partition


class StandIn:
    """What the table writes of a tenant loaded without a message of its own need from a stream
    event: Faust puts a table entry in the changelog partition of the current event's message."""

    def __init__(self, topic: str, partition: int):
        self.message = _Message(topic, partition)


class BufferMarks:
    """Which loaded tenants are marked in the table as holding buffered events."""

    def __init__(self) -> None:
        self.marked: set[str] = set()

    def loaded(self, tenant: str, table: Mapping[str, Any]) -> None:
        if mark_key(tenant) in table:
            self.marked.add(tenant)

    def changes(self, tenants: Mapping[str, Any], buffer: ReorderBuffer | Any
                ) -> list[tuple[str, Any, dict[str, int] | None]]:
        """(table key, stream event, value or None to delete) for the tenants whose mark changed.
        `buffer`: anything with `holds(tenant)`, e.g. the host (a tenant held back on an earlier
        pattern-set version has its buffer in that version's stage)."""
        out = []
        for tenant, stream_event in tenants.items():
            holds = buffer.holds(tenant)
            if holds == (tenant in self.marked):
                continue
            if holds:
                self.marked.add(tenant)
                out.append((mark_key(tenant), stream_event, {"partition": stream_event.message.partition}))
            else:
                self.marked.discard(tenant)
                out.append((mark_key(tenant), stream_event, None))
        return out

    def clear(self) -> None:
        self.marked.clear()


def marked_tenants(keys: Iterable[Any], partition_of: Any, assigned: set[int]) -> list[tuple[str, int]]:
    """(tenant, partition) of the marks among `keys` in the partitions this worker was given.

    `partition_of(key)` reads a mark's partition (None for an entry that is no mark: a tenant
    snapshot written under its bare name before keys were tagged may look like one). A memory
    store keeps the keys of partitions that moved away, so the assignment decides, not the table."""
    out = []
    for key in keys:
        tenant = marked_tenant(key)
        if tenant is not None:
            partition = partition_of(key)
            if partition is not None and partition in assigned:
                out.append((tenant, partition))
    return out


def mark_partition(stored: Any) -> int | None:
    """The partition a mark's stored value names, or None if the value is not a mark."""
    try:
        value = unpack(stored)
    except Exception:  # noqa: BLE001 - not a mark (e.g. a legacy snapshot's piece header): skipped
        return None
    if type(value) is dict:
        partition = value.get("partition")
        if type(partition) is int:
            return partition
    return None
