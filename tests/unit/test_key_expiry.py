"""Key expiry bookkeeping (agents/key_expiry.py) on the host, with plain dicts as tables."""

from __future__ import annotations

import json
from types import SimpleNamespace

from goldrush import F, Pattern, event, frequency
from goldrush.agents.config import WorkerConfig
from goldrush.agents.host import EngineHost
from goldrush.agents.key_expiry import KeyIndex, floor_key
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
    fresh = KeyIndex(host.key_snapshots)
    assert fresh.floor("t", 1, table) == 7
    assert fresh.floor("t", 0, table) == 0


def test_restored_keys_are_indexed_by_the_partition_they_were_recovered_from():
    keys = {partition_key(0, ("t", "a")).decode(): 0, partition_key(1, ("u", 2)).decode(): 1,
            floor_key("t", 0): 0, "not json": 0, "[1]": 1}
    table = SimpleNamespace(data=SimpleNamespace(_key_partition=dict(keys)))
    index = KeyIndex(SnapshotStore())
    index.unindexed = list(keys)  # as listed from the table
    index.index_restored(table, limit=2)
    index.index_restored(table, limit=2)
    index.index_restored(table, limit=2)
    assert index.keys == {("t", 0): {'[0,"t","a"]': (0, ("t", "a"))}, ("u", 1): {'[1,"u",2]': (1, ("u", 2))}}
    assert index.unindexed == []
