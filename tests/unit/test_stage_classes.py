"""The worker's stages without a broker: the in-process topology gives replay's matches and
actions, keeps its word across a restart from its tables, and keeps bad records to themselves."""

from __future__ import annotations

import pytest

from goldrush import replay
from goldrush.agents.config import WorkerConfig
from goldrush.agents.local_run import LocalTopology, Message, Record
from goldrush.agents.messages import EngineIn, Keyed
from goldrush.events.codec import dumps_bytes, unpack
from goldrush.patterns import ALL
from goldrush.simulator import simulate


def _batched(events, size=50):
    return [dumps_bytes(events[i:i + size]) for i in range(0, len(events), size)]


def _ids(published):
    return ({m.match_id: m.to_dict() for m in published.matches},
            {a.action_id: a.to_dict() for a in published.actions})


@pytest.fixture(scope="module")
def mixed():
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    expected = replay(ALL, events)
    assert len(expected) > 20 and len(expected.actions) > 5
    return events, expected


@pytest.mark.parametrize("in_place_keys", [True, False])
@pytest.mark.parametrize("in_place", [True, False])
@pytest.mark.parametrize("key_stage", [True, False])
def test_the_topology_gives_replays_matches_and_actions(mixed, key_stage, in_place, in_place_keys):
    events, expected = mixed
    topology = LocalTopology(WorkerConfig(key_stage=key_stage, partitions=3, in_place=in_place,
                                          in_place_keys=in_place_keys))
    out = topology.run(_batched(events), batch=7)
    assert _ids(out) == ({m.match_id: m.to_dict() for m in expected},
                         {a.action_id: a.to_dict() for a in expected.actions})
    assert out.dead == [] and out.late == []
    assert (topology.metrics.get("goldrush_events_keyed_total") > 0) == key_stage
    assert topology.host.policy_waiting() == 0
    # In place, only the first batch's events take the trip: the barrier comes after them.
    through_engine_in = sum(len(p) for p in topology.broker.topics["engine-in"])
    assert (through_engine_in < 10) == in_place


@pytest.mark.parametrize("ahead", [1, 3, 10])
def test_in_place_events_never_overtake_those_forwarded_before_their_barrier(mixed, ahead):
    """Ingest runs `ahead` source batches before the tenant stage reads engine-in: what it forwarded
    before the barrier, and the inputs that waited for it, are evaluated in the order read."""
    events, expected = mixed
    topology = LocalTopology(WorkerConfig(partitions=3, key_stage=False, batch=1))
    topology.produce(_batched(events))
    n = 0
    while topology.step(batch=3, sources_first=n % (ahead + 1) != ahead):
        n += 1
    topology.flush_quiet()
    assert topology.out.late == []
    assert _ids(topology.out)[0] == {m.match_id: m.to_dict() for m in expected}
    assert topology.metrics.get("goldrush_events_evaluated_total") == len(events)


_STEPS: dict = {}


def _steps(cfg, events):
    """How many `step(batch=5)` a run of `events` takes (the same for every checkpoint interval)."""
    key = (cfg.key_stage, cfg.in_place, cfg.in_place_keys, len(events))
    if key in _STEPS:
        return _STEPS[key]
    topology = LocalTopology(cfg)
    topology.produce(_batched(events))
    n = 0
    while topology.step(batch=5):
        n += 1
    _STEPS[key] = n
    return n


# Every combination in place (the default, keys beside their tenants); a few with every event through
# engine-in, and a few with the keys through the keyed topic (as when other workers own some of it).
CRASHES = [(True, key_stage, crash_at, every, True) for key_stage in (False, True) for crash_at in (0.05, 0.4, 0.9)
           for every in (0.0, 3600.0)] + [(True, False, 0.4, 1.0, True), (True, True, 0.9, 1.0, True),
                                          (False, False, 0.4, 1.0, True), (False, True, 0.4, 1.0, True),
                                          (False, True, 0.05, 0.0, True), (False, False, 0.9, 3600.0, True),
                                          (True, True, 0.05, 0.0, False), (True, True, 0.4, 3600.0, False),
                                          (True, True, 0.9, 1.0, False), (False, True, 0.4, 1.0, False)]


@pytest.mark.parametrize(("in_place", "key_stage", "crash_at", "checkpoint_every", "in_place_keys"), CRASHES)
def test_a_crash_anywhere_loses_nothing_and_a_restart_redoes_only_what_was_not_committed(
        mixed, checkpoint_every, crash_at, key_stage, in_place, in_place_keys):
    events, expected = mixed
    cfg = WorkerConfig(partitions=2, key_stage=key_stage, checkpoint_every=checkpoint_every, batch=20,
                       in_place=in_place, in_place_keys=in_place_keys)
    first = LocalTopology(cfg)
    first.produce(_batched(events))
    for _ in range(max(1, int(crash_at * _steps(cfg, events)))):  # then the worker is killed: its memory is gone
        assert first.step(batch=5)
    second = LocalTopology(cfg, first.broker)
    second.run()
    matches = [*first.out.matches, *second.out.matches]
    assert {m.match_id: m.to_dict() for m in matches} == {m.match_id: m.to_dict() for m in expected}
    actions = [*first.out.actions, *second.out.actions]
    assert {a.action_id: a.to_dict() for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}
    redone = len(matches) - len(expected)
    if checkpoint_every == 0:
        assert redone <= 3 * len(expected) // 10  # at most the batch in flight at the crash
    # Everything is committed in the end, and a third start redoes nothing.
    third = LocalTopology(cfg, second.broker)
    assert third.run().matches == [] and third.out.actions == []


def test_checkpoints_write_a_busy_tenant_once_per_interval_not_per_batch(mixed):
    events, _ = mixed
    writes = {}
    for every in (0.0, 3600.0):
        topology = LocalTopology(WorkerConfig(partitions=1, key_stage=False, checkpoint_every=every, batch=3))
        table = topology.broker.tables["tenant-state"] = CountingDict()
        topology.settle.state = topology.steps["engine-in"][0].state = topology.idle.state = table
        topology.run(_batched(events, 10), batch=2)
        writes[every] = table.writes
    assert writes[3600.0] * 10 < writes[0.0]


class CountingDict(dict):
    writes = 0

    def __setitem__(self, key, value):
        self.writes += 1
        super().__setitem__(key, value)


def test_unreadable_internal_messages_are_dead_lettered_by_each_stage_and_the_batch_goes_on(mixed):
    events, _ = mixed
    topology = LocalTopology(WorkerConfig(partitions=1))
    topology.run(_batched(events[:200]))
    good = EngineIn([], []).to_bytes()
    bad = [b"\xc1", dumps_bytes({"v": 99}), Keyed([], [], []).to_bytes()]
    batch = [Record(b"tenant-0000", value, Message("engine-in", 0, 10_000 + i)) for i, value in enumerate([*bad, good])]
    outcome = topology.steps["engine-in"][0].handle(batch)
    codes = [unpack(value)["code"] for _, value in outcome.dead]
    assert codes == ["unreadable_internal"] * 3
    assert "newer" in unpack(outcome.dead[1][1])["reason"]
    keyed = topology.steps["keyed"][0].handle([Record(b"k", b"\xc1", Message("keyed", 0, 5))])
    verdicts = topology.steps["verdicts"][0].handle([Record(b"t", b"[]", Message("verdicts", 0, 5))])
    assert [unpack(v)["code"] for _, v in keyed.dead + verdicts.dead] == ["unreadable_internal"] * 2
