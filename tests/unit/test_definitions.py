"""A pattern edited under the same name must not be handed the old definition's saved state."""

from __future__ import annotations

import os
import subprocess
import sys

from goldrush import Engine, F, Pattern, decode, event, frequency, recent, sequence
from goldrush.compiler.compiled import CompiledSet
from goldrush.compiler.definitions import definition_id
from goldrush.engine.stages import KeyStage

BURST = Pattern("burst", frequency(event("x"), count=(">=", 3), within="1m"))
STEADY = Pattern("steady", frequency(event("y"), count=(">=", 2), within="10m"))


def ev(name: str, t: float, tenant: str = "t1", **data) -> object:
    return decode({"name": name, "timestamp": t, "tenant": tenant, "source": "svc", "data": data})


def test_the_id_is_pinned_so_that_an_upgrade_never_resets_saved_state_by_accident():
    assert definition_id(BURST) == "1598afe70114aa80"


def test_the_id_follows_clauses_and_key_by_only():
    assert definition_id(BURST) != definition_id(Pattern("burst", frequency(event("x"), count=(">=", 4), within="1m")))
    assert definition_id(BURST) != definition_id(Pattern("burst", sequence(event("x"), event("z"), within="1m")))
    assert definition_id(BURST) != definition_id(Pattern("burst", *BURST.clauses, key_by=("tenant", "source")))
    # neither the name, the cooldown, the description nor the actions give the state its meaning
    assert definition_id(BURST) == definition_id(Pattern("other", *BURST.clauses, cooldown="5m", description="d"))


def test_the_id_is_the_same_in_every_process_even_for_a_set_of_strings():
    code = ("from goldrush.compiler.definitions import definition_id; from goldrush import F, Pattern, event, recent; "
            "print(definition_id(Pattern('p', recent(event('x', F.env.isin({'prod', 'staging', 'dev', 'qa'}))))))")
    ids = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3", "4")}
    assert len(ids) == 1, ids
    assert ids == {definition_id(Pattern("p", recent(event("x", F.env.isin(["dev", "prod", "qa", "staging"])))))
                   + "\n"}


def _saved(patterns, events, legacy: bool = False) -> dict:
    engine = Engine(patterns, allowed_lateness=0)
    engine.push_many(events)
    snap = engine.snapshot_tenant("t1")
    if legacy:  # as versions before definitions were recorded wrote it
        del snap["definitions"]
    return snap


def test_a_changed_pattern_starts_fresh_and_an_unchanged_one_keeps_its_state():
    snap = _saved([BURST, STEADY], [ev("x", 1), ev("x", 2), ev("y", 3)])
    changed = Pattern("burst", sequence(event("x"), event("z"), within="1m"))  # its state would not fit
    engine = Engine([changed, STEADY], allowed_lateness=0)
    engine.restore_tenant("t1", snap)
    assert engine.states_reset == {"burst": 1}
    matches = engine.push_many([ev("y", 4), ev("x", 5), ev("z", 6)])
    # steady counted the y before the restart; burst's sequence began after it (x at 5, not 1)
    assert [(m.pattern, m.timestamp) for m in matches] == [("steady", 4.0), ("burst", 6.0)]
    burst = next(m for m in matches if m.pattern == "burst")
    fresh = Engine([changed], allowed_lateness=0).push_many([ev("x", 5), ev("z", 6)])
    assert [m.match_id for m in fresh] == [burst.match_id]


def test_a_changed_pattern_whose_state_would_fit_starts_fresh_too():
    snap = _saved([BURST], [ev("x", 1), ev("x", 2)])
    stricter = Pattern("burst", frequency(event("x", F.level > 1), count=(">=", 3), within="1m"))
    engine = Engine([stricter], allowed_lateness=0)
    engine.restore_tenant("t1", snap)
    assert engine.states_reset == {"burst": 1}
    assert engine.push_many([ev("x", 3, level=5)]) == []  # the two x before counted under the old predicate


def test_a_snapshot_without_definitions_is_loaded_when_it_fits_and_dropped_when_it_does_not():
    snap = _saved([BURST, STEADY], [ev("x", 1), ev("x", 2), ev("y", 3)], legacy=True)
    same = Engine([BURST, STEADY], allowed_lateness=0)
    same.restore_tenant("t1", snap)
    assert not same.states_reset
    assert [m.pattern for m in same.push_many([ev("x", 4)])] == ["burst"]
    changed = Engine([Pattern("burst", sequence(event("x"), event("z"), within="1m")), STEADY], allowed_lateness=0)
    changed.restore_tenant("t1", snap)  # raised TypeError before
    assert changed.states_reset == {"burst": 1}
    assert [m.pattern for m in changed.push_many([ev("y", 4)])] == ["steady"]


def test_the_key_stage_drops_a_changed_patterns_key_state():
    keyed = Pattern("per_source", frequency(event("x"), count=(">=", 3), within="1m"), key_by=("tenant", "source"))
    before = KeyStage(CompiledSet([keyed]))
    before.engines[0].push_many([ev("x", 1), ev("x", 2)])
    snap = before.snapshot(0, ("t1", "svc"))
    changed = Pattern("per_source", sequence(event("x"), event("z"), within="1m"), key_by=("tenant", "source"))
    after = KeyStage(CompiledSet([changed]))
    after.restore(0, ("t1", "svc"), snap)
    assert after.engines[0].states_reset == {"per_source": 1}
    same = KeyStage(CompiledSet([keyed]))
    same.restore(0, ("t1", "svc"), snap)
    assert not same.engines[0].states_reset and same.state_size() == 1
