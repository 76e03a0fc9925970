"""A live switch of patterns keyed finer than the tenant, with the key stage on (agents/pattern_set.py,
agents/key_versions.py), without a broker: keyed messages of the old version still in flight at
the switch are evaluated with the old key groups, each key's state moves at its first event of the
new version, policy work queued before the switch waits for the old groups' verdicts, and
`replay_versions` over the recorded switches reproduces the run: nothing lost or doubled."""

from __future__ import annotations

from collections import Counter

import pytest

from goldrush import replay
from goldrush.agents.config import WorkerConfig
from goldrush.agents.local_run import LocalTopology
from goldrush.agents.messages import Keyed, read_keyed
from goldrush.agents.pattern_set import compile_set
from goldrush.compiler.keygroups import partition_key
from goldrush.dsl import Pattern
from goldrush.engine.versions import replay_versions
from goldrush.events.codec import dumps_bytes, loads, to_row
from goldrush.events.envelope import decode
from goldrush.patterns import ALL
from tests.support.switching import (
    assert_published_as_replayed,
    batched,
    by_subsystem,
    compacted,
    match_ids,
    mixed_halves,
)

FINER = ("variety_overload", "response_time_degradation", "performance_degradation_model",
         "variety_imbalance_model")



def _edited(d: dict) -> dict:
    d["clauses"][0]["count"] = [">=", 2]  # response_time_degradation: 2 slow operations, not 3
    d["actions"][0]["cooldown"] = "1m"
    return d



def _v2(*, renumber: bool = False) -> list[Pattern]:
    """Finer-keyed changes: one edited (threshold and action), one removed, one new with a new key_by:
    appended after the existing key_bys (numbers kept) or, with `renumber`, first (renumbered)."""
    docs = [p.to_dict() for p in ALL if p.name != "variety_overload"]
    docs = [_edited(d) if d["name"] == "response_time_degradation" else d for d in docs]
    return compile_set([by_subsystem(), *docs] if renumber else [*docs, by_subsystem()])


@pytest.fixture(scope="module")
def mixed():
    return mixed_halves()


def _pending(topology: LocalTopology, topic: str) -> int:
    parts = topology.broker.topics.get(topic, [])
    return sum(len(records) - topology.position.get((topic, p), 0) for p, records in enumerate(parts))


def _switch_with_keyed_in_flight(events, half, new, cfg):
    """Read the first half until keyed messages of version 1 are in flight and policy work waits
    for their verdicts, then switch to `new` as version 2 and read the rest."""
    topology = LocalTopology(cfg, patterns=list(ALL), version=1)
    topology.produce(batched(events[:half]))
    while topology.step(batch=7):
        if _pending(topology, "keyed") > 5 and topology.host.policy_waiting() > 0 and \
                len(topology.out.matches) > 20:
            break
    in_flight = _pending(topology, "keyed")
    assert in_flight > 5 and topology.host.policy_waiting() > 0  # the switch meets work of version 1
    counts = topology.host.adopt(new, 2)
    topology.run(batched(events[half:]), batch=7)
    return topology, counts


def _history(new, switches):
    return {"versions": [{"version": 1, "patterns": list(ALL)}, {"version": 2, "patterns": new}],
            "switches": switches}


@pytest.mark.parametrize("partitions, in_place", [(1, True), (3, True), (3, False)])
def test_a_finer_keyed_set_switches_live_as_replay_over_the_history_says(mixed, partitions, in_place):
    events, half = mixed
    new = _v2()
    topology, counts = _switch_with_keyed_in_flight(events, half, new,
                                                    WorkerConfig(in_place_keys=False, partitions=partitions, in_place=in_place))
    assert counts == {"kept": len(ALL) - 2, "fresh": 2, "removed": 1}
    out = topology.out
    assert out.late == [] and out.dead == []
    assert topology.host.policy_waiting() == 0
    after = {s["tenant"]: s["after"] for s in out.switches if s["version"] == 2}
    assert len(after) == 3 and all(t is not None for t in after.values())
    expected = replay_versions(_history(new, out.switches), events)
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert match_ids(out.matches) == match_ids(expected)  # nothing doubled
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}
    # Before each tenant's switch point, the finer patterns' matches are version 1's; after it version 2's.
    old = [m for m in replay(ALL, events) if m.pattern in FINER]
    v1 = [m for m in out.matches if m.pattern in FINER and m.pattern_set_version == 1]
    assert match_ids(v1) == match_ids(m for m in old if m.timestamp <= after[m.tenant]) and len(v1) > 0
    v2 = Counter(m.pattern for m in out.matches if m.pattern_set_version == 2)
    assert v2["slow_subsystem"] > 0 and v2["variety_overload"] == 0
    assert all(m.pattern_set_version == (1 if m.timestamp <= after[m.tenant] else 2) for m in out.matches)
    # the unchanged finer patterns kept their keys' state across the switch: as if nothing had happened
    unchanged = {"performance_degradation_model", "variety_imbalance_model"}
    assert match_ids(m for m in out.matches if m.pattern in unchanged) == match_ids(m for m in old if m.pattern in unchanged)
    assert set(topology.host.states_reset()) <= {"response_time_degradation", "slow_subsystem"}


