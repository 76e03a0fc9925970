"""State-table keys: no tenant name can spell another entry's key (agents/table_keys.py)."""

from __future__ import annotations

from goldrush.agents.config import WorkerConfig
from goldrush.agents.host import EngineHost
from goldrush.agents.quiet_flush import mark_partition, marked_tenants
from goldrush.agents.snapshot_store import SnapshotStore
from goldrush.agents.table_keys import mark_key, piece_key, tenant_key
from goldrush.events.codec import pack
from goldrush.events.envelope import decode

HOSTILE = ["ghost", "buffered\x00ghost", "tenant\x00ghost", "piece\x005\x00ghost\x001\x000", "ghost\x001\x000", ""]


def test_keys_of_different_kinds_or_tenants_never_collide():
    keys = [tenant_key(t) for t in HOSTILE] + [mark_key(t) for t in HOSTILE]
    keys += [piece_key(tenant_key(t), g, i) for t in HOSTILE for g in (1, 2) for i in (0, 1)]
    assert len(set(keys)) == len(keys)


def test_a_tenant_named_like_a_mark_does_not_break_the_scan_of_marks():
    """A snapshot stored under the bare name "buffered\\x00ghost" (before keys were tagged) read
    as the mark of "ghost", and `load_marked_tenants` crashed every start with KeyError('partition')."""
    host = EngineHost(WorkerConfig(broker="unused:9092"))
    host.ensure_loaded("buffered\x00ghost", {})
    legacy = {"buffered\x00ghost": pack(host.snapshot("buffered\x00ghost")),
              "buffered\x00pieced": b"\xc1" + pack([1, 3]),  # a legacy piece header: not msgpack data
              mark_key("real"): pack({"partition": 1})}
    found = marked_tenants(legacy, lambda key: mark_partition(legacy[key]), {0, 1})
    assert found == [("real", 1)]


def test_a_snapshot_in_pieces_is_read_back_whatever_the_tenant_name():
    table: dict = {}
    store = SnapshotStore(piece_bytes=10)
    for i, tenant in enumerate(HOSTILE):
        store.write(table, tenant_key(tenant), bytes([i]) * 35)
    reader = SnapshotStore(piece_bytes=10)
    for i, tenant in enumerate(HOSTILE):
        assert reader.read(table, tenant_key(tenant)) == bytes([i]) * 35
    for tenant in HOSTILE:
        reader.remove(table, tenant_key(tenant))
    assert table == {}


def test_legacy_untagged_snapshots_and_pieces_are_still_read():
    table: dict = {"t\x001\x000": b"ab", "t\x001\x001": b"cd", "t": b"\xc1" + pack([1, 2])}
    assert SnapshotStore().read(table, "t") == b"abcd"
    host = EngineHost(WorkerConfig(broker="unused:9092"))
    host.ensure_loaded("u", {})
    host.engine.push_many([decode({"name": "x", "timestamp": 5.0, "tenant": "u"})])
    legacy = {"u": pack(host.snapshot("u"))}
    after = EngineHost(WorkerConfig(broker="unused:9092"))
    after.ensure_loaded("u", legacy)
    assert after.engine.buffer.holds("u")
