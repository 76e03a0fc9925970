"""Cutting internal messages to size, and dead letters for events already forwarded.

The message types are in agents/messages.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goldrush.events.codec import dumps_bytes, from_row

from .ingest import DeadLetter
from .messages import EngineIn

FORWARD_CHUNK = 200  # events per internal message at most
MAX_INTERNAL_BYTES = 900_000  # and bytes: the producer's (and Kafka's default) limit is 1 MB

Sourced = tuple[list, str, int, int, int]  # (row, topic, partition, offset, index in the message)


def packed_chunks(items: list, make: Callable[[list], Any]) -> list[tuple[list, bytes]]:
    """(chunk, `make(chunk).to_bytes()`) for chunks of at most FORWARD_CHUNK items, a chunk split in
    halves while its message would pass MAX_INTERNAL_BYTES (large events are few but real:
    two 600 kB events of one tenant in one batch must not make a 1.2 MB message that the
    producer refuses, which crashes the worker on every retry). A single item may still pass it."""
    pending = [items[i:i + FORWARD_CHUNK] for i in range(0, len(items), FORWARD_CHUNK)][::-1]
    out = []
    while pending:
        chunk = pending.pop()
        data = make(chunk).to_bytes()
        if len(data) > MAX_INTERNAL_BYTES and len(chunk) > 1:
            half = len(chunk) // 2
            pending += [chunk[half:], chunk[:half]]
            continue
        out.append((chunk, data))
    return out


def engine_in_message(items: list[Sourced]) -> EngineIn:
    """One engine-in message for a tenant's events, in order."""
    return EngineIn([item[0] for item in items], runs_of(items))


def runs_of(items: list[Sourced]) -> list[list]:
    """Engine-in's `runs` (agents/messages.py) for items in order: one per source record."""
    runs: list[list] = []
    last = None
    for _, topic, partition, offset, index in items:
        where = (topic, partition, offset)
        if where != last:
            runs.append([topic, partition, offset, []])
            last = where
        runs[-1][3].append(index)
    return runs


def dead_row(reason: str, code: str, tenant: str, row: list, topic: str, partition: int, offset: int,
             index: int) -> bytes:
    """A dead-letter record for an event that was already forwarded as a row (its envelope as the original)."""
    envelope = dumps_bytes(from_row(tenant, row).to_dict())
    return dumps_bytes(DeadLetter(reason, code, topic, partition, offset, index, envelope).to_dict())
