"""Key-group numbers kept across pattern-set versions (goldrush/compiler/keygroups.py `next_layout`).

A group's number is part of its keys' Kafka keys and table keys. The pattern store writes each
version's layout from the one before, so a set that puts a new `key_by` before the existing ones,
or drops the first one, keeps the others' numbers: at a live switch (and a restart across it) the
keys of unchanged finer-keyed patterns keep their state, and the run is what `replay_versions`
gives over the recorded history.
"""

from __future__ import annotations

import pytest

from goldrush import replay
from goldrush.agents.config import WorkerConfig
from goldrush.agents.local_run import LocalTopology
from goldrush.agents.pattern_set import compile_set
from goldrush.compiler.keygroups import next_layout, read_layout, split_key_groups
from goldrush.dsl import Pattern
from goldrush.engine.versions import replay_versions
from goldrush.kafka.pattern_store import layout_after, record_layout
from goldrush.patterns import ALL
from tests.support.switching import (
    assert_published_as_replayed,
    batched,
    by_subsystem,
    compacted,
    match_ids,
    mixed_halves,
)

SOURCE, SUBSYSTEM = ("tenant", "source"), ("tenant", "subsystem")
BY_SOURCE = {p.name for p in ALL if p.key_by == SOURCE}



def _all() -> list[Pattern]:
    return list(ALL)


def _subsystem_first() -> list[Pattern]:
    """`ALL` with the (tenant, subsystem) pattern before every other: numbered by order, the
    (tenant, source) group would be number 1 here and 0 in `ALL`."""
    return compile_set([by_subsystem(), *(p.to_dict() for p in ALL)])



def _pending(topology: LocalTopology, topic: str) -> int:
    parts = topology.broker.topics.get(topic, [])
    return sum(len(records) - topology.position.get((topic, p), 0) for p, records in enumerate(parts))


@pytest.fixture(scope="module")
def mixed():
    return mixed_halves()


# -- the layouts ---------------------------------------------------------------------------------

def test_a_key_by_keeps_its_number_while_it_is_used_and_numbers_are_never_given_again():
    v1 = next_layout(None, _all())
    assert v1 == [SOURCE]
    v2 = next_layout(v1, _subsystem_first())  # inserted first in the set, numbered after the others
    assert v2 == [SOURCE, SUBSYSTEM]
    v3 = next_layout(v2, compile_set([by_subsystem(), *(p.to_dict() for p in ALL if p.key_by == ("tenant",))]))
    assert v3 == [None, SUBSYSTEM]  # the first removed: its number stays empty
    assert next_layout(v3, _subsystem_first()) == [None, SUBSYSTEM, SOURCE]  # back: a new number
    _, groups = split_key_groups(_subsystem_first(), v2)
    assert [(g.index, g.key_by) for g in groups] == [(0, SOURCE), (1, SUBSYSTEM)]
    _, groups = split_key_groups(_subsystem_first())  # no layout: by order, as before
    assert [(g.index, g.key_by) for g in groups] == [(0, SUBSYSTEM), (1, SOURCE)]
    _, groups = split_key_groups(compile_set([by_subsystem()]), v3 + [SOURCE])
    assert [(g.index, g.key_by, g.live) for g in groups] == [(0, (), False), (1, SUBSYSTEM, True), (2, (), False)]


def test_a_layout_that_does_not_fit_the_set_is_completed_the_same_way_everywhere():
    _, groups = split_key_groups(_subsystem_first(), [SUBSYSTEM, SUBSYSTEM])
    assert [(g.index, g.key_by) for g in groups] == [(0, SUBSYSTEM), (1, ()), (2, SOURCE)]
    assert read_layout([["tenant", "source"], None]) == [SOURCE, None]
    assert read_layout("nonsense") is None and read_layout([["tenant", 3]]) is None


def test_old_version_records_without_a_layout_still_read_numbered_by_order():
    old = {"version": 4, "patterns": [p.to_dict() for p in _subsystem_first()]}
    assert record_layout(old) is None  # the worker numbers that version by order, as before
    # the next push keeps the numbers the workers gave by order: (tenant, subsystem) 0, (tenant, source) 1
    docs = [p.to_dict() for p in ALL]
    assert layout_after(old, docs) == [None, SOURCE]
    assert layout_after(None, docs) == [SOURCE]
    assert layout_after({"version": 5, "patterns": docs, "layout": [["tenant", "source"]]},
                        [{"name": "broken", "clauses": [{"op": "no_such_operator"}]}]) == [SOURCE]


# -- live switches ---------------------------------------------------------------------------------

