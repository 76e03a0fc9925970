"""`goldrush.explain` agrees with the engine: its matches are replay's, its figures are the engine's."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldrush import F, Pattern, event, explain, frequency, recent, replay, sequence, trend
from goldrush.cli.main import main
from goldrush.compiler.codegen import compile_predicate
from goldrush.compiler.simplify import reduce
from goldrush.engine.replay import feed
from goldrush.explainer.diagnose import diagnose
from goldrush.explainer.observer import Observer
from goldrush.simulator import simulate
from tests.support.strategies import expressions, field_values, patterns, streams

T0 = 1_767_225_600.0


def ev(name, t, i, tenant="acme", source=None, **data):
    out = {"name": name, "timestamp": T0 + t, "tenant": tenant, "id": f"e{i}", "data": data}
    if source is not None:
        out["source"] = source
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.dictionaries(st.sampled_from(["v", "w", "s", "n"]), field_values, max_size=4))
def test_the_diagnosis_verdict_is_the_compiled_predicates(expr, data):
    if "n" in data:
        data["n"] = {"k": data["n"]}
    node = reduce(expr.node)
    pred = compile_predicate(node)
    selected = True if pred is None else pred(data)
    if node[0] == "const":
        return
    assert (diagnose(node, data).verdict is True) == selected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns("p"), patterns("q"), streams(max_size=30))
def test_explained_matches_are_the_replay_matches(p, q, events):
    expected = [m.to_dict() for m in replay([p, q], events, allowed_lateness="2s") if m.pattern == "p"]
    obs = Observer([p, q], allowed_lateness="2s")  # both watched
    list(feed(obs, enumerate(events), []))
    for name in ("p", "q"):
        w = obs.watches[name]
        assert [m["match"] for m in w.matches] == [m.to_dict() for m in replay([p, q], events) if m.pattern == name]
        assert w.disagreements == []  # every clause state read agrees with what the engine decided
    result = explain([p, q], events, pattern="p")
    assert [m["match"] for m in result.matches] == expected


def _readme_slow_checkout():
    return Pattern(
        "slow_checkout",
        sequence(event("vsm_core.system1.operation", (F.response_time_ms > 800) & (F.status == "slow")),
                 event("vsm_core.system1.operation", F.response_time_ms > 800, within="30s"), within="1m"),
        recent(event("vsm_core.system4.scan", {"market_sentiment": "positive"}), within="10m"),
        key_by=("tenant", "source"), cooldown="5m")


def test_the_readme_example_says_its_scan_events_have_no_source():
    events = list(simulate("mixed", tenants=2, rate=10, duration=3600))
    result = explain([_readme_slow_checkout()], events, pattern="slow_checkout")
    assert result.matches == []
    assert "clause #2 (recent)" in result.reason and "lack key field 'source'" in result.reason
    recent_specs = result.to_dict()["clauses"][1]["specs"][0]
    assert recent_specs["seen"] == 0 and recent_specs["without_key"]["source"] > 0
    kinds = result.to_dict()["hold_counts"]
    assert kinds.get("sequence_fired_but_blocked", 0) > 0  # the sequence did fire


def test_unknown_and_false_reasons_with_nearest_values():
    events = [ev("op", 0, 1, v=5), ev("op", 1, 2, v=9), ev("op", 2, 3), ev("op", 3, 4, v=None),
              ev("op", 4, 5, v="x"), ev("op", 5, 6, v=float("nan")), ev("op", 6, 7, v=12)]
    p = Pattern("p", frequency(event("op", F.v > 10), (">=", 2), "1m"))
    spec = explain([p], events, pattern="p").to_dict()["clauses"][0]["specs"][0]
    assert (spec["seen"], spec["selected"]) == (7, 1)
    assert spec["false"]["(F.v > 10)"]["count"] == 2
    assert spec["false"]["(F.v > 10)"]["nearest"]["value"] == 9
    assert spec["unknown"] == {"F.v missing in (F.v > 10)": 1, "F.v null in (F.v > 10)": 1,
                               "F.v is a string ('x'), not a number in (F.v > 10)": 1,
                               "F.v NaN in (F.v > 10)": 1}


def test_a_frequency_nearest_miss_is_the_engines_count():
    events = [ev("a", i * 10, i) for i in range(7)] + [ev("a", 1000 + i, 100 + i) for i in range(4)]
    p = Pattern("p", frequency(event("a"), (">", 10), "5m"))
    peak = explain([p], events, pattern="p").to_dict()["clauses"][0]["peak"]
    assert peak["count"] == 7 and peak["at"] == T0 + 60
    assert replay([Pattern("p", frequency(event("a"), (">=", peak["count"]), "5m"))], events)
    assert not replay([Pattern("p", frequency(event("a"), (">=", peak["count"] + 1), "5m"))], events)


def test_a_trend_nearest_miss_is_the_engines_fit():
    values = [1, 3, 2, 4, 3, 5, 2, 6]
    events = [ev("m", i * 10, i, x=v) for i, v in enumerate(values)]
    p = Pattern("p", trend("x", "increasing", duration="5m", confidence=0.999))
    result = explain([p], events, pattern="p")
    peak = result.to_dict()["clauses"][0]["peak"]
    conf, at = peak["confidence"], peak["at"]
    assert 0.5 < conf < 0.999 and "trend" in result.reason
    lower = replay([Pattern("p", trend("x", "increasing", duration="5m", confidence=conf - 1e-9))], events)
    assert lower and lower[0].timestamp == at
    assert not replay([Pattern("p", trend("x", "increasing", duration="5m", confidence=conf + 1e-6))], events)


def test_a_sequence_nearest_miss_names_the_step_and_its_deadline():
    events = [ev("a", 0, 1), ev("b", 5, 2), ev("c", 100, 3)]
    p = Pattern("p", sequence(event("a"), event("b"), event("c", within="30s")))
    result = explain([p], events, pattern="p")
    peak = result.to_dict()["clauses"][0]["peak"]
    assert (peak["reached"], peak["steps"], peak["events"], peak["deadline"]) == (2, 3, ["e1", "e2"], T0 + 35)
    assert "reached step 2 of 3" in result.reason and "event('c')" in result.reason
    assert replay([Pattern("p", sequence(event("a"), event("b")))], events)


def test_a_match_shows_its_events_states_and_actions_and_cooldown_holds():
    from goldrush.actions import AlgedonicAlert

    p = Pattern("p", sequence(event("a"), event("b")), cooldown="1m", action=AlgedonicAlert(severity="high"))
    events = [ev("a", 0, 1), ev("b", 1, 2), ev("a", 2, 3), ev("b", 3, 4)]
    result = explain([p], events, pattern="p")
    (m,) = result.matches
    assert [e["id"] for e in m["events"]] == ["e1", "e2"] and m["clauses"][0]["fired_with"] == ["e1", "e2"]
    assert m["actions"][0]["type"] == "algedonic_alert"
    assert result.to_dict()["hold_counts"] == {"cooldown": 1}
    again = explain([p], events, pattern="p", match=m["match"]["match_id"])
    assert again.to_dict()["match"] == m
    with pytest.raises(KeyError, match="no match with id"):
        explain([p], events, pattern="p", match="nope")
    with pytest.raises(KeyError, match="did you mean 'p'"):
        explain([p], events, pattern="pp")


def test_tenant_key_and_at_narrow_the_explanation():
    p = Pattern("p", frequency(event("a"), (">=", 2), "1m"), key_by=("tenant", "source"))
    events = [ev("a", 0, 1, source="x"), ev("a", 1, 2, source="y"), ev("a", 2, 3, source="x"),
              ev("a", 3, 4, tenant="other", source="x"), ev("a", 4, 5)]
    result = explain([p], events, pattern="p", key={"source": "x"}, tenant="acme", at=T0 + 1.5)
    doc = result.to_dict()
    assert doc["clauses"][0]["specs"][0]["seen"] == 2 and len(result.matches) == 1
    assert list(doc["at"]["keys"]) == ["tenant=acme,source=x"]
    assert doc["at"]["keys"]["tenant=acme,source=x"]["clauses"][0]["count"] == 1
    assert doc["clauses"][0]["specs"][0]["without_key"] == {"source": 1}  # could be this key's, lacks the field
    whole = explain([p], events, pattern="p", tenant="acme").to_dict()
    assert whole["clauses"][0]["specs"][0]["without_key"] == {"source": 1}


def test_the_explain_command(tmp_path, capsys):
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [ev("a", 0, 1), ev("a", 1, 2)]) + "\nnot json\n")
    pf = tmp_path / "p.py"
    pf.write_text("from goldrush import Pattern, frequency, event\n"
                  "p = Pattern('p', frequency(event('a'), ('>', 5), '1m'))\n")
    assert main(["explain", str(pf), str(events), "--pattern", "p"]) == 0
    out = capsys.readouterr().out
    assert "verdict: clause #1 (frequency) never held; nearest: count 2 (needs > 5 in 1m)" in out
    assert "rejected 1" in out
    assert main(["explain", str(pf), str(events), "--pattern", "p", "--json", "--at",
                 "2026-01-01T00:00:00.5Z"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["at"]["keys"]["tenant=acme"]["clauses"][0]["count"] == 1
    assert main(["explain", str(pf), str(events), "--pattern", "q"]) == 2
    assert "no pattern named 'q'" in capsys.readouterr().err
    assert main(["explain", str(pf), str(tmp_path / "missing.jsonl"), "--pattern", "p"]) == 2


def test_at_reads_the_windows_at_that_time_not_at_the_last_event():
    p = Pattern("p", frequency(event("a"), (">=", 3), "10s"))
    events = [ev("a", 0, 1), ev("a", 1, 2), ev("a", 30, 3)]
    doc = explain([p], events, pattern="p", at=T0 + 5).to_dict()
    assert doc["at"]["keys"]["tenant=acme"]["clauses"][0]["count"] == 2
    doc = explain([p], events, pattern="p", at=T0 + 20).to_dict()  # both have left the 10 s window
    snap = doc["at"]["keys"]["tenant=acme"]
    assert snap["clauses"][0]["count"] == 0 and snap["last_event"] == "e2"


def test_unknown_tenants_and_key_fields_are_named():
    p = Pattern("p", frequency(event("a"), (">=", 3), "10s"), key_by=("tenant", "source"))
    events = [ev("a", 0, 1, source="x")]
    assert "no event of tenant 'acm' in the input (did you mean 'acme'?)" in explain(
        [p], events, pattern="p", tenant="acm").reason
    with pytest.raises(KeyError, match="key field 'sourc' is not in the key_by"):
        explain([p], events, pattern="p", key={"sourc": "x"})


def test_every_built_in_pattern_agrees_with_the_engine_on_simulated_events():
    from goldrush.explainer import run
    from goldrush.patterns import ALL

    events = [e for s in ("cascade", "oscillation", "opportunity", "variety_imbalance")
              for e in simulate(s, tenants=1, rate=4, duration=1200, seed=len(s))]
    for i, e in enumerate(events):
        e["tenant"], e["id"] = f"{e['tenant']}-{i // 4800}", f"{e['id']}-{i // 4800}"
    obs = Observer(ALL)
    run(obs, events)
    expected = replay(ALL, events)
    assert expected  # the scenarios make patterns fire
    for p in ALL:
        w = obs.watches[p.name]
        assert [m["match"] for m in w.matches] == [m.to_dict() for m in expected if m.pattern == p.name]
        assert w.disagreements == []


def test_actions_held_back_by_a_policy_are_named_per_match():
    from goldrush.actions import AutoScale

    p = Pattern("p", sequence(event("a")), action=AutoScale(direction="scale_out", cooldown="1h", max_instances=9))
    q = Pattern("q", sequence(event("a")), action=AutoScale(direction="scale_out", cooldown="1h", max_instances=9))
    result = explain([p, q], [ev("a", 0, 1), ev("a", 1, 2)], pattern="p")
    first, second = result.matches
    assert [a["type"] for a in first["actions"]] == ["autoscale"] and first["held_by_policy"] == {}
    assert second["actions"] == [] and second["held_by_policy"] == {"autoscale_cooldown": 1}
    assert result.to_dict()["hold_counts"] == {"policy": 1}


def test_late_events_are_the_reason_when_nothing_else_came():
    p = Pattern("p", recent(event("b")))
    events = [ev("a", 100, 1), ev("b", 0, 2), ev("b", 1, 3)]
    result = explain([p], events, pattern="p")
    assert result.to_dict()["clauses"][0]["specs"][0]["late"] == 2
    assert "all 2 events of event('b') came late" in result.reason
