"""Snapshots of any size in a changelog-backed table: large ones are stored in pieces.

A Kafka record may not exceed the producer's limit (1 MB by default), but one
tenant's state need not fit: a tenant sending 5,000 events/s holds 10,000 of them
in its 2 s reorder buffer, a 1.5 MB snapshot, and the refused write crashed the
worker again after every restart. A snapshot above `PIECE_BYTES` is cut into
pieces stored under their own keys, then a small header under the snapshot's
key names them. All of them go to one changelog partition, in that order, so a
header read back after a crash always finds its pieces. The previous write's
pieces are deleted once the new header is written; a write interrupted before
its header leaves pieces that the next write of the same generation replaces.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from goldrush.events.codec import pack, unpack

from .table_keys import legacy_piece_key, piece_key

PIECE_BYTES = 900_000
HEADER = b"\xc1"  # a byte MessagePack never writes (and JSON never starts with): marks a header


class SnapshotStore:
    """Reads and writes one table's snapshots, remembering which keys are stored in pieces."""

    def __init__(self, piece_bytes: int = PIECE_BYTES):
        self.piece_bytes = piece_bytes
        # key → (generation, number of pieces, how they are named) as last read or written
        self.pieces: dict[str, tuple[int, int, Callable[[str, int, int], str]]] = {}

    piece_key = staticmethod(piece_key)

    def read(self, table: MutableMapping[str, bytes], key: str) -> bytes | None:
        """The snapshot stored under `key`, put together again if it is in pieces."""
        stored = table.get(key)
        if stored is None or not stored.startswith(HEADER):
            self.pieces.pop(key, None)
            return stored
        generation, count, *tagged = unpack(stored[len(HEADER):])
        name = piece_key if tagged else legacy_piece_key  # a header of two items predates tagged keys
        parts = [table.get(name(key, generation, i)) for i in range(count)]
        missing = [i for i, part in enumerate(parts) if part is None]
        if missing:
            raise LookupError(f"snapshot {key!r} (generation {generation}) is missing pieces {missing} of {count}")
        self.pieces[key] = (generation, count, name)
        return b"".join(parts)  # type: ignore[arg-type]

    def write(self, table: MutableMapping[str, bytes], key: str, data: bytes) -> None:
        """Store `data` under `key`: as it is when it fits in one record, else in pieces."""
        previous = self.pieces.get(key)
        generation = 1 if previous is None else previous[0] + 1
        if len(data) <= self.piece_bytes:
            table[key] = data
            self.pieces.pop(key, None)
            count = 0
        else:
            step = self.piece_bytes
            count = (len(data) + step - 1) // step
            for i in range(count):
                table[self.piece_key(key, generation, i)] = data[i * step:(i + 1) * step]
            table[key] = HEADER + pack([generation, count, 1])
            self.pieces[key] = (generation, count, piece_key)
        if previous is not None:
            self._delete(table, key, previous[0], 0, previous[1], previous[2])
        self._delete(table, key, generation, count)  # left by a write interrupted before its header

    def _delete(self, table: MutableMapping[str, bytes], key: str, generation: int, start: int,
                stop: int | None = None, name: Callable[[str, int, int], str] = piece_key) -> None:
        """Delete pieces `start`..`stop` − 1 of a generation (with no `stop`: as long as there are any)."""
        i = start
        while i != stop:
            piece = name(key, generation, i)
            if stop is None and piece not in table:
                return
            del table[piece]
            i += 1

    def remove(self, table: MutableMapping[str, bytes], key: str) -> None:
        """Delete the snapshot under `key`, pieces and all.

        The header goes first: a crash in between leaves unread pieces, never a header
        whose pieces are gone (which would fail every later read of the key).
        """
        stored = table.get(key)
        self.pieces.pop(key, None)
        if stored is None:
            return
        del table[key]
        if stored.startswith(HEADER):
            generation, count, *tagged = unpack(stored[len(HEADER):])
            self._delete(table, key, generation, 0, count, piece_key if tagged else legacy_piece_key)

    def forget(self) -> None:
        """Partitions moved: what another worker wrote since is read again on the next load."""
        self.pieces.clear()

