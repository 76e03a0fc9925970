"""Finer keys evaluated beside their tenants (agents/keys_in_place.py), without a broker: the same
matches and actions as replay with nothing through the keyed and verdicts topics, a crash between
a key's checkpoint and its tenant's answered from the key's memo, the hop kept while anything is
on its way through the keyed topic, and idle keys let go."""

from __future__ import annotations

import pytest

from goldrush import replay
from goldrush.agents.config import WorkerConfig
from goldrush.agents.keys_in_place import KeysHere
from goldrush.agents.local_run import LocalBroker, LocalTopology
from goldrush.dsl import Pattern, event, frequency
from goldrush.events.codec import dumps_bytes
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from tests.support.switching import match_ids


def _batched(events, size=50):
    return [dumps_bytes(events[i:i + size]) for i in range(0, len(events), size)]


@pytest.fixture(scope="module")
def mixed():
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    expected = replay(ALL, events)
    assert len(expected.actions) > 5
    return events, expected


def _as_replayed(published, expected) -> None:
    assert {m.match_id: m.to_dict() for m in published.matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a.action_id: a.to_dict() for a in published.actions} == \
        {a.action_id: a.to_dict() for a in expected.actions}


@pytest.mark.parametrize("partitions", [1, 3])
def test_keys_in_place_give_replays_matches_and_actions_without_the_keyed_and_verdicts_topics(mixed, partitions):
    events, expected = mixed
    topology = LocalTopology(WorkerConfig(partitions=partitions))
    out = topology.run(_batched(events), batch=7)
    _as_replayed(out, expected)
    assert out.dead == [] and topology.host.policy_waiting() == 0
    keyed = topology.metrics.get("goldrush_events_keyed_total")
    assert keyed > 1000 and topology.metrics.get("goldrush_events_keyed_in_place_total") == keyed
    assert all(records == [] for name in ("keyed", "verdicts") for records in topology.broker.topics[name])
    assert topology.metrics.get("goldrush_events_forwarded_total") == 0
    # the keys' snapshots are in their keyed partitions' changelog, as the hop would have written them
    assert any(key.startswith("[") for key in topology.broker.tables["key-state"])


class Tripwire(dict):
    """A tenant-state table whose `at`-th write fails: the worker dies after writing its keys'
    snapshots and before its tenants' (the publisher flushes the keys first)."""

    def __init__(self, at: int | None = None):
        super().__init__()
        self.at, self.writes = at, 0

    def __setitem__(self, key, value):
        self.writes += 1
        if self.writes == self.at:
            self.at = None
            raise ConnectionError("killed between the keys' and the tenants' checkpoints")
        super().__setitem__(key, value)


def _writes(cfg, events) -> int:
    broker = LocalBroker(cfg.partitions)
    table = broker.tables["tenant-state"] = Tripwire()
    LocalTopology(cfg, broker).run(_batched(events), batch=5)
    return table.writes


