"""Issue 3: actions and their policies, on crafted streams."""

from __future__ import annotations

import json

import pytest

from goldrush import F, Pattern, PatternError, concurrent, event, replay, sequence
from goldrush.actions import AlgedonicAlert, AutoScale, CoordinationAdjustment
from goldrush.actions.records import action_id, action_schema, parse_action
from goldrush.cli.main import main


def ev(name, ts, tenant="t", source=None, **data):
    out = {"name": name, "timestamp": ts, "tenant": tenant, "data": data}
    if source is not None:
        out["source"] = source
    return out


def every(times, name="x", **kw):
    return [ev(name, t, **kw) for t in times]


def fire(*actions, key_by=("tenant",)):
    """A pattern that matches at every `x` event (a one-step sequence)."""
    return Pattern("p", sequence(event("x")), key_by=key_by, action=list(actions))


# -- autoscale -------------------------------------------------------------------------
def test_autoscale_starts_at_min_and_steps_within_bounds():
    p = fire(AutoScale(step=2, min_instances=2, max_instances=7, cooldown="1s"))
    acts = replay([p], every([0, 10, 20, 30, 40]), actions=True)
    assert [(a.params.from_, a.params.to) for a in acts] == [(2, 4), (4, 6), (6, 7)]
    assert acts.engine.policies.stats["autoscale_at_bound"] == 2
    assert all(a.params.direction == "scale_out" and a.params.target == "t" for a in acts)


def test_autoscale_in_never_goes_below_min():
    p = fire(AutoScale(direction="scale_in", min_instances=2, cooldown="1s"))
    events = [ev("report", 0, instances=4)] + every([1, 2, 3, 4])
    acts = replay([p], events, actions=True)
    assert [(a.params.from_, a.params.to) for a in acts] == [(4, 3), (3, 2)]


def test_autoscale_cooldown_is_per_target_in_event_time():
    p = fire(AutoScale(target="source", cooldown="5m"), key_by=("tenant", "source"))
    events = [ev("x", 0, source="a"), ev("x", 10, source="b"), ev("x", 299, source="a"),
              ev("x", 300, source="a")]
    acts = replay([p], events, actions=True)
    assert [(a.params.target, a.timestamp, a.params.to) for a in acts] == [
        ("a", 0.0, 3), ("b", 10.0, 3), ("a", 300.0, 4)]
    assert acts.engine.policies.stats["autoscale_cooldown"] == 1


def test_autoscale_starts_from_reported_instances():
    p = fire(AutoScale(target="source", cooldown="1s"), key_by=("tenant", "source"))
    events = [ev("health", 0, source="a", instances=9), ev("x", 1, source="a"),
              ev("health", 2, source="a", instances=5), ev("x", 3, source="a")]
    acts = replay([p], events, actions=True)
    assert [(a.params.from_, a.params.to) for a in acts] == [(9, 10), (5, 6)]


def test_autoscale_target_must_be_a_key_field():
    with pytest.raises(PatternError, match="target 'source' is not one of the pattern's key_by"):
        Pattern("p", sequence(event("x")), action=AutoScale(target="source"))


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": "up"}, "direction"), ({"step": 0}, "step"), ({"min_instances": 5, "max_instances": 3}, "exceeds"),
    ({"cooldown": "never"}, "not a duration"),
])
def test_bad_autoscale_settings(kwargs, message):
    with pytest.raises(PatternError, match=message):
        AutoScale(**kwargs)


# -- algedonic alerts ----------------------------------------------------------------
@pytest.mark.parametrize("severity, limit", [("high", 10), ("medium", 5), ("low", 2)])
def test_alert_rate_limits_in_any_sliding_minute(severity, limit):
    p = fire(AlgedonicAlert(severity=severity))
    acts = replay([p], every([i * 0.5 for i in range(40)]), actions=True)  # 40 alerts in 20 s
    assert len(acts) == limit
    assert acts.engine.policies.stats["algedonic_rate_limited"] == 40 - limit