def test_a_restart_after_a_live_finer_switch_goes_on_as_replay_says(mixed):
    """Stopped right after the switch with keyed messages of both versions in flight: the restarted
    worker (on version 2, knowing version 1) evaluates each with its version."""
    events, half = mixed
    new = _v2()
    cfg = WorkerConfig(in_place_keys=False, partitions=2)
    first = LocalTopology(cfg, patterns=list(ALL), version=1)
    first.produce(batched(events[:half]))
    while first.step(batch=7):
        if _pending(first, "keyed") > 5 and first.host.policy_waiting() > 0:
            break
    first.host.adopt(new, 2)
    first.produce(batched(events[half:half + 500]))
    for steps in range(400):
        if not first.step(batch=7) or (steps >= 40 and _pending(first, "keyed") > 0):
            break
    assert _pending(first, "keyed") > 0
    second = LocalTopology(cfg, first.broker, patterns=new, version=2)
    second.host.key_versions.remember(1, list(ALL))
    second.run(batched(events[half + 500:]), batch=7)
    matches = [*first.out.matches, *second.out.matches]
    switches = [*first.out.switches, *second.out.switches]
    expected = replay_versions(_history(new, switches), events)
    assert second.out.dead == [] and second.host.policy_waiting() == 0
    # at least once: a restart may publish a match again, never one replay does not have
    assert set(match_ids(matches)) == set(match_ids(expected))


def test_work_queued_before_the_switch_takes_the_old_groups_verdicts_and_actions(mixed):
    """Version 2 keeps the (tenant, source) patterns but without actions: the tenant stage no longer
    waits for that group's verdicts, and has no actions for its patterns. The events forwarded
    before the switch were evaluated under version 1, so their matches still make version 1's
    actions, in replay order."""
    events, half = mixed
    new = compile_set([{**p.to_dict(), "actions": []} if p.key_by != ("tenant",) else p.to_dict() for p in ALL])
    topology, counts = _switch_with_keyed_in_flight(events, half, new, WorkerConfig(in_place_keys=False, partitions=2))
    assert counts["fresh"] == 0  # actions are not part of a definition: every state is kept
    out = topology.out
    assert out.dead == [] and topology.host.policy_waiting() == 0
    expected = replay_versions(_history(new, out.switches), events)
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}
    late_v1 = [a for a in expected.actions if a.pattern in FINER and a.pattern_set_version == 1]
    assert late_v1  # version 1's finer actions, some of them applied after the switch


def test_renumbered_key_groups_never_leave_policy_work_waiting(mixed):
    """A new key_by first renumbers the groups: work queued under version 1 still gets the old
    groups' verdicts, and the tenant's actions keep flowing. (The renumbered group's keys start
    fresh on the new version, as on a restart: their state is under another Kafka key.)"""
    events, half = mixed
    new = _v2(renumber=True)
    topology, _ = _switch_with_keyed_in_flight(events, half, new, WorkerConfig(in_place_keys=False, partitions=3))
    out = topology.out
    assert out.dead == [] and topology.host.policy_waiting() == 0
    expected = replay_versions(_history(new, out.switches), events)
    tenant_keyed = {p.name for p in ALL if p.key_by == ("tenant",)}
    assert match_ids(m for m in out.matches if m.pattern in tenant_keyed) == match_ids(
        m for m in expected if m.pattern in tenant_keyed)
    assert {m.pattern_set_version for m in out.matches if m.pattern in FINER} == {1, 2}
    assert Counter(a.pattern_set_version for a in out.actions)[2] > 0


