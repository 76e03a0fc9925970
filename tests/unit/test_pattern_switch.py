"""Changing the pattern set of a running worker (agents/pattern_set.py), without a broker: the
switch happens between two batches, matches before it are the old set's, after it the new set's,
and `replay_versions` over the recorded switches reproduces the run exactly."""

from __future__ import annotations

from collections import Counter

import pytest

from goldrush import replay
from goldrush.agents.config import WorkerConfig
from goldrush.agents.local_run import LocalTopology
from goldrush.agents.pattern_set import PatternSetRejected, compile_set
from goldrush.dsl import Pattern
from goldrush.engine.versions import replay_versions
from goldrush.events.codec import dumps_bytes
from goldrush.patterns import ALL
from tests.support.switching import batched, match_ids, mixed_halves, v2_docs


def _v2() -> list[Pattern]:
    """An edited pattern (a threshold), a removed one and a new one; the rest unchanged."""
    return compile_set(v2_docs())


def _history(switches):
    return {"versions": [{"version": 1, "patterns": list(ALL)}, {"version": 2, "patterns": _v2()}],
            "switches": switches}


@pytest.fixture(scope="module")
def mixed():
    return mixed_halves()


def _switch_mid_stream(mixed, cfg):
    events, half = mixed
    topology = LocalTopology(cfg, patterns=list(ALL), version=1)
    topology.produce(batched(events[:half]))
    while topology.step(batch=7):
        pass
    counts = topology.host.adopt(_v2(), 2)
    assert counts == {"kept": len(ALL) - 2, "fresh": 2, "removed": 1}
    before = len(topology.out.matches)
    topology.run(batched(events[half:]), batch=7)
    return topology, before


@pytest.mark.parametrize("key_stage", [True, False])
def test_a_switch_mid_stream_is_replay_with_the_old_set_before_and_the_new_set_after(mixed, key_stage):
    events, _ = mixed
    topology, before = _switch_mid_stream(mixed, WorkerConfig(key_stage=key_stage, partitions=3))
    out = topology.out
    assert out.late == [] and out.dead == []
    after = {s["tenant"]: s["after"] for s in out.switches if s["version"] == 2}
    assert len(after) == 3 and all(t is not None for t in after.values())
    # Before each tenant's switch point: exactly replay with the old set, stamped version 1.
    old = replay(ALL, events)
    old_before = [m for m in old if m.timestamp <= after[m.tenant]]
    v1 = [m for m in out.matches if m.pattern_set_version == 1]
    assert match_ids(v1) == match_ids(old_before) and len(v1) >= before > 10
    # The whole run, switch included: replay over the history of versions, nothing lost or doubled.
    expected = replay_versions(_history(out.switches), events)
    assert match_ids(out.matches) == match_ids(expected)
    assert {m.match_id: m.to_dict() for m in out.matches} == {m.match_id: m.to_dict() for m in expected}
    assert all(m.pattern_set_version == (1 if m.timestamp <= after[m.tenant] else 2) for m in out.matches)
    # actions too, each with the version whose match produced it
    assert {a.action_id: a.to_dict() for a in out.actions} == {a.action_id: a.to_dict() for a in expected.actions}
    assert {a.pattern_set_version for a in out.actions} == {1, 2}
    # the new set is what runs now: an edited threshold and a new pattern match after the switch
    v2 = Counter(m.pattern for m in out.matches if m.pattern_set_version == 2)
    assert v2["failure_burst"] > 0 and v2["low_utilization"] == 0
    assert v2["algedonic_signal_frequency"] > Counter(
        m.pattern for m in old if m.timestamp > after[m.tenant])["algedonic_signal_frequency"]


def test_unchanged_patterns_keep_their_state_across_the_switch(mixed):
    """A pattern whose definition id is unchanged gives the same matches as if nothing had happened;
    the edited one starts fresh (counted)."""
    events, _ = mixed
    topology, _ = _switch_mid_stream(mixed, WorkerConfig(key_stage=False, partitions=2))
    unchanged = {p.name for p in ALL} - {"algedonic_signal_frequency", "low_utilization"}
    assert match_ids(m for m in topology.out.matches if m.pattern in unchanged) == match_ids(
        m for m in replay(ALL, events) if m.pattern in unchanged)
    assert set(topology.host.states_reset()) <= {"algedonic_signal_frequency"}