def test_critical_alerts_are_unlimited():
    acts = replay([fire(AlgedonicAlert(severity="critical"))], every(range(50)), actions=True)
    assert len(acts) == 50


def test_window_slides_and_suppressed_alerts_are_reported_on_the_next_one():
    p = fire(AlgedonicAlert(severity="low"))
    acts = replay([p], every([0, 1, 2, 3, 59, 60, 61, 62]), actions=True)
    # passes: 0, 1; held: 2, 3, 59; at 60 the alert at 0 is out of (0, 60] → passes
    assert [a.timestamp for a in acts] == [0.0, 1.0, 60.0, 61.0]
    assert acts[0].params.suppressed is None
    assert acts[2].params.suppressed.model_dump() == {"count": 3, "since": 2.0}
    assert acts[3].params.suppressed is None


def test_rate_limits_are_per_tenant_and_severity():
    p = Pattern("p", sequence(event("x")), action=[AlgedonicAlert(severity="low"),
                                                  AlgedonicAlert(severity="medium")])
    events = every([0, 1, 2], tenant="a") + every([0, 1, 2], tenant="b")
    acts = replay([p], events, actions=True)
    counts = {(t, s): 0 for t in "ab" for s in ("low", "medium")}
    for a in acts:
        counts[(a.tenant, a.params.severity)] += 1
    assert counts == {("a", "low"): 2, ("a", "medium"): 3, ("b", "low"): 2, ("b", "medium"): 3}


# -- coordination ----------------------------------------------------------------------
def test_coordination_adjustment_with_cooldown():
    p = fire(CoordinationAdjustment(factor=0.25, cooldown="1m"))
    acts = replay([p], every([0, 30, 60, 61]), actions=True)
    assert [a.timestamp for a in acts] == [0.0, 60.0]
    assert acts[0].params.strategy == "dampen" and acts[0].params.factor == 0.25


# -- records ----------------------------------------------------------------------------
def test_action_records_are_deterministic_and_json():
    p = Pattern("p", sequence(event("x"), event("y")), action=[AutoScale(), AlgedonicAlert()])
    events = [ev("x", 0), ev("y", 1)]
    a1 = replay([p], events, actions=True)
    a2 = replay([p], events, actions=True)
    assert [a.action_id for a in a1] == [a.action_id for a in a2]
    assert len({a.action_id for a in a1}) == 2
    m = a1.matches[0]
    assert a1[0].action_id == action_id(m.match_id, "autoscale", 0)
    d = a1[0].to_dict()
    assert d["type"] == "autoscale" and d["params"]["from"] == 2 and d["params"]["to"] == 3
    assert d["match_id"] == m.match_id and d["event_ids"] == m.event_ids and d["key"] == {"tenant": "t"}
    assert parse_action(json.dumps(d)) == a1[0]


def test_schema_documents_every_type():
    schema = action_schema()
    text = json.dumps(schema)
    for name in ("autoscale", "algedonic_alert", "coordination_adjustment", "suppressed", "from"):
        assert name in text


def test_actions_attach_to_builtins_without_editing_them():
    from goldrush.patterns import variety_imbalance

    bound = variety_imbalance.with_actions(AlgedonicAlert(severity="medium"))
    assert variety_imbalance.actions == () and len(bound.actions) == 1
    assert bound.to_dict()["actions"][0]["type"] == "algedonic_alert"
    assert Pattern.from_dict(json.loads(json.dumps(bound.to_dict()))) == bound


def test_replay_cli_prints_actions(tmp_path, capsys):
    f = tmp_path / "e.jsonl"
    f.write_text("".join(json.dumps(ev("vsm_core.algedonic.signal", i * 10)) + "\n" for i in range(12)))
    assert main(["replay", str(f), "--actions"]) == 0
    out, err = capsys.readouterr()
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["type"] == "autoscale" and record["pattern"] == "algedonic_signal_frequency"
    assert "actions: 1" in err
    assert main(["schema", "actions"]) == 0
    assert "algedonic_alert" in capsys.readouterr().out