def test_a_keyed_message_of_a_version_the_worker_does_not_have_is_dead_lettered_not_guessed():
    topology = LocalTopology(WorkerConfig(in_place_keys=False, partitions=1), patterns=list(ALL), version=1)
    ev = decode({"name": "vsm_core.system1.operation", "timestamp": 100.0, "source": "s1",
                 "data": {"response_time_ms": 2000}})
    key = ("default", "s1")
    msg = Keyed(["tenant", "source"], list(key), [[1, to_row(ev)]], 7)
    assert read_keyed(msg.to_bytes()) == Keyed(["tenant", "source"], ["default", "s1"], [[1, to_row(ev)]], 7)
    topology.broker.append("keyed", partition_key(1, key), msg.to_bytes())
    out = topology.run()
    assert [loads(value)["code"] for _, value in out.dead] == ["unknown_pattern_set"]
    assert "pattern-set version 7" in loads(out.dead[0][1])["reason"]
    verdicts = topology.broker.topics["verdicts"][0]
    assert len(verdicts) == 1  # "no matches", so that the tenant's policy work never waits for it


def test_a_set_without_finer_patterns_still_takes_the_verdicts_of_the_events_sent_before(mixed):
    """Version 2 drops every pattern keyed finer than the tenant: the events handed to the key stage
    before the switch are still evaluated there under version 1, and their actions still come."""
    events, half = mixed
    new = compile_set([p.to_dict() for p in ALL if p.key_by == ("tenant",)])
    topology, counts = _switch_with_keyed_in_flight(events, half, new, WorkerConfig(in_place_keys=False, partitions=2))
    assert counts["removed"] == len(FINER)
    out = topology.out
    assert out.dead == [] and topology.host.policy_waiting() == 0
    expected = replay_versions(_history(new, out.switches), events)
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}
    assert [a for a in expected.actions if a.pattern in FINER]


def test_a_worker_started_without_a_key_stage_evaluates_new_finer_patterns_itself(mixed):
    """Started on a set with no pattern keyed finer than the tenant, the worker has no key stage to
    hand events to: a set that adds one is evaluated in the tenant stage (as with --key-stage off)
    rather than forwarded to a stage that does not run, where its actions would wait for ever."""
    events, half = mixed
    tenant_only = compile_set([p.to_dict() for p in ALL if p.key_by == ("tenant",)])
    topology = LocalTopology(WorkerConfig(in_place_keys=False, partitions=2), patterns=tenant_only, version=1)
    assert "keyed" not in topology.steps
    topology.run(batched(events[:half]), batch=7)
    topology.host.adopt(list(ALL), 2)
    out = topology.run(batched(events[half:]), batch=7)
    assert out.dead == [] and topology.host.policy_waiting() == 0
    history = {"versions": [{"version": 1, "patterns": tenant_only}, {"version": 2, "patterns": list(ALL)}],
               "switches": out.switches}
    expected = replay_versions(history, events)
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}
    assert {m.pattern for m in out.matches if m.pattern_set_version == 2} & set(FINER)


def test_a_tenant_match_queued_at_the_switch_takes_its_own_versions_actions():
    """`t` matches while the tenant's policy work waits for a key-stage verdict; the switch changes
    `t`'s action. The match was the old version's, so is its action (as replay over the history)."""
    from goldrush import event, sequence
    from goldrush.dsl.actions import AlgedonicAlert

    slow = Pattern("slow", sequence(event("op")), key_by=("tenant", "source"), action=AlgedonicAlert(severity="low"))
    v1 = [Pattern("t", sequence(event("a")), action=AlgedonicAlert(severity="high")), slow]
    v2 = [Pattern("t", sequence(event("a")), action=AlgedonicAlert(severity="critical")), slow]
    xs = [{"name": "op", "timestamp": 1, "source": "s1", "id": "o1"}, {"name": "a", "timestamp": 2, "id": "a1"},
          {"name": "a", "timestamp": 3, "id": "a2"}]
    topology = LocalTopology(WorkerConfig(in_place_keys=False, partitions=1, lateness=0), patterns=v1, version=1)
    topology.produce([dumps_bytes(xs[:2])])
    while topology.step() and not _pending(topology, "keyed"):
        pass
    assert topology.host.policy_waiting() == 2  # `op` waits for its verdict, `a`'s match behind it
    topology.host.adopt(v2, 2)
    out = topology.run([dumps_bytes(xs[2:])])
    history = {"versions": [{"version": 1, "patterns": v1}, {"version": 2, "patterns": v2}], "switches": out.switches}
    expected = replay_versions(history, xs, allowed_lateness=0)
    assert [(a.pattern, a.params.severity, a.pattern_set_version) for a in expected.actions] == [
        ("slow", "low", 1), ("t", "high", 1), ("t", "critical", 2)]
    assert sorted(a.to_dict()["action_id"] for a in out.actions) == sorted(a.action_id for a in expected.actions)
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}