def test_a_bad_set_is_rejected():
    broken = [p.to_dict() for p in ALL]
    broken[0]["clauses"][0]["op"] = "no_such_operator"
    with pytest.raises(PatternSetRejected, match="no_such_operator"):
        compile_set(broken)
    with pytest.raises(PatternSetRejected, match="two patterns are named"):
        compile_set([ALL[0].to_dict(), ALL[0].to_dict()])


@pytest.mark.parametrize("key_stage", [True, False])
def test_a_restarted_worker_comes_back_on_the_latest_version(mixed, key_stage):
    """Stopped on version 1, started on version 2: each tenant switches at its snapshot's clock."""
    events, half = mixed
    cfg = WorkerConfig(key_stage=key_stage, partitions=2)
    first = LocalTopology(cfg, patterns=list(ALL), version=1)
    first.run(batched(events[:half]), batch=7)
    second = LocalTopology(cfg, first.broker, patterns=_v2(), version=2)
    second.run(batched(events[half:]), batch=7)
    assert second.host.version == 2
    switches = [*first.out.switches, *second.out.switches]
    assert {s["tenant"] for s in second.out.switches if s["version"] == 2} == {"tenant-0000", "tenant-0001", "tenant-0002"}
    matches = [*first.out.matches, *second.out.matches]
    expected = replay_versions(_history(switches), events)
    assert match_ids(matches) == match_ids(expected)
    assert {m.pattern_set_version for m in second.out.matches} == {2}


def test_replay_versions_with_one_version_is_replay(mixed):
    events, _ = mixed
    only = replay_versions({"versions": [{"version": 7, "patterns": [p.to_dict() for p in ALL]}]}, events)
    assert [m.match_id for m in only] == [m.match_id for m in replay(ALL, events)]
    assert {m.pattern_set_version for m in only} == {7}


def test_a_version_the_workers_rejected_is_left_out_of_the_replay_one_not_listed_is_named(mixed):
    """`goldrush patterns history --json` lists a version that did not compile among the versions
    and in `rejected`: replay skips it as the workers did (it failed on every such store)."""
    from goldrush.errors import PatternError

    events, half = mixed
    bad = [p.to_dict() for p in ALL]
    bad[0]["clauses"][0]["op"] = "no_such_operator"
    switches = [{"tenant": t, "version": 3, "after": events[half]["timestamp"]} for t in {e["tenant"] for e in events}]
    ran = {"versions": [{"version": 1, "patterns": list(ALL)}, {"version": 3, "patterns": _v2()}],
           "switches": switches}
    stored = {"versions": [ran["versions"][0], {"version": 2, "patterns": bad}, ran["versions"][1]],
              "switches": switches, "rejected": [{"version": 2, "error": "unknown operator"}]}
    assert match_ids(replay_versions(stored, events)) == match_ids(replay_versions(ran, events))
    with pytest.raises(PatternError, match="version 2 of the history does not compile"):
        replay_versions({**stored, "rejected": []}, events)


def test_an_event_at_the_switch_time_arriving_after_the_switch_is_late_never_on_both_sides():
    """The switch point is the tenant's clock C: an event at exactly C that arrives after the
    switch would otherwise be evaluated by the new set while replay gives it to the old one."""
    from goldrush import event, sequence

    old = [Pattern("pair", sequence(event("x"), event("x")))]
    new = [Pattern("pair", sequence(event("x"), event("x"), event("x")))]
    x = [{"name": "x", "timestamp": t, "id": i} for t, i in [(1, "a"), (2, "b"), (3, "c"), (3, "d"), (4, "e"),
                                                             (5, "f")]]
    topology = LocalTopology(WorkerConfig(partitions=1, key_stage=False, lateness=0), patterns=old, version=1)
    topology.produce([dumps_bytes(x[:3])])
    while topology.step():
        pass
    topology.host.adopt(new, 2)
    out = topology.run([dumps_bytes(x[3:])])
    assert out.switches[-1] == {"tenant": "default", "version": 2, "after": 3.0}
    assert [e.id for e in out.late] == ["d"]
    history = {"versions": [{"version": 1, "patterns": old}, {"version": 2, "patterns": new}],
               "switches": out.switches}
    expected = replay_versions(history, [e for e in x if e["id"] != "d"], allowed_lateness=0)
    assert [m.to_dict() for m in out.matches] == [m.to_dict() for m in expected]
    assert [(m.event_ids, m.pattern_set_version) for m in out.matches] == [(["a", "b"], 1)]


