"""The messages the stages send each other: built here, read back by `EngineHost`.

engine-in (one tenant): `{"rows": [...], "runs": [[topic, partition, offset, [index, ...]], ...]}`.
Rows are `goldrush.events.codec` rows; each run says which source message the next
`len(indexes)` rows came from, and where in it, so a restarted worker can skip
what it applied before (source positions). One run per source message instead
of one position per event: most events of a batched message share it.
keyed (one key of one group): `{"key_by", "key", "events": [[seq, row], ...]}`.
verdicts (one tenant, one group): `{"tenant", "key_by", "done": [[seq, [match dicts]], ...]}`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from goldrush.events.codec import dumps_bytes, from_row, pack

from .ingest import DeadLetter

FORWARD_CHUNK = 200  # events per internal message at most
MAX_INTERNAL_BYTES = 900_000  # and bytes: the producer's (and Kafka's default) limit is 1 MB

Sourced = tuple[list, str, int, int, int]  # (row, topic, partition, offset, index in the message)


def packed_chunks(items: list, make: Callable[[list], Any]) -> list[tuple[list, bytes]]:
    """(chunk, `pack(make(chunk))`) for chunks of at most FORWARD_CHUNK items, a chunk split in
    halves while its message would pass MAX_INTERNAL_BYTES (large events are few but real:
    two 600 kB events of one tenant in one batch must not make a 1.2 MB message that the
    producer refuses, which crashes the worker on every retry). A single item may still pass it."""
    pending = [items[i:i + FORWARD_CHUNK] for i in range(0, len(items), FORWARD_CHUNK)][::-1]
    out = []
    while pending:
        chunk = pending.pop()
        data = pack(make(chunk))
        if len(data) > MAX_INTERNAL_BYTES and len(chunk) > 1:
            half = len(chunk) // 2
            pending += [chunk[half:], chunk[:half]]
            continue
        out.append((chunk, data))
    return out


def engine_in_message(items: list[Sourced]) -> dict[str, Any]:
    """One engine-in message for a tenant's events, in order."""
    runs: list[list] = []
    last = None
    for _, topic, partition, offset, index in items:
        where = (topic, partition, offset)
        if where != last:
            runs.append([topic, partition, offset, []])
            last = where
        runs[-1][3].append(index)
    return {"rows": [item[0] for item in items], "runs": runs}


def keyed_message(key_by: tuple[str, ...], key: Any, events: list[list]) -> dict[str, Any]:
    """One keyed message: `events` are `[seq, row]`."""
    return {"key_by": key_by, "key": key, "events": events}


def progress_message(tenant: str, seq: int, clock: float) -> dict[str, Any]:
    """The tenant stage's progress, to every keyed partition (agents/key_expiry.py). Shaped
    like a keyed message without events, which versions before it answer with nothing."""
    return {"key_by": [], "key": [tenant], "events": [], "progress": [seq, clock]}


def verdict_message(tenant: str, key_by: Any, done: list[list]) -> dict[str, Any]:
    """One verdicts message: per event `[seq, [match dicts]]` (see `KeyStage.apply`)."""
    return {"tenant": tenant, "key_by": key_by, "done": done}


def dead_row(reason: str, code: str, tenant: str, row: list, topic: str, partition: int, offset: int,
             index: int) -> bytes:
    """A dead-letter record for an event that was already forwarded as a row (its envelope as the original)."""
    envelope = dumps_bytes(from_row(tenant, row).to_dict())
    return dumps_bytes(DeadLetter(reason, code, topic, partition, offset, index, envelope).to_dict())