def test_a_keyed_message_of_a_version_not_adopted_yet_waits_for_it(monkeypatch):
    """Another worker's tenant stage switched first: the key stage waits (before its batch) until its
    own pattern watch adopts the version, then evaluates the events with it; after VERSION_WAIT
    it dead-letters them instead."""
    import asyncio

    from goldrush.agents.stages import keyed as keyed_module

    def setup():
        topology = LocalTopology(WorkerConfig(in_place_keys=False, partitions=1), patterns=list(ALL), version=1)
        ev = decode({"name": "vsm_core.system1.operation", "timestamp": 100.0, "source": "s1",
                     "data": {"response_time_ms": 2000}})
        topology.broker.append("keyed", partition_key(0, ("default", "s1")),
                               Keyed(["tenant", "source"], ["default", "s1"], [[1, to_row(ev)]], 2).to_bytes())
        return topology, topology.steps["keyed"][0], topology.broker.topics["keyed"][0]

    topology, step, batch = setup()

    async def adopted_meanwhile():
        waiting = asyncio.create_task(step.wait_for_versions(batch, poll=0.01))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        topology.host.adopt(_v2(), 2)
        await asyncio.wait_for(waiting, 1)

    asyncio.run(adopted_meanwhile())
    assert step.handle(batch).dead == []

    monkeypatch.setattr(keyed_module, "VERSION_WAIT", 0.05)
    topology, step, batch = setup()
    asyncio.run(asyncio.wait_for(step.wait_for_versions(batch, poll=0.01), 1))
    assert [loads(value)["code"] for _, value in step.handle(batch).dead] == ["unknown_pattern_set"]


def test_keys_left_in_an_earlier_versions_stage_are_let_go_when_idle():
    """A renumbered group's keys never get an event of the new version under their old Kafka key:
    the tenant's progress lets them go once idle, as it does the running stage's keys."""
    from goldrush import event, frequency

    # each source's events are 4 s apart: `busy` never holds, so an idle key keeps no edge (SEMANTICS §6)
    by_source = Pattern("busy", frequency(event("op"), (">=", 2), "2s"), key_by=("tenant", "source"))
    by_subsystem = Pattern("sub", frequency(event("op"), (">=", 2), "1m"), key_by=("tenant", "subsystem"))
    v1, v2 = [by_source], [by_subsystem, by_source]  # `busy`'s group is number 1 now
    before = [{"name": "op", "timestamp": i, "source": f"s{i % 4}", "subsystem": "x", "id": f"b{i}"}
              for i in range(20)]
    after = [{"name": "op", "timestamp": 1000 + i, "source": f"s{i % 4}", "subsystem": "x", "id": f"a{i}"}
             for i in range(20)]
    topology = LocalTopology(WorkerConfig(in_place_keys=False, partitions=2, lateness=0, key_expiry=1e-9), patterns=v1, version=1)
    topology.run([dumps_bytes(before)])
    topology.host.adopt(v2, 2)
    versions = topology.host.key_versions
    assert versions.home and versions.state_size(topology.host) > 0  # (others were let go before the switch)
    out = topology.run([dumps_bytes(after)])
    assert versions.home == {} and versions.state_size(topology.host) == 0
    history = {"versions": [{"version": 1, "patterns": v1}, {"version": 2, "patterns": v2}], "switches": out.switches}
    # `busy` keys were idle at the switch (1000 s later), so starting them fresh changes nothing here
    assert match_ids(out.matches) == match_ids(replay_versions(history, [*before, *after], allowed_lateness=0))



def _switched_then_dead(cfg: WorkerConfig, old: list[Pattern], new: list[Pattern], events, half) -> LocalTopology:
    """A worker that read the first half under `old`, switched to `new` (version 2), read 3,000
    more events and died: with checkpoints far apart, its snapshots are from before the switch."""
    first = LocalTopology(cfg, patterns=old, version=1)
    first.produce(batched(events[:half]))
    while first.step(batch=7):
        pass
    first.host.adopt(new, 2)
    first.produce(batched(events[half:half + 3000]))
    while first.step(batch=7):
        pass
    return first


