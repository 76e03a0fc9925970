"""Snapshots larger than one Kafka record are stored in pieces and read back whole."""

from __future__ import annotations

import pytest

from goldrush.agents.snapshot_store import HEADER, SnapshotStore
from goldrush.events.codec import pack, unpack


class Table(dict):
    """A table's visible behaviour: keys set and deleted, in order (the changelog)."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, bool]] = []

    def __setitem__(self, key, value):
        self.log.append((key, True))
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.log.append((key, False))
        super().__delitem__(key)


def test_a_snapshot_that_fits_is_stored_as_it_is():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    data = pack({"clock": 1.0})
    store.write(table, "t1", data)
    assert dict(table) == {"t1": data} and store.read(table, "t1") == data


def test_a_large_snapshot_is_written_in_pieces_before_its_header():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    data = pack({"queue": list(range(200))})
    store.write(table, "t1", data)
    assert table["t1"].startswith(HEADER) and len(table) == 1 + (len(data) + 99) // 100
    assert all(len(v) <= 100 for v in table.values())
    assert table.log[-1] == ("t1", True)  # the header last: on recovery it always finds its pieces
    assert unpack(SnapshotStore(piece_bytes=100).read(table, "t1")) == {"queue": list(range(200))}  # a fresh worker


def test_old_pieces_are_deleted_once_replaced():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    big, bigger, small = pack(list(range(150))), pack(list(range(300))), pack([1])
    store.write(table, "t1", big)
    first = set(table) - {"t1"}
    store.write(table, "t1", bigger)
    assert not first & set(table) and store.read(table, "t1") == bigger
    store.write(table, "t1", small)
    assert dict(table) == {"t1": small}
    reader = SnapshotStore(piece_bytes=100)  # another worker, after the partition moved
    assert reader.read(table, "t1") == small
    reader.write(table, "t1", big)
    reader.write(table, "t1", small)
    assert dict(table) == {"t1": small}


def test_a_write_interrupted_before_its_header_is_replaced_by_the_next():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    store.write(table, "t1", pack(list(range(150))))
    # A crash mid-write: generation 2's pieces landed, its header did not.
    orphans = {SnapshotStore.piece_key("t1", 2, i): b"\x00" for i in range(5)}
    table.update(orphans)
    restarted = SnapshotStore(piece_bytes=100)
    assert unpack(restarted.read(table, "t1")) == list(range(150))  # still the last complete snapshot
    restarted.write(table, "t1", pack(list(range(160))))  # generation 2 again: the orphans are overwritten
    assert unpack(SnapshotStore().read(table, "t1")) == list(range(160))
    assert len(table) == 1 + (len(pack(list(range(160)))) + 99) // 100  # generation 1 and extra orphans deleted
    table.update({SnapshotStore.piece_key("t1", 3, i): b"\x00" for i in range(5)})  # interrupted again,
    restarted.write(table, "t1", pack([1]))  # then the state shrank
    assert dict(table) == {"t1": pack([1])}


def test_a_missing_piece_is_an_error_naming_it():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    store.write(table, "t1", pack(list(range(150))))
    del table[SnapshotStore.piece_key("t1", 1, 1)]
    with pytest.raises(LookupError, match=r"snapshot 't1' \(generation 1\) is missing pieces \[1\]"):
        SnapshotStore().read(table, "t1")


def test_other_keys_are_left_alone():
    table, store = Table(), SnapshotStore(piece_bytes=100)
    store.write(table, "t1", pack(list(range(150))))
    store.write(table, "t10", pack([0]))
    store.write(table, "t1", pack([1]))
    assert dict(table) == {"t1": pack([1]), "t10": pack([0])}


def test_remove_deletes_the_header_then_every_piece():
    store, table = SnapshotStore(piece_bytes=10), {}
    store.write(table, "k", bytes(range(35)))
    store.write(table, "other", b"small")
    assert len(table) == 6  # header + 4 pieces + other
    store.remove(table, "k")
    assert table == {"other": b"small"} and store.read(table, "k") is None
    store.remove(table, "never")  # nothing stored: nothing to do
    assert table == {"other": b"small"}
