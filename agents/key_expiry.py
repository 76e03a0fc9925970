"""Letting idle key-stage keys go, so that state follows the live keys, not every key ever seen.

Keys finer than a tenant come and go (a service's pods, a user's sessions). Each
one has a snapshot in `key-state` and a last applied sequence number in memory;
kept forever, both grow with every key ever seen, and so does the time to
recover the changelog.

Now and then the tenant stage sends its progress to every keyed partition, after
the events it covers: (sequence number S, clock W). Events are numbered in time
order, so every event of the tenant numbered above S is at or after W; and a
partition is read in order, so when the key stage reads the progress it has read
every event numbered up to S that went to this partition. Then, for each key of
the tenant in the partition:

- if its state, expired up to W, equals a fresh key's (`KeyStage.forget_idle`),
  the key is forgotten and its snapshot deleted: its later events are evaluated
  exactly as if it had been kept;
- the partition's *floor* for the tenant becomes S and is stored. Anything at or
  below it arriving later is a re-delivery (after a crash or a move), which the
  forgotten key's own last sequence number used to skip.

A key whose last relevant event made its pattern hold keeps its edge (SEMANTICS
§6) and so stays. A tenant that stops sending altogether sends no progress and
keeps its keys, as the tenant stage keeps the tenant.
"""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from goldrush.compiler.keygroups import parse_partition_key
from goldrush.events.codec import unpack

from .snapshot_store import SnapshotStore

INDEX_PER_BATCH = 2000  # restored snapshots indexed per key-stage batch (a key parse each)


def key_partition(table_key: str, partitions: int) -> int:
    """Where a key-stage key lives: the partition Kafka's default partitioner (murmur2 of the key
    bytes, which Faust's producer uses) gives the keyed-topic record whose key is `table_key`.
    Its events are read there, and its snapshot is written to that changelog partition (the
    table's partitions are the topic's)."""
    every = list(range(partitions))
    return DefaultPartitioner()(table_key.encode(), every, every)


def floor_key(tenant: str, partition: int) -> str:
    """A `key-state` key no key snapshot has: theirs are JSON arrays, with no NUL byte."""
    return f"floor\x00{tenant}\x00{partition}"


class KeyIndex:
    """Which keys of each (tenant, partition) have state here, and the floors read so far."""

    def __init__(self, store: SnapshotStore, partitions: int):
        self.store = store  # where the floors are, with the key snapshots
        self.partitions = partitions  # of the keyed topic and the key-state table
        self.keys: dict[tuple[str, int], dict[str, tuple[int, tuple]]] = {}  # → table key → (group, key)
        self.floors: dict[tuple[str, int], int] = {}
        self.unindexed: list[str] | None = None  # restored table keys still to index (None: not listed yet)
        self.forgotten = 0

    def add(self, tenant: str, partition: int, table_key: str, group: int, key: tuple) -> None:
        keys = self.keys.get((tenant, partition))
        if keys is None:
            keys = self.keys[tenant, partition] = {}
        keys[table_key] = (group, key)

    def floor(self, tenant: str, partition: int, table: Any) -> int:
        floor = self.floors.get((tenant, partition))
        if floor is None:
            stored = self.store.read(table, floor_key(tenant, partition))
            floor = self.floors[tenant, partition] = 0 if stored is None else unpack(stored)["floor"]
        return floor

    def index_restored(self, table: Any, limit: int = INDEX_PER_BATCH) -> None:
        """Index keys restored from the changelog, `limit` at a time (after each assignment)."""
        if self.unindexed is None:
            self.unindexed = [k for k in table if "\x00" not in k]
        if not self.unindexed:
            return
        todo = self.unindexed[-limit:]
        del self.unindexed[-limit:]
        for table_key in todo:
            parsed = parse_partition_key(table_key)
            if parsed is not None:
                self.add(parsed[1][0], key_partition(table_key, self.partitions), table_key, *parsed)

    def size(self) -> int:
        return sum(len(keys) for keys in self.keys.values())

    def clear(self) -> None:
        """Partitions moved: everything is read again from the tables."""
        self.keys.clear()
        self.floors.clear()
        self.unindexed = None