def _switch_live(events, half, v1, v2, cfg, *, layouts: bool = True):
    """Run `v1` as version 1 until keyed messages are in flight and policy work waits, switch to `v2`
    as version 2 with the layouts the pattern store writes (or none, as records before layouts), then
    read the rest."""
    l1 = next_layout(None, v1) if layouts else None
    l2 = next_layout(l1, v2) if layouts else None
    topology = LocalTopology(cfg, patterns=v1, version=1, layout=l1)
    topology.produce(batched(events[:half]))
    while topology.step(batch=7):
        if _pending(topology, "keyed") > 5 and topology.host.policy_waiting() > 0 and len(topology.out.matches) > 20:
            break
    assert _pending(topology, "keyed") > 5 and topology.host.policy_waiting() > 0
    topology.host.adopt(v2, 2, l2)
    topology.run(batched(events[half:]), batch=7)
    return topology


def _history(v1, v2, switches):
    return {"versions": [{"version": 1, "patterns": v1}, {"version": 2, "patterns": v2}], "switches": switches}


def _assert_as_replay(out, expected):
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert match_ids(out.matches) == match_ids(expected)  # nothing doubled
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}


@pytest.mark.parametrize("change", ["insert-first", "remove-first"])
@pytest.mark.parametrize("partitions", [1, 3])
def test_a_live_switch_that_would_renumber_the_groups_keeps_their_keys_state(mixed, change, partitions):
    events, half = mixed
    v1, v2 = (_all(), _subsystem_first()) if change == "insert-first" else (_subsystem_first(), _all())
    topology = _switch_live(events, half, v1, v2, WorkerConfig(in_place_keys=False, partitions=partitions))
    out = topology.out
    assert out.late == [] and out.dead == [] and topology.host.policy_waiting() == 0
    assert len({s["tenant"] for s in out.switches if s["version"] == 2}) == 3
    expected = replay_versions(_history(v1, v2, out.switches), events)
    _assert_as_replay(out, expected)
    # the (tenant, source) patterns are unchanged: their keys kept their state, as if nothing had happened
    assert match_ids(m for m in out.matches if m.pattern in BY_SOURCE) == match_ids(
        m for m in replay(ALL, events) if m.pattern in BY_SOURCE)
    assert not set(topology.host.states_reset()) & BY_SOURCE
    assert any(m.pattern == "slow_subsystem" for m in out.matches)


def test_a_record_without_a_layout_still_renumbers_as_before(mixed):
    """The layouts are what keeps the state: the same switch numbered by order starts the keys of
    the renumbered group fresh (and is no longer what replay_versions gives)."""
    events, half = mixed
    v1, v2 = _all(), _subsystem_first()
    topology = _switch_live(events, half, v1, v2, WorkerConfig(in_place_keys=False, partitions=3), layouts=False)
    assert topology.host.policy_waiting() == 0
    expected = replay_versions(_history(v1, v2, topology.out.switches), events)
    assert match_ids(topology.out.matches) != match_ids(expected)



@pytest.mark.parametrize("in_place_keys", [False, True])
@pytest.mark.parametrize("change", ["insert-first", "remove-first"])
@pytest.mark.parametrize("key_stage_ahead", [False, True])
def test_a_crash_after_a_renumbering_switch_goes_on_as_replay_says(mixed, change, key_stage_ahead, in_place_keys):
    """The worker switches live, goes on under version 2 and dies, its tenants' snapshots from before
    the switch (`key_stage_ahead`) or keyed messages of both versions in flight. The restarted worker
    (on version 2 with its layout, knowing version 1 and its layout) resumes each tenant on version 1
    up to its recorded point: every match and action published is one replay_versions gives."""
    events, half = mixed
    v1, v2 = (_all(), _subsystem_first()) if change == "insert-first" else (_subsystem_first(), _all())
    l1 = next_layout(None, v1)
    l2 = next_layout(l1, v2)
    cfg = WorkerConfig(in_place_keys=in_place_keys, partitions=2, checkpoint_every=1e9 if key_stage_ahead else 1.0)
    first = LocalTopology(cfg, patterns=v1, version=1, layout=l1)
    first.produce(batched(events[:half]))
    while first.step(batch=7):
        if not key_stage_ahead and _pending(first, "keyed") > 5 and first.host.policy_waiting() > 0:
            break
    first.host.adopt(v2, 2, l2)
    first.produce(batched(events[half:half + 3000]))
    for steps in range(100000):
        if not first.step(batch=7) or (not key_stage_ahead and steps >= 40 and _pending(first, "keyed") > 0):
            break
    assert any(m.pattern_set_version == 2 for m in first.out.matches)
    second = LocalTopology(cfg, first.broker, patterns=v2, version=2, layout=l2)
    second.host.remember(1, v1, l1)
    second.host.tenant_versions.learn(first.out.switches)  # read from goldrush.patterns.applied at start
    second.run(batched(events[half + 3000:]), batch=7)
    assert second.out.dead == [] and second.host.policy_waiting() == 0
    switches = compacted([*first.out.switches, *second.out.switches])
    expected = replay_versions(_history(v1, v2, switches), events)
    assert_published_as_replayed(expected, first, second)
    assert not set(second.host.states_reset()) & BY_SOURCE