@pytest.mark.parametrize("crash_at", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_a_crash_between_a_keys_checkpoint_and_its_tenants_is_answered_from_the_keys_memo(mixed, crash_at):
    """The key's snapshot is on the broker, its tenant's is not: the restarted tenant numbers those
    events again, the key skips them as re-deliveries, and its memo answers for them. Without the
    memo the tenant's policy work waits forever and its actions are never taken."""
    events, expected = mixed
    cfg = WorkerConfig(partitions=2, checkpoint_every=0, batch=20)
    broker = LocalBroker(cfg.partitions)
    table = broker.tables["tenant-state"] = Tripwire(int(crash_at * _writes(cfg, events)))
    first = LocalTopology(cfg, broker)
    first.produce(_batched(events))
    with pytest.raises(ConnectionError):
        while first.step(batch=5):
            pass
    assert table.at is None  # it died there
    second = LocalTopology(cfg, broker)
    assert second.settle.here is not None and second.settle.here.active
    second.run(batch=5)
    assert second.host.policy_waiting() == 0
    published = [*first.out.matches, *second.out.matches]
    assert set(match_ids(published)) == set(match_ids(expected))
    assert {a.action_id for a in [*first.out.actions, *second.out.actions]} == {a.action_id for a in expected.actions}
    assert second.metrics.get("goldrush_events_keyed_in_place_total") > 0


def test_the_hop_is_kept_while_keyed_messages_are_on_their_way(mixed):
    """A worker that took the hop died with keyed messages unread: its successor takes the hop too
    (in place, it would evaluate later events of a key before those), and loses nothing."""
    events, expected = mixed
    hop = WorkerConfig(partitions=2, in_place_keys=False)
    first = LocalTopology(hop)
    first.produce(_batched(events))
    broker = first.broker

    def unread() -> int:
        return sum(len(records) - first.position.get(("keyed", p), 0) for p, records in enumerate(broker.topics["keyed"]))

    steps = 0
    while first.step(batch=5) and (steps < 40 or unread() == 0):
        steps += 1
    assert unread() > 0
    second = LocalTopology(WorkerConfig(partitions=2), broker)
    assert not second.settle.here.active
    second.run(batch=5)
    assert set(match_ids([*first.out.matches, *second.out.matches])) == set(match_ids(expected))
    assert {a.action_id for a in [*first.out.actions, *second.out.actions]} == {a.action_id for a in expected.actions}
    # everything read and committed: the next start goes in place
    assert LocalTopology(WorkerConfig(partitions=2), broker).settle.here.active


def test_a_generation_goes_in_place_only_owning_every_keyed_partition_read_to_its_end():
    here = KeysHere(key_step=None, topic="keyed", partitions=3, key_expiry=30.0)  # type: ignore[arg-type]
    assert here.decide({0, 1, 2}, {0, 1, 2})
    assert not here.decide({0, 1}, {0, 1})  # another worker owns partition 2
    assert not here.decide({0, 1, 2}, {0, 2})  # partition 1 has keyed messages unread
    assert not here.decide(None, set())  # rebalancing
    here.decide({0, 1, 2}, {0, 1, 2})
    here.reset()
    assert not here.active


def test_idle_keys_are_let_go_in_place_with_their_tenants_checkpoints():
    """Each source's events are 16 s apart and `busy` needs two within 2 s: a key is idle soon after
    its event, and is let go with a checkpoint of its tenant taken after that, which is on the broker."""
    busy = Pattern("busy", frequency(event("op"), (">=", 2), "2s"), key_by=("tenant", "source"))
    events = [{"name": "op", "timestamp": 4 * i, "source": f"s{i % 4}", "id": f"e{i}"} for i in range(40)]
    expected = replay([busy], events, allowed_lateness=0)
    runs = {}
    for expiry in (0.0, 1e-9):
        cfg = WorkerConfig(partitions=2, checkpoint_every=0, key_expiry=expiry, lateness=0)
        topology = runs[expiry] = LocalTopology(cfg, patterns=[busy])
        out = topology.run([dumps_bytes(ev) for ev in events], batch=1)
        assert match_ids(out.matches) == match_ids(expected) and topology.settle.here.active
    kept, let_go = runs[0.0], runs[1e-9]
    assert kept.host.key_index.forgotten == 0 < let_go.host.key_index.forgotten
    assert let_go.host.keys.state_size() < kept.host.keys.state_size()
    snapshots = {k: v for k, v in let_go.broker.tables["key-state"].items() if not k.startswith("floor")}
    assert len(snapshots) < 4 == len(kept.broker.tables["key-state"])
    assert any(key.startswith("floor\x00") for key in let_go.broker.tables["key-state"])


def test_a_keys_memo_answers_only_for_the_events_it_evaluated_in_place():
    """The memo covers (lo, hi]: what the key evaluated with `memo_after` since the tenant's checkpoint
    on the broker. Events evaluated without it (through the hop) leave the memo as it was, and a later
    in-place event starts a new one: a re-delivery outside the range the key evaluated in place is not
    answered. (Inside it, an event without matches is answered "no matches": in place a key gets its
    tenant's events in order, so every number in the range that is its own was evaluated.)"""
    from goldrush.engine.stages import KeyStage
    from goldrush.events.envelope import Event

    busy = Pattern("busy", frequency(event("op"), (">=", 2), "1m"), key_by=("tenant", "source"))
    stage = KeyStage([busy])
    key = ("t", "s")

    def ev(seq: int) -> tuple[int, Event]:
        return seq, Event("op", float(seq), tenant="t", source="s", id=f"e{seq}")

    _, done = stage.apply(0, key, [ev(1), ev(2), ev(3)], memo_after=0)
    assert [seq for seq, found in done if found] == [2]  # the second op in a minute: a rising edge
    # re-delivered (the tenant restarted from its checkpoint at 0): answered from the memo
    _, again = stage.apply(0, key, [ev(1), ev(2), ev(3)], memo_after=0)
    assert again == done
    # the tenant's checkpoint at 2 is on the broker: 1 and 2 are no longer kept
    _, _ = stage.apply(0, key, [ev(4)], memo_after=2)
    _, again = stage.apply(0, key, [ev(2), ev(3), ev(4)], memo_after=2)
    assert [seq for seq, _ in again] == [3, 4]
    # through the hop: evaluated, not memoised; its re-delivery is not answered here (the verdicts topic does)
    _, hop = stage.apply(0, key, [ev(5)])
    assert [seq for seq, _ in hop] == [5]
    assert [seq for seq, _ in stage.apply(0, key, [ev(5)])[1]] == []
    # in place again: a new memo from 5 on, which does not claim 5
    stage.apply(0, key, [ev(6)], memo_after=2)
    assert [seq for seq, _ in stage.apply(0, key, [ev(5), ev(6)], memo_after=2)[1]] == [6]
    # the memo is in the key's snapshot, and back with it
    snap = stage.snapshot(0, key)
    restored = KeyStage([busy])
    restored.restore(0, key, snap)
    assert restored.apply(0, key, [ev(6)])[1] == [[6, []]]


def test_a_hot_keys_memo_stays_bounded():
    """A key matching on every event, with checkpoints an hour apart: its memo (all its matches since
    its tenant's checkpoint before last) would grow with every event and go into every snapshot of
    it. Above MEMO_CHECKPOINT matches its tenant's checkpoints come at once, which trims it."""
    from goldrush.agents.keys_in_place import MEMO_CHECKPOINT
    from goldrush.dsl import sequence
    from goldrush.dsl.actions import AlgedonicAlert

    every = Pattern("every", sequence(event("op")), key_by=("tenant", "source"),
                    action=AlgedonicAlert(signal="pain", severity="low", rate_limit=1_000_000))
    events = [{"name": "op", "timestamp": i / 10, "source": "s1", "id": f"e{i}"} for i in range(20_000)]
    expected = replay([every], events, allowed_lateness=0)
    topology = LocalTopology(WorkerConfig(partitions=1, checkpoint_every=3600, lateness=0, batch=50),
                             patterns=[every])
    out = topology.run([dumps_bytes(events[i:i + 100]) for i in range(0, len(events), 100)], batch=5)
    _as_replayed(out, expected)
    memo = next(iter(topology.host.keys.memos.values()))
    assert len(memo[2]) <= 3 * MEMO_CHECKPOINT
    snapshots = [v for k, v in topology.broker.tables["key-state"].items() if k.startswith("[")]
    assert len(snapshots) == 1 and len(snapshots[0]) < 3 * MEMO_CHECKPOINT * 200


def test_a_let_go_key_touched_again_before_the_delete_is_published_keeps_its_state():
    """Outcomes are published after they are taken, and other stages take theirs in between: a key let
    go in one outcome, then evaluated and checkpointed in the next two, must not be unloaded when the
    first is published (it would be loaded again from the second's snapshot, losing the third's event)."""
    busy = Pattern("busy", frequency(event("op"), (">=", 2), "2s"), key_by=("tenant", "source"))
    early = [{"name": "op", "timestamp": 4 * i, "source": f"s{i % 2}", "id": f"e{i}"} for i in range(10)]
    # the first lets s0 go (idle, not touched in that outcome); the next three are s0's
    late = [{"name": "op", "timestamp": 100 + i / 2, "source": "s0" if i else "s1", "id": f"l{i}"} for i in range(4)]
    expected = replay([busy], [*early, *late], allowed_lateness=0)
    topology = LocalTopology(WorkerConfig(partitions=1, lateness=0, checkpoint_every=0, key_expiry=1e-9,
                                          in_place=False), patterns=[busy])
    topology.run([dumps_bytes(ev) for ev in early], batch=1)

    def handle(ev: dict):
        topology.produce([dumps_bytes(ev)])
        assert topology._source_step(1)  # ingest: to engine-in
        records = topology._take("engine-in", 0, 10)
        return topology.tenant_step.handle(records)

    first, second, third = handle(late[0]), handle(late[1]), handle(late[2])
    topology.apply(first)
    topology.apply(second)
    fourth = handle(late[3])
    topology.apply(third)
    topology.apply(fourth)
    topology.run()
    assert match_ids(topology.out.matches) == match_ids(expected)
