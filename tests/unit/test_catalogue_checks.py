"""The event catalogue agrees with the simulator and the built-ins; `goldrush check` warns with "did you mean"."""

from __future__ import annotations

import json

import pytest

from goldrush import F, Pattern, event, frequency, recent, sequence, trend
from goldrush.catalogue import VSM_CATALOGUE, Catalogue
from goldrush.cli.main import main
from goldrush.explainer.checks import check_patterns
from goldrush.patterns import ALL
from goldrush.simulator import SCENARIOS, simulate


def _readme_slow_checkout(key_by=("tenant", "source"), **typos):
    first = typos.get("first", (F.response_time_ms > 800))
    name = typos.get("name", "vsm_core.system1.operation")
    return Pattern(
        "slow_checkout",
        sequence(event(name, first), event(name, F.response_time_ms > 800, within="30s"), within="1m"),
        recent(event("vsm_core.system4.scan", {"market_sentiment": "positive"}), within="10m"),
        key_by=key_by, cooldown="5m")


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "mixed"])
def test_every_simulated_event_is_in_the_catalogue(scenario):
    sample = Catalogue.from_events(simulate(scenario, tenants=2, rate=20, duration=900))
    for name, info in sample.events.items():
        known = VSM_CATALOGUE.events.get(name)
        assert known is not None, name
        assert info.attributes <= known.attributes, (name, info.attributes)
        for path, f in info.fields.items():
            assert path in known.fields, (name, path)
            assert f.types <= known.fields[path].types, (name, path, f.types)
            if known.fields[path].values is not None and f.values:
                assert f.values <= known.fields[path].values, (name, path, f.values)


def test_the_built_in_patterns_have_no_findings():
    assert check_patterns(ALL) == []


def test_the_readme_example_is_flagged_for_its_scan_events_without_source():
    found = check_patterns([_readme_slow_checkout()])
    assert [f.code for f in found] == ["key_field_missing"]
    assert found[0].clause == "#2 (recent)" and "vsm_core.system4.scan" in found[0].message
    assert "never holds" in found[0].message
    assert check_patterns([_readme_slow_checkout(key_by=("tenant",))]) == []


@pytest.mark.parametrize("typo, code, suggestion", [
    ({"first": F.respnse_time_ms > 800}, "unknown_field", "'response_time_ms'"),
    ({"name": "vsm_core.system1.operaton"}, "unknown_event", "'vsm_core.system1.operation'"),
    ({"key_by": ("tenant", "sourec")}, "unknown_key_field", "'source'"),
])
def test_typos_get_a_did_you_mean(typo, code, suggestion):
    key_by = typo.pop("key_by", ("tenant",))
    found = [f for f in check_patterns([_readme_slow_checkout(key_by=key_by, **typo)]) if f.code == code]
    assert found and found[0].suggestion == suggestion
    assert f"did you mean {suggestion}?" in str(found[0])


def test_comparisons_that_can_never_hold_and_unknown_values():
    p = Pattern("p", frequency(event("vsm_core.system1.operation", F.status > 3), (">", 1), "1m"),
                recent(event("vsm_core.system4.scan", F.market_sentiment == "postive")),
                trend("market_sentiment", "increasing"))
    found = {(f.code, f.clause): f for f in check_patterns([p])}
    assert "can never be TRUE" in found["type_never_holds", "#1 (frequency)"].message
    assert "never a number" in found["type_never_holds", "#3 (trend)"].message
    assert found["unknown_value", "#2 (recent)"].suggestion == "'positive'"
    bad_metric = check_patterns([Pattern("m", trend("performance_scor", "increasing"))])
    assert bad_metric[0].code == "unknown_field" and bad_metric[0].suggestion == "'performance_score'"


def test_a_sample_replaces_the_catalogue(tmp_path):
    sample = tmp_path / "s.jsonl"
    sample.write_text("\n".join(json.dumps(e) for e in [
        {"name": "shop.order", "timestamp": "2026-01-01T00:00:00Z", "source": "web", "data": {"total": 3.5}},
        "not an event",
    ]) + "\nnot json\n")
    p = tmp_path / "p.py"
    p.write_text("from goldrush import F, Pattern, recent, event\n"
                 "a = Pattern('a', recent(event('shop.order', F.totl > 1)), key_by=('tenant', 'source'))\n")
    assert main(["check", str(p), "--events", str(sample)]) == 0
    assert main(["check", str(p), "--events", str(sample), "--strict"]) == 2


def test_check_warns_without_failing_and_strict_fails(tmp_path, capsys):
    p = tmp_path / "p.py"
    p.write_text("from goldrush import F, Pattern, recent, event\n"
                 "a = Pattern('a', recent(event('vsm_core.system1.operaton')))\n")
    assert main(["check", str(p)]) == 0
    err = capsys.readouterr().err
    assert "warning: pattern 'a', clause #1 (recent)" in err and "did you mean 'vsm_core.system1.operation'" in err
    assert main(["check", str(p), "--strict"]) == 2
    assert "error: pattern 'a'" in capsys.readouterr().err
    assert main(["check", str(p), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"][0]["code"] == "unknown_event"


def test_schema_events_prints_the_catalogue_with_both_timestamp_forms(capsys):
    assert main(["schema", "events"]) == 0
    text = capsys.readouterr().out
    assert "vsm_core.system1.operation" in text and "data.response_time_ms: number" in text
    assert "epoch seconds" in text and "ISO 8601" in text
    assert main(["schema", "events", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["envelope"]["title"] and {e["name"] for e in doc["catalogue"]["events"]} >= {"vsm_core.system4.scan"}
