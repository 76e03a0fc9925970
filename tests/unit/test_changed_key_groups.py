"""A restart with another set of key groups while a tenant's policy work waits for verdicts.

Bit i of a waiting event's mask is key group i. Adding a pattern with a new `key_by` can
renumber the groups, and removing one leaves bits no verdict will ever clear: the tenant's
policy work, and every action of the tenant after it, waited for ever.
"""

from __future__ import annotations

import pytest

from goldrush import Pattern, decode, event, frequency, replay
from goldrush.actions import AlgedonicAlert
from goldrush.engine.stages import KeyStage, TenantStage

ALERT = AlgedonicAlert(signal="pain", severity="low", rate_limit=None)
TENANT = Pattern("tp", frequency(event("x"), count=(">=", 1), within="1m"), action=ALERT)
BY_SOURCE = Pattern("src", frequency(event("x"), count=(">=", 2), within="1m"), key_by=("tenant", "source"),
                    action=ALERT)
BY_SUBSYSTEM = Pattern("sub", frequency(event("y"), count=(">=", 1), within="1m"), key_by=("tenant", "subsystem"),
                       action=ALERT)
QUIET = Pattern("quiet", frequency(event("x"), count=(">=", 5), within="1m"), key_by=("tenant", "subsystem"))


def _events(*times: float) -> list:
    return [decode({"name": "x", "timestamp": t, "tenant": "t", "source": "s", "subsystem": "h", "id": f"e{t}"})
            for t in times]


def _stopped_while_waiting() -> tuple[TenantStage, list, dict]:
    """A tenant stage whose three events went to the key stage, with no verdict back yet."""
    old = TenantStage([TENANT, BY_SOURCE], allowed_lateness=0)
    old.engine.push_many(_events(1, 2, 3))
    assert old.waiting("t") == 3 and not old.drain_actions()
    return old, old.drain_outbox(), old.engine.snapshot_tenant("t")


def _restart(patterns: list, old: TenantStage, forwards: list, snap: dict) -> tuple[TenantStage, list]:
    """Restore into a stage of `patterns`; its key stage evaluates the forwards still in the topic."""
    new, keys = TenantStage(patterns, allowed_lateness=0), KeyStage(patterns)
    new.engine.restore_tenant("t", snap)
    for group, key, seq, ev in forwards:
        key_by = old.groups[group].key_by  # forwards and verdicts name the group by its key_by
        if (g := next((g for g in keys.groups if g.key_by == key_by), None)) is None:
            continue  # a key stage without the group dead-letters it (agents/app.py)
        _, done = keys.apply(g.index, key, [(seq, ev)])
        if (t := next((t for t in new.groups if t.key_by == key_by), None)) is not None and t.has_actions:
            new.on_results("t", t.index, done)
    return new, new.drain_actions()


@pytest.mark.parametrize("patterns", [
    [TENANT, BY_SOURCE],  # unchanged
    [TENANT, BY_SUBSYSTEM, BY_SOURCE],  # a group added ahead: BY_SOURCE's group is renumbered
    [TENANT, QUIET, BY_SOURCE],  # the same, by a group that has no actions and sends no verdicts
], ids=["unchanged", "renumbered", "renumbered-by-a-silent-group"])
def test_waiting_policy_work_completes_when_the_groups_are_renumbered(patterns):
    old, forwards, snap = _stopped_while_waiting()
    new, actions = _restart(patterns, old, forwards, snap)
    expected = replay([TENANT, BY_SOURCE], [e.to_dict() for e in _events(1, 2, 3)], actions=True).actions
    assert new.waiting("t") == 0
    assert [a.action_id for a in actions] == [a.action_id for a in expected]


@pytest.mark.parametrize("patterns", [
    [TENANT],
    [TENANT, BY_SUBSYSTEM],
    [TENANT, Pattern("src", *BY_SOURCE.clauses, key_by=BY_SOURCE.key_by)],  # the same group, without actions
], ids=["no-groups-left", "other-group", "group-without-actions"])
def test_work_waiting_for_a_removed_group_is_applied_at_once(patterns):
    old, forwards, snap = _stopped_while_waiting()
    new, actions = _restart(patterns, old, forwards, snap)
    # tp's alert waited only for BY_SOURCE's verdicts, which will never come now
    assert new.waiting("t") == 0
    assert [(a.pattern, a.type) for a in actions] == [("tp", "algedonic_alert")]
    new.engine.push_many(_events(4))
    assert new.waiting("t") == 0  # later events do not queue behind the old work


def test_a_verdict_naming_a_pattern_the_set_no_longer_has_is_accepted():
    old, forwards, snap = _stopped_while_waiting()
    renamed = Pattern("src2", *BY_SOURCE.clauses, key_by=BY_SOURCE.key_by, action=ALERT)
    new = TenantStage([TENANT, renamed], allowed_lateness=0)
    new.engine.restore_tenant("t", snap)
    keys = KeyStage([TENANT, BY_SOURCE])  # the old key stage's verdicts, still in the topic
    for group, key, seq, ev in forwards:
        _, done = keys.apply(group, key, [(seq, ev)])
        new.on_results("t", 0, done)  # raised KeyError: 'src'
    assert new.waiting("t") == 0
    assert [a.pattern for a in new.drain_actions()] == ["tp"]


def test_a_key_snapshot_saved_by_the_group_that_had_this_number_before_is_not_restored():
    """Key snapshots are stored under the group's number. After a restart that renumbered the groups,
    the snapshot under a number can be another group's, for a key with the same values ("h" as a
    source and as a subsystem): its last sequence number made this group skip the key's events."""
    before = KeyStage([BY_SUBSYSTEM, BY_SOURCE])
    h = decode({"name": "y", "timestamp": 1, "tenant": "t", "source": "h", "subsystem": "h"})
    before.apply(0, ("t", "h"), [(5, h)])  # BY_SUBSYSTEM's key ("t", "h") applied up to event 5
    saved = before.snapshot(0, ("t", "h"))
    after = KeyStage([BY_SOURCE, BY_SUBSYSTEM])  # number 0 is BY_SOURCE's now
    after.restore(0, ("t", "h"), saved)
    assert after.engines[0].states_reset == {"sub": 1}
    xs = [(seq, decode({"name": "x", "timestamp": seq, "tenant": "t", "source": "h", "id": f"x{seq}"}))
          for seq in (2, 3)]
    matches, done = after.apply(0, ("t", "h"), xs)  # skipped as re-deliveries before the change
    assert [d[0] for d in done] == [2, 3] and [m.pattern for m in matches] == ["src"]
    same = KeyStage([BY_SUBSYSTEM, BY_SOURCE])
    same.restore(0, ("t", "h"), saved)
    assert not same.engines[0].states_reset and same.last[(0, ("t", "h"))] == 5


def test_a_snapshot_from_before_layouts_were_recorded_is_released_when_no_group_is_left():
    old, forwards, snap = _stopped_while_waiting()
    del snap["policies"]["groups"]  # as earlier versions wrote it
    new, actions = _restart([TENANT], old, forwards, snap)
    assert new.waiting("t") == 0 and [a.pattern for a in actions] == ["tp"]
    same, actions = _restart([TENANT, BY_SOURCE], old, forwards, snap)  # taken to be the same groups
    assert same.waiting("t") == 0 and [a.pattern for a in actions] == ["tp", "src"]