# -- built-in triggers -------------------------------------------------------------------
V, OP, FAIL, RES = ("vsm_core.variety.calculated", "vsm_core.system1.operation",
                    "vsm_core.system1.failure", "vsm_core.system3.resources")


def actions_of(events):
    from goldrush.patterns import ALL

    return replay(ALL, events, actions=True)


def test_variety_overload_scales_the_service_out():
    (a,) = actions_of([ev(V, 0, source="svc", utilization=0.95)])
    assert (a.pattern, a.type, a.params.target, a.params.direction) == ("variety_overload", "autoscale",
                                                                        "svc", "scale_out")
    assert actions_of([ev(V, 0, source="svc", utilization=0.89)]) == []


def test_response_time_degradation_needs_three_slow_operations_in_a_minute():
    slow = [ev(OP, t, source="api", response_time_ms=1500) for t in (0, 20, 40)]
    (a,) = actions_of(slow)
    assert a.pattern == "response_time_degradation" and a.params.target == "api"
    assert actions_of([ev(OP, t, source="api", response_time_ms=1500) for t in (0, 40, 80)]) == []


def test_algedonic_signal_frequency():
    signals = [ev("vsm_core.algedonic.signal", 20 * i, signal="pain") for i in range(11)]
    (a,) = actions_of(signals)
    assert a.pattern == "algedonic_signal_frequency" and a.params.direction == "scale_out"


def test_low_utilization_scales_in_after_enough_low_samples():
    low = [ev(RES, 60 * i, utilization=0.2, instances=6) for i in range(5)]
    (a,) = actions_of(low)
    assert (a.pattern, a.params.direction, a.params.from_, a.params.to) == ("low_utilization", "scale_in", 6, 5)
    mixed = [ev(RES, 60 * i, utilization=0.2 if i != 2 else 0.5) for i in range(5)]
    assert [x.pattern for x in actions_of(mixed)] == []


def test_failure_cascade_is_a_critical_pain_alert():
    failures = [ev(FAIL, t, service=s) for t, s in ((0, "db"), (10, "orders"), (20, "payments"))]
    (a,) = actions_of(failures)
    assert (a.pattern, a.type, a.params.signal, a.params.severity) == (
        "failure_cascade", "algedonic_alert", "pain", "critical")


def test_coordination_oscillation_triggers_damping():
    adj = [ev("vsm_core.system2.coordination", 10 * i, action="adjust", adjustment_magnitude=0.1 * i)
           for i in range(12)]
    (a,) = actions_of(adj)
    assert (a.pattern, a.type, a.params.strategy) == ("coordination_oscillation", "coordination_adjustment",
                                                      "dampen")


def test_concurrent_trigger_respects_keys():
    p = Pattern("hot", concurrent(event("cpu", F.u > 0.9)), key_by=("tenant", "source"),
                action=AutoScale(target="source", cooldown="1s"))
    events = [ev("cpu", 0, source="a", u=0.95), ev("cpu", 1, source="b", u=0.1), ev("cpu", 2, source="b", u=0.99)]
    acts = replay([p], events, actions=True)
    assert [a.params.target for a in acts] == ["a", "b"]


def test_add_actions_keeps_the_existing_ones():
    from goldrush.patterns import coordination_oscillation_damping as p

    both = p.add_actions(AlgedonicAlert(severity="low"))
    assert [a.type for a in both.actions] == ["coordination_adjustment", "algedonic_alert"]


def test_action_reasons_say_when_in_iso_8601():
    """Reasons carried raw epoch floats (`matched at 1767225604.95`)."""
    p = fire(AutoScale(max_instances=9), CoordinationAdjustment(strategy="dampen", factor=0.5))
    acts = replay([p], every([1767225604.95]), actions=True)
    assert {a.params.reason for a in acts} == {"pattern p matched at 2026-01-01T00:00:04.950Z"}