def test_goldrush_replay_pattern_history_reproduces_a_run_with_a_switch(mixed, tmp_path, capsys):
    """The command line: `goldrush replay --pattern-history H.json IN.jsonl` (H as `patterns history --json`)."""
    import json

    from goldrush.cli.main import main

    events, _ = mixed
    topology, _ = _switch_mid_stream(mixed, WorkerConfig(key_stage=False, partitions=2))
    history = tmp_path / "history.json"
    history.write_text(json.dumps({
        "versions": [{"version": 1, "time": 0, "message": "", "patterns": [p.to_dict() for p in ALL]},
                     {"version": 2, "time": 1, "message": "", "patterns": [p.to_dict() for p in _v2()]}],
        "switches": topology.out.switches, "rejected": []}))
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert main(["replay", "--pattern-history", str(history), str(source)]) == 0
    out, err = capsys.readouterr()
    printed = [json.loads(line) for line in out.splitlines()]
    assert Counter(m["match_id"] for m in printed) == match_ids(topology.out.matches)
    assert {m["pattern_set_version"] for m in printed} == {1, 2} and "version 2:" in err


def test_a_worker_follows_the_topic_unless_given_a_pattern_file():
    from goldrush.agents.worker import follows_pattern_store

    assert follows_pattern_store(None, None) is True
    assert follows_pattern_store("mine.py", None) is False  # `goldrush worker --patterns FILE`: no topic
    assert follows_pattern_store(None, "off") is False
    assert follows_pattern_store("mine.py", "on") is None  # refused: one or the other


def test_replay_versions_reports_an_evaluation_failure_at_its_input_index(monkeypatch):
    """As plain replay does (it said -1)."""
    from goldrush import event, sequence
    from goldrush.engine.engine import Engine

    pats = [Pattern("pair", sequence(event("x"), event("x")))]
    emit = Engine._emit

    def failing(self, cp, st, key, ev, occurrence):
        if ev.id == "b":  # completes the first pair; input index 2
            raise RuntimeError("boom")
        return emit(self, cp, st, key, ev, occurrence)

    monkeypatch.setattr(Engine, "_emit", failing)
    xs = [{"name": "x", "timestamp": t, "id": i} for t, i in [(1, "a"), (3, "c"), (2, "b"), (4, "d")]]
    history = {"versions": [{"version": 1, "patterns": pats}]}
    for result in (replay(pats, xs), replay_versions(history, xs)):
        assert [(r.index, r.code) for r in result.rejected] == [(2, "evaluation_failed")]


def test_a_version_number_belongs_to_the_first_record_written_with_it():
    """Concurrent pushes may write one number twice (goldrush/kafka/pattern_store.py): every reader
    takes the first, and skips a record whose number is not above those before it."""
    from goldrush.kafka.pattern_store import winning

    records = [{"version": 1, "message": "a"}, {"version": 2, "message": "b"}, {"version": 2, "message": "c"},
               {"version": 3, "message": "d"}, {"version": 2, "message": "late"}, {"version": None}]
    assert [r["message"] for r in winning(records)] == ["a", "b", "d"]


