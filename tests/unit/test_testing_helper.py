"""`goldrush.testing`: users' pattern tests pass when they should and fail with the reason."""

from __future__ import annotations

import json

import pytest

from goldrush import F, Pattern, event, frequency, recent, sequence
from goldrush.actions import AutoScale
from goldrush.testing import run_patterns

SLOW = Pattern(
    "slow_checkout",
    sequence(event("vsm_core.system1.operation", F.response_time_ms > 800),
             event("vsm_core.system1.operation", F.response_time_ms > 800, within="30s")),
    key_by=("tenant", "source"), cooldown="5m",
    action=AutoScale(target="source", max_instances=12))


def op(t, ms, source="checkout", tenant="acme"):
    return {"name": "vsm_core.system1.operation", "timestamp": f"2026-01-01T00:00:{t:02d}Z", "tenant": tenant,
            "source": source, "id": f"{source}-{t}", "data": {"response_time_ms": ms}}


EVENTS = [op(0, 900), op(10, 950), op(20, 100, "search"), op(25, 1200, "search")]


def test_matches_and_actions_pass_from_dicts_and_from_a_file(tmp_path):
    run = run_patterns(SLOW, EVENTS)
    (m,) = run.assert_matched("slow_checkout", count=1, key={"source": "checkout"}, at="2026-01-01T00:00:10Z",
                              event_ids=["checkout-0", "checkout-10"])
    assert m.tenant == "acme"
    run.assert_not_matched("slow_checkout", key={"source": "search"})
    run.assert_actions("autoscale", count=1, pattern="slow_checkout", params={"direction": "scale_out",
                                                                               "target": "checkout"})
    run.assert_no_rejections()
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    assert [x.to_dict() for x in run_patterns([SLOW], path).matches] == [m.to_dict()]


def test_a_missing_match_fails_with_why():
    run = run_patterns(SLOW, EVENTS)
    with pytest.raises(AssertionError) as exc:
        run.assert_matched("slow_checkout", key={"source": "search"})
    text = str(exc.value)
    assert "expected at least one match of 'slow_checkout' (key={'source': 'search'}), got 0" in text
    assert "reached step 1 of 2" in text  # the explainer's nearest miss for that key


def test_unexpected_matches_wrong_counts_and_actions_fail():
    run = run_patterns(SLOW, EVENTS)
    with pytest.raises(AssertionError, match="expected no match of 'slow_checkout'"):
        run.assert_not_matched("slow_checkout")
    with pytest.raises(AssertionError, match="expected 2 matches"):
        run.assert_matched("slow_checkout", count=2)
    with pytest.raises(AssertionError, match="expected at least one 'algedonic_alert' action"):
        run.assert_actions("algedonic_alert")
    with pytest.raises(AssertionError, match="did you mean 'slow_checkout'"):
        run.assert_matched("slow_chekout")


def test_rejections_and_late_events_fail_assert_no_rejections():
    run = run_patterns([Pattern("r", recent(event("x")))], [{"name": "x"}, op(50, 1), op(10, 1)])
    with pytest.raises(AssertionError, match="1 rejected and 1 late"):
        run.assert_no_rejections()


def test_a_rising_edge_pattern_says_why_a_later_event_did_not_match_again():
    p = Pattern("busy", frequency(event("vsm_core.system1.operation"), (">=", 3), "1m"))
    run = run_patterns(p, EVENTS)
    run.assert_matched("busy", count=1, tenant="acme", at="2026-01-01T00:00:20Z")
    with pytest.raises(AssertionError, match="not_a_rising_edge"):
        run.assert_matched("busy", at="2026-01-01T00:00:25Z")
