"""Key expiry bookkeeping (agents/key_expiry.py) on the host, with plain dicts as tables."""

from __future__ import annotations

import json

from goldrush import F, Pattern, event, frequency
from goldrush.agents.config import WorkerConfig
from goldrush.agents.host import EngineHost
from goldrush.agents.key_expiry import KeyIndex, floor_key, key_partition
from goldrush.agents.snapshot_store import SnapshotStore
from goldrush.compiler.keygroups import partition_key
from goldrush.events.codec import pack
from goldrush.events.envelope import decode

ERRORS = Pattern("errors", frequency(event("err", F.code == 500), (">=", 1), "1s"), key_by=("tenant", "source"))
KEY = ("t", "api")


def host_for(tmp_path) -> EngineHost:
    path = tmp_path / "patterns.json"
    path.write_text(json.dumps([ERRORS.to_dict()]))
    return EngineHost(WorkerConfig(broker="unused:9092", patterns=str(path)))


def err(i: int, t: float, code: int):
    return decode({"name": "err", "timestamp": t, "id": f"e{i}", "tenant": "t", "source": "api", "data": {"code": code}})


def test_a_forgotten_key_is_not_loaded_back_from_its_old_snapshot_before_the_delete(tmp_path):
    """The table still holds the key's last written state until the batch's writes: a key
    forgotten and then seen again in the same batch must start fresh, not from that state."""
    host, table = host_for(tmp_path), {}
    table_key = partition_key(0, KEY).decode()
    host.ensure_key_loaded(0, KEY, table_key, table)
    host.key_index.add("t", 0, table_key, 0, KEY)
    found, _ = host.keys.apply(0, KEY, [(1, err(1, 1000, 500))])
    assert len(found) == 1  # rising edge; the pattern holds now
    host.key_snapshots.write(table, table_key, pack(host.keys.snapshot(0, KEY)))  # end of that batch
    host.keys.apply(0, KEY, [(2, err(2, 1005, 200))])  # relevant, does not hold: the edge is low, the window empty
    floor, gone = host.on_progress("t", 0, 2, 1005.0, table)
    assert floor == 2 and gone == [(table_key, 0, KEY)]
    host.ensure_key_loaded(0, KEY, table_key, table)  # the key's next message, same batch
    found, _ = host.keys.apply(0, KEY, [(3, err(3, 1010, 500))], floor)
    assert len(found) == 1  # fresh: a rising edge (its old snapshot had the edge high)
    host.unload_forgotten(gone, touched={table_key: ()})  # seen again: stays loaded
    assert (0, KEY) in host.keys_loaded


def test_the_floor_is_kept_and_read_back(tmp_path):
    host, table = host_for(tmp_path), {}
    assert host.on_progress("t", 1, 7, 1000.0, table) == (7, [])
    host.key_snapshots.write(table, floor_key("t", 1), pack({"floor": 7}))
    fresh = KeyIndex(host.key_snapshots, 4)
    assert fresh.floor("t", 1, table) == 7
    assert fresh.floor("t", 0, table) == 0


def test_restored_keys_are_indexed_by_the_partition_their_keyed_records_went_to():
    a, u = partition_key(0, ("t", "a")).decode(), partition_key(1, ("u", 2)).decode()
    keys = [a, u, floor_key("t", 0), "not json", "[1]"]
    index = KeyIndex(SnapshotStore(), 4)
    index.unindexed = list(keys)  # as listed from the table
    for _ in range(3):
        index.index_restored({}, limit=2)
    pa, pu = key_partition(a, 4), key_partition(u, 4)
    assert index.keys == {("t", pa): {'[0,"t","a"]': (0, ("t", "a"))}, ("u", pu): {'[1,"u",2]': (1, ("u", 2))}}
    assert index.unindexed == []


def test_a_keys_partition_is_the_one_the_producer_picks_for_its_record():
    """murmur2 of the key bytes, as Kafka's Java client (and aiokafka's producer) computes it."""
    from aiokafka.partitioner import murmur2

    for n in (1, 2, 4, 7):
        for key in ('[0,"t","a"]', '[1,"u",2]', '[0,"t","é"]', "[2]"):
            assert key_partition(key, n) == (murmur2(key.encode()) & 0x7FFFFFFF) % n
    # fixed values of Kafka's murmur2 (the Java client's test vectors): an upgrade must not move keys
    assert murmur2(b"21") & 0xFFFFFFFF == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == -790332482 & 0xFFFFFFFF