def test_a_tenant_held_back_until_its_recorded_switch_that_goes_quiet_crosses_it_in_the_flush():
    """Crash back to a snapshot from before the switch at 3; the events read again end at 5 (the
    watermark is 3, not past the switch point), then the tenant goes quiet: the flush releases what
    is buffered up to 3 under version 1 and the rest (4, 5) under version 2, as the first run would have."""
    from goldrush import event, sequence

    old = [Pattern("pair", sequence(event("x"), event("x")))]
    new = [Pattern("pair", sequence(event("x"), event("x"), within="1m"))]  # edited: starts fresh
    x = [{"name": "x", "timestamp": t, "id": f"x{t}"} for t in range(1, 6)]
    cfg = WorkerConfig(partitions=1, key_stage=False, lateness=2, checkpoint_every=1e9)
    first = LocalTopology(cfg, patterns=old, version=1)
    first.produce([dumps_bytes(x[:1])])
    while first.step():  # the first batch is checkpointed: the snapshot the crash goes back to
        pass
    first.produce([dumps_bytes(x[1:])])
    while first.step():
        pass
    first.host.adopt(new, 2)
    recorded = [*first.out.switches, *first.host.switches]  # (the pattern watch writes the latter)
    assert recorded[-1] == {"tenant": "default", "version": 2, "after": 3.0}
    second = LocalTopology(cfg, first.broker, patterns=new, version=2)
    second.host.remember(1, old)
    second.host.tenant_versions.learn(recorded)
    second.produce([])
    while second.step():
        pass
    assert second.host.tenant_versions.behind == {"default": 1}  # watermark 3: not past the switch point
    out = second.run()
    assert second.host.tenant_versions.behind == {}
    assert out.switches == [{"tenant": "default", "version": 2, "after": 3.0}]
    history = {"versions": [{"version": 1, "patterns": old}, {"version": 2, "patterns": new}],
               "switches": [*recorded, *out.switches]}
    expected = replay_versions(history, x, allowed_lateness=2)
    assert [(m.event_ids, m.pattern_set_version) for m in expected] == [(["x1", "x2"], 1), (["x4", "x5"], 2)]
    replayed = {m.match_id: m.to_dict() for m in expected}
    published = [*first.out.matches, *out.matches]  # at least once: (x1, x2) again after the crash
    assert [m.to_dict() for m in published] == [replayed[m.match_id] for m in published]
    assert set(match_ids(published)) == set(replayed)


def test_a_version_adopted_while_a_tenant_is_held_back_takes_over_at_its_recorded_switch():
    """Held back on version 1 until its recorded switch to 2 at 3, the tenant sees version 3 adopted
    first: at 3 it goes on to version 3 (2 has nothing left to evaluate), and replay over the
    recorded history agrees."""
    from goldrush import event, sequence

    v1 = [Pattern("pair", sequence(event("x"), event("x")))]
    v2 = [Pattern("pair", sequence(event("x"), event("x"), within="1m"))]
    v3 = [Pattern("pair", sequence(event("x"), event("x"), within="2m"))]
    x = [{"name": "x", "timestamp": t, "id": f"x{t}"} for t in range(1, 10)]
    cfg = WorkerConfig(partitions=1, key_stage=False, lateness=2, checkpoint_every=1e9)
    first = LocalTopology(cfg, patterns=v1, version=1)
    first.produce([dumps_bytes(x[:1])])
    while first.step():
        pass
    first.produce([dumps_bytes(x[1:5])])
    while first.step():
        pass
    first.host.adopt(v2, 2)
    recorded = [*first.out.switches, *first.host.switches]
    second = LocalTopology(cfg, first.broker, patterns=v2, version=2)
    second.host.remember(1, v1)
    second.host.tenant_versions.learn(recorded)
    while second.step():
        pass
    assert second.host.tenant_versions.behind == {"default": 1}
    second.host.adopt(v3, 3)
    assert second.host.tenant_versions.behind == {"default": 1}
    out = second.run([dumps_bytes(x[5:])])
    assert second.host.tenant_versions.behind == {}
    switches = [*recorded, *second.host.switches, *out.switches]
    assert [(s["version"], s["after"]) for s in out.switches] == [(2, 3.0), (3, 3.0)]
    history = {"versions": [{"version": 1, "patterns": v1}, {"version": 2, "patterns": v2},
                            {"version": 3, "patterns": v3}], "switches": switches}
    expected = replay_versions(history, x, allowed_lateness=2)
    replayed = {m.match_id: m.to_dict() for m in expected}
    published = [*first.out.matches, *out.matches]
    assert {m.pattern_set_version for m in published} == {1, 3}
    assert [m.to_dict() for m in published] == [replayed[m.match_id] for m in published]
    assert set(match_ids(published)) == set(replayed)
