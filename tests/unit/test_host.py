"""The tenant stage's bookkeeping on the host (agents/host.py), with plain dicts as tables."""

from __future__ import annotations

from goldrush.agents.config import WorkerConfig
from goldrush.agents.host import EngineHost
from goldrush.agents.table_keys import tenant_key
from goldrush.events.codec import pack
from goldrush.events.envelope import decode


def ev(tenant: str, t: float):
    return decode({"name": "vsm_core.system1.failure", "timestamp": t, "id": f"{tenant}-{t}", "tenant": tenant,
                   "source": "db", "data": {}})


def test_a_tenant_restored_with_buffered_events_is_flushed_when_it_stays_quiet():
    """After a restart, a tenant's first engine-in messages may all be re-deliveries (skipped: the
    snapshot covers them). Its restored reorder buffer must still be flushed once the tenant stays
    quiet (SEMANTICS §4), not held until the tenant sends again."""
    table: dict = {}
    before = EngineHost(WorkerConfig(broker="unused:9092"))
    before.ensure_loaded("t", table)
    before.engine.push_many([ev("t", 1000.0)])  # held back by the 2 s lateness
    before.tenant_snapshots.write(table, tenant_key("t"), pack(before.snapshot("t")))

    after = EngineHost(WorkerConfig(broker="unused:9092"))  # the restarted worker
    stream_event = object()  # the (re-delivered) engine-in message that made it load the tenant
    after.ensure_loaded("t", table, stream_event)
    assert after.engine.buffer.tenants["t"].queue
    assert after.idle_tenants(now=after.last_arrival["t"] + after.idle_after + 1e-6) == ["t"]
    assert after.last_event["t"] is stream_event  # flush_idle writes the tenant's table entries through it


def test_only_tenants_with_buffered_events_are_remembered_for_the_idle_flush():
    """Each remembered tenant holds its last engine-in message (up to 900 kB): a worker seeing
    many tenants must not keep one per tenant ever seen, nor those of partitions it lost."""
    host = EngineHost(WorkerConfig(broker="unused:9092"))
    for i, tenant in enumerate(("a", "b", "c")):
        host.ensure_loaded(tenant, {})
        host.arrived(tenant, object(), now=100.0)
        host.engine.push_many([ev(tenant, 1000.0 + i)])
    host.engine.flush_tenant("b")
    assert host.idle_tenants(now=100.5) == []  # not quiet long enough yet
    assert set(host.last_event) == set(host.last_arrival) == {"a", "c"}  # b has nothing buffered: let go
    assert host.idle_tenants(now=100.0 + host.idle_after) == ["a", "c"]
    host.unload_all()  # partitions revoked
    assert host.last_event == host.last_arrival == {}


def test_tenants_holding_buffered_events_are_marked_in_the_table_only_when_that_changes():
    """See agents/quiet_flush.py: the marks let a restarted worker load the quiet tenants whose
    buffered events still wait for the idle flush."""
    from goldrush.agents.quiet_flush import StandIn, marked_tenants
    from goldrush.agents.table_keys import mark_key

    host = EngineHost(WorkerConfig(broker="unused:9092"))
    on_p1 = StandIn("engine-in", 1)
    buffered = host.engine.buffer
    host.ensure_loaded("t", {})
    host.engine.push_many([ev("t", 1000.0)])
    assert host.marks.changes({"t": on_p1}, buffered) == [(mark_key("t"), on_p1, {"partition": 1})]
    host.engine.push_many([ev("t", 1000.5)])
    assert host.marks.changes({"t": on_p1}, buffered) == []  # still buffered: nothing to write
    host.engine.flush_tenant("t")
    assert host.marks.changes({"t": on_p1}, buffered) == [(mark_key("t"), on_p1, None)]  # delete the mark

    table = {"t": b"snapshot", mark_key("t"): b"1", mark_key("u"): b"0", "v": b"snapshot"}
    again = EngineHost(WorkerConfig(broker="unused:9092"))
    again.marks.loaded("t", table)
    assert again.marks.changes({"t": on_p1}, again.engine.buffer) == [(mark_key("t"), on_p1, None)]  # marked before the restart
    partitions = {mark_key("t"): 1, mark_key("u"): 0}
    assert marked_tenants(table, partitions.get, {1}) == [("t", 1)]  # u's partition went to another worker


def test_idle_tenants_are_unloaded_once_their_state_is_in_the_table_and_reload_as_they_were():
    """200 k tenants with one event each held 1.9 GB: tenants unused for `unload_after` leave memory
    (their snapshots are in the table) unless something of theirs is still pending."""
    table: dict = {}
    host = EngineHost(WorkerConfig(broker="unused:9092", lateness=0))
    for tenant in ("a", "b", "c"):
        host.ensure_loaded(tenant, table)
        host.used(tenant, now=100.0)
    host.engine.push_many([ev("a", 1000.0), ev("b", 1000.0)])
    host.settled({"a": object(), "b": object()})  # a mapping: its keys are the tenants
    host.published(["a"])  # b's snapshot is not written yet
    table[tenant_key("a")] = pack(host.snapshot("a"))
    host.used("c", now=390.0)
    assert host.unload_idle(300.0, now=401.0) == ["a"]  # b unpublished, c used recently
    assert host.loaded == {"b", "c"} and "a" not in host.engine.tenants and host.unloaded_total == 1
    host.ensure_loaded("a", table)
    assert host.engine.clock["a"] == 1000.0  # reloaded from its snapshot
    host.used("a", now=500.0)
    host.published(["b"])
    assert sorted(host.unload_idle(300.0, now=710.0)) == ["b", "c"]  # b was looked at again at 401