@pytest.mark.parametrize("in_place_keys", [False, True])
@pytest.mark.parametrize("key_stage", [True, False])
def test_a_crash_back_to_a_snapshot_from_before_the_switch_keeps_the_recorded_switch_point(mixed, key_stage, in_place_keys):
    """The worker switches live, goes on under version 2 (keys moved, matches published), and dies; its
    tenants' snapshots are from before the switch. The restarted worker reads their records since
    again: each tenant resumes under version 1 and switches at its recorded point, not at its
    snapshot's clock, so every match and action published, before and after the crash, is the one
    `replay_versions` gives over the recorded history, and the switch records are unchanged."""
    events, half = mixed
    new = _v2()
    cfg = WorkerConfig(in_place_keys=in_place_keys, partitions=2, key_stage=key_stage, checkpoint_every=1e9)  # snapshots: first batches only
    first = _switched_then_dead(cfg, list(ALL), new, events, half)
    points = {s["tenant"]: s["after"] for s in first.out.switches if s["version"] == 2}
    assert len(points) == 3
    snapshots = first.broker.tables["tenant-state"]
    from goldrush.agents.table_keys import tenant_key
    from goldrush.events.codec import unpack
    for tenant, after in points.items():  # the crash goes back before the switch
        saved = unpack(snapshots[tenant_key(tenant)])
        assert saved["version"] == 1 and saved["clock"] < after
    assert any(m.pattern_set_version == 2 for m in first.out.matches)
    second = LocalTopology(cfg, first.broker, patterns=new, version=2)
    second.host.remember(1, list(ALL))
    second.host.tenant_versions.learn(first.out.switches)  # read from goldrush.patterns.applied at start
    second.run(batched(events[half + 3000:]), batch=7)
    assert second.out.dead == [] and second.host.policy_waiting() == 0
    assert {s["tenant"]: s["after"] for s in second.out.switches if s["version"] == 2} == points
    switches = compacted([*first.out.switches, *second.out.switches])
    expected = replay_versions(_history(new, switches), events)
    assert_published_as_replayed(expected, first, second)


@pytest.mark.parametrize("in_place_keys", [False, True])
def test_a_crash_back_across_a_switch_that_removes_a_key_group_goes_on_as_replay_says(mixed, in_place_keys):
    """Version 2 drops the (tenant, subsystem) group (the last one: no group is renumbered). After a
    crash back to snapshots from before the switch, the tenants resume on version 1 and send progress
    notes older than the last event of the removed group's keys, left in version 1's stage: such a
    key was forgotten, and its re-delivered events were evaluated again on a fresh state (an extra
    match). (The held-back stage keeping version 2's verdicts is
    `test_a_crash_back_to_a_snapshot_from_before_the_switch_keeps_the_recorded_switch_point[True]`.)"""
    events, half = mixed
    old, new = compile_set([*(p.to_dict() for p in ALL), by_subsystem()]), list(ALL)
    cfg = WorkerConfig(in_place_keys=in_place_keys, partitions=2, checkpoint_every=1e9)  # snapshots: first batches only
    first = _switched_then_dead(cfg, old, new, events, half)
    second = LocalTopology(cfg, first.broker, patterns=new, version=2)  # the crash: nothing flushed
    second.host.remember(1, old)
    second.host.tenant_versions.learn(first.out.switches)
    second.run(batched(events[half + 3000:]), batch=7)
    assert second.out.dead == [] and second.host.policy_waiting() == 0
    history = {"versions": [{"version": 1, "patterns": old}, {"version": 2, "patterns": new}],
               "switches": compacted([*first.out.switches, *second.out.switches])}
    expected = replay_versions(history, events)
    assert set(match_ids([*first.out.matches, *second.out.matches])) == set(match_ids(expected))
    assert {a.action_id for a in [*first.out.actions, *second.out.actions]} == {a.action_id for a in expected.actions}


@pytest.mark.parametrize("checkpoint_every", [0.0, 1e9])
def test_a_finer_keyed_set_switches_live_in_place_as_replay_over_the_history_says(mixed, checkpoint_every):
    """With the keys evaluated beside their tenants (agents/keys_in_place.py) nothing is in flight at
    the switch; the run is still the one `replay_versions` gives over the recorded switches."""
    events, half = mixed
    new = _v2()
    topology = LocalTopology(WorkerConfig(partitions=2, checkpoint_every=checkpoint_every), patterns=list(ALL),
                             version=1)
    topology.run(batched(events[:half]), batch=7)
    topology.host.adopt(new, 2)
    topology.run(batched(events[half:]), batch=7)
    assert topology.settle.here.active and topology.host.policy_waiting() == 0
    assert topology.metrics.get("goldrush_events_forwarded_total") == 0
    assert_published_as_replayed(replay_versions(_history(new, compacted(topology.out.switches)), events), topology)
