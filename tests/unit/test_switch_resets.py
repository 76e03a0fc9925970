"""`goldrush_states_reset_total` across pattern-set switches (agents/host.py `states_reset`): the
states a switch drops are counted wherever the drop happens, and the counter never goes down."""

from __future__ import annotations

import pytest

from goldrush import event, frequency
from goldrush.agents.config import WorkerConfig
from goldrush.agents.local_run import LocalTopology
from goldrush.agents.messages import Keyed
from goldrush.compiler.keygroups import partition_key
from goldrush.dsl import Pattern
from goldrush.events.codec import dumps_bytes, to_row
from goldrush.events.envelope import decode


def _per_source(n: int) -> Pattern:
    """One finer-keyed pattern; each `n` is another definition."""
    return Pattern("busy", frequency(event("op"), (">=", n), "1m"), key_by=("tenant", "source"))


def _per_tenant(n: int) -> Pattern:
    return Pattern("ops", frequency(event("op"), (">=", n), "1m"))


def _ops(start: float, n: int) -> list[dict]:
    return [{"name": "op", "timestamp": start + i, "source": "s1", "id": f"o{start + i}"} for i in range(n)]


def test_a_key_restored_into_an_earlier_versions_stage_counts_its_reset():
    """A worker restarted on version 3 gets a keyed message of version 2 (in flight at the restart) for
    a key whose snapshot version 1 wrote: the key is restored into version 2's stage, where `busy`'s
    definition differs. That reset is in /metrics like every other."""
    cfg = WorkerConfig(partitions=1, lateness=0)
    first = LocalTopology(cfg, patterns=[_per_source(2)], version=1)
    first.run([dumps_bytes(_ops(0, 5))])
    second = LocalTopology(cfg, first.broker, patterns=[_per_source(4)], version=3)
    second.host.key_versions.remember(2, [_per_source(3)])
    key = ("default", "s1")
    ev = decode(_ops(100, 1)[0])
    second.broker.append("keyed", partition_key(0, key),
                         Keyed(["tenant", "source"], list(key), [[1000, to_row(ev)]], 2).to_bytes())
    out = second.run()
    assert out.dead == []
    assert second.host.key_versions.home  # the key is in version 2's stage
    assert second.host.states_reset() == {"busy": 1}


def test_resets_counted_before_a_switch_stay_counted_after_it():
    """The tenant engine a switch replaces takes its counts with it; /metrics must not go down."""
    cfg = WorkerConfig(partitions=1, lateness=0)
    first = LocalTopology(cfg, patterns=[_per_tenant(2)], version=1)
    first.run([dumps_bytes(_ops(0, 5))])
    second = LocalTopology(cfg, first.broker, patterns=[_per_tenant(3)], version=2)
    second.run([dumps_bytes(_ops(10, 2))])  # restored under an edited `ops`: reset
    assert second.host.states_reset() == {"ops": 1}
    second.host.adopt([_per_tenant(3), Pattern("other", frequency(event("x"), (">=", 1), "1m"))], 3)
    assert second.host.states_reset() == {"ops": 1}


def test_a_message_of_an_older_version_after_a_restart_does_not_take_a_key_back():
    """A key moved to version 2 (its snapshot says so); after a restart a version-1 message for it comes
    again (a re-delivery, or a tenant stage resuming under version 1 until its recorded switch). The
    key is loaded where it is, version 2: not into version 1's stage, which would drop the edited
    pattern's state and count a reset."""
    cfg = WorkerConfig(partitions=1, lateness=0)
    first = LocalTopology(cfg, patterns=[_per_source(2)], version=1)
    first.run([dumps_bytes(_ops(0, 3))])
    first.host.adopt([_per_source(3)], 2)
    first.run([dumps_bytes(_ops(10, 2))])  # the key moves to version 2
    second = LocalTopology(cfg, first.broker, patterns=[_per_source(3)], version=2)
    second.host.remember(1, [_per_source(2)])
    key = ("default", "s1")
    ev = decode(_ops(2, 1)[0])
    second.broker.append("keyed", partition_key(0, key),
                         Keyed(["tenant", "source"], list(key), [[3, to_row(ev)]], 1).to_bytes())
    second.run()
    assert second.host.states_reset() == {}
    assert second.host.key_versions.home == {} and second.host.keys.state_size() > 0


def _in_flight(topology: LocalTopology, key: tuple, seq: int, ev: dict, version: int, progress: tuple) -> None:
    """A progress note the tenant stage sent before the switch, then a keyed message of `version` that
    is still on its way: what a worker taking over the key's partition reads."""
    from goldrush.agents.messages import Progress
    from goldrush.agents.stages.keyed import KeyStep

    kb = partition_key(0, key)
    partition = next(iter(p for p, records in enumerate(topology.broker.topics["keyed"])
                          if any(r.key == kb for r in records)), 0)
    topology.broker.append("keyed", None, Progress(key[0], *progress).to_bytes(), partition)
    topology.broker.append("keyed", kb, Keyed(["tenant", "source"], list(key), [[seq, to_row(decode(ev))]],
                                              version).to_bytes())
    assert isinstance(topology.steps["keyed"][0], KeyStep)


@pytest.mark.parametrize("moved", ["restart", "revoke"])
def test_a_progress_note_does_not_load_a_key_into_the_new_version_before_its_old_events(moved):
    """The rebalance window: a worker that took over a key's partition after a switch reads a progress
    note sent before the switch, then events of the old version for the key. The note must not load
    the key into the new version's stage (whose `busy` needs 3 events, not 2): the old version's
    events are evaluated with the old version, as `replay_versions` says."""
    from goldrush.engine.versions import replay_versions

    cfg = WorkerConfig(partitions=2, lateness=0, key_expiry=1e-9)
    v1, v2 = [_per_source(2)], [_per_source(3)]
    first = LocalTopology(cfg, patterns=v1, version=1)
    first.run([dumps_bytes(_ops(0, 1))])  # s1 at 0: seq 1
    if moved == "restart":  # another worker (on version 2, knowing 1) owns the partitions now
        worker = LocalTopology(cfg, first.broker, patterns=v2, version=2)
        worker.host.remember(1, v1)
    else:  # a worker that switched live, then lost its partitions and got them back
        worker = LocalTopology(cfg, first.broker, patterns=v1, version=1)
        worker.host.adopt(v2, 2)
        worker.host.unload_all()
    key = ("default", "s1")
    _in_flight(worker, key, 2, _ops(1, 1)[0], 1, (1, 0.0))
    out = worker.run()
    history = {"versions": [{"version": 1, "patterns": v1}, {"version": 2, "patterns": v2}],
               "switches": [{"tenant": "default", "version": 2, "after": 1.0}]}
    expected = replay_versions(history, _ops(0, 2), allowed_lateness=0)
    assert [(m.pattern, m.timestamp, m.pattern_set_version) for m in expected] == [("busy", 1.0, 1)]
    assert [m.to_dict() for m in out.matches] == [m.to_dict() for m in expected]
    assert worker.host.states_reset() == {}
