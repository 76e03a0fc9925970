"""SEMANTICS §4–§6 on small, hand-made streams: one behaviour per test."""

from __future__ import annotations

import pytest

from goldrush import (
    F,
    Pattern,
    concurrent,
    event,
    frequency,
    metric,
    recent,
    replay,
    sequence,
    trend,
)
from goldrush.events.match import match_id


def ev(name, ts, i=None, tenant="t", **data):
    out = {"name": name, "timestamp": ts, "tenant": tenant, "data": data}
    if i is not None:
        out["id"] = str(i)
    return out


def times(result):
    return [m.timestamp for m in result]


# -- sequence ------------------------------------------------------------------------
def test_semantics_example_six_events_two_matches():
    s = event("s")
    p = Pattern("p", sequence(s, s, s, within="30s"))
    result = replay([p], [ev("s", t, t) for t in range(6)])
    assert times(result) == [2.0, 5.0]
    assert [m.event_ids for m in result] == [["0", "1", "2"], ["3", "4", "5"]]


def test_sequence_is_followed_by_not_strictly_next():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("a", 1, "a"), ev("x", 2), ev("c", 3), ev("b", 4, "b")])
    assert [m.event_ids for m in result] == [["a", "b"]]


def test_strict_sequence_forbids_step_named_events_in_between():
    p = Pattern("p", sequence(event("a"), event("b", F.ok == True), strict=True))  # noqa: E712
    events = [ev("a", 1, 1), ev("b", 2, 2, ok=False), ev("b", 3, 3, ok=True)]
    assert replay([p], events) == []
    # an event named like no step does not break it
    events = [ev("a", 1, 1), ev("zzz", 2, 2), ev("b", 3, 3, ok=True)]
    assert [m.event_ids for m in replay([p], events)] == [["1", "3"]]


def test_step_within_bounds_the_gap_to_the_previous_step():
    p = Pattern("p", sequence(event("a"), event("b", within="5s")))
    assert times(replay([p], [ev("a", 0), ev("b", 5)])) == [5.0]  # ≤ within
    assert replay([p], [ev("a", 0), ev("b", 5.5)]) == []


def test_sequence_within_bounds_first_to_last():
    p = Pattern("p", sequence(event("a"), event("b"), event("c"), within=10))
    assert times(replay([p], [ev("a", 0), ev("b", 6), ev("c", 10)])) == [10.0]
    assert replay([p], [ev("a", 0), ev("b", 6), ev("c", 10.5)]) == []


def test_several_completions_report_the_earliest_first_event():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("a", 1, "a1"), ev("a", 2, "a2"), ev("b", 3, "b")])
    assert [m.event_ids for m in result] == [["a1", "b"]]


def test_a_match_clears_all_partial_matches():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("a", 1, 1), ev("a", 2, 2), ev("b", 3, 3), ev("b", 4, 4)])
    assert [m.event_ids for m in result] == [["1", "3"]]


def test_fired_but_not_matched_drops_only_completed_partials():
    p = Pattern("p", sequence(event("a"), event("b")), recent(event("ok"), within="2s"))
    events = [ev("a", 1, "a1"), ev("b", 2, "b1"),  # fires, but no ok → a1 dropped
              ev("a", 3, "a2"), ev("ok", 4), ev("b", 5, "b2")]
    assert [m.event_ids for m in replay([p], events)] == [["a2", "b2"]]


# -- durative clauses ----------------------------------------------------------------
def test_frequency_window_is_open_at_the_old_end():
    p = Pattern("p", frequency(event("x"), (">=", 3), "10s"))
    assert times(replay([p], [ev("x", 0), ev("x", 5), ev("x", 9.5)])) == [9.5]
    assert replay([p], [ev("x", 0), ev("x", 5), ev("x", 10)]) == []  # 0 is out at t=10


def test_frequency_count_operators():
    events = [ev("x", t) for t in range(5)]
    assert times(replay([Pattern("p", frequency("x", ("==", 2), "1h"))], events)) == [1.0]
    assert times(replay([Pattern("p", frequency("x", ("<", 2), "1h"))], events)) == [0.0]


def test_recent_within_is_open_at_the_old_end():
    p = Pattern("p", recent(event("s", F.sentiment == "positive"), within="5s"), recent("tick", within="1h"))
    assert times(replay([p], [ev("tick", 0), ev("s", 0, sentiment="positive"), ev("tick", 4.9)])) == [0.0]
    assert replay([p], [ev("s", 0, sentiment="positive"), ev("tick", 5)]) == []  # 5 s old is out
    result = replay([p], [ev("tick", 0), ev("s", 0, sentiment="negative"), ev("s", 1, sentiment="positive"),
                          ev("tick", 6), ev("tick", 7)])
    assert times(result) == [1.0]


def test_concurrent_is_the_latest_state_of_each_name():
    p = Pattern("p", concurrent(event("cpu", F.util < 0.7), event("mem", F.free > 1)))
    events = [ev("cpu", 1, util=0.5), ev("mem", 2, free=2),  # holds at 2
              ev("cpu", 3, util=0.9),  # no longer
              ev("cpu", 4, util=0.1)]  # holds again: rising edge
    assert times(replay([p], events)) == [2.0, 4.0]


def test_concurrent_within_is_inclusive():
    p = Pattern("p", concurrent(event("a"), event("b"), within=5))
    assert times(replay([p], [ev("a", 0), ev("b", 5)])) == [5.0]
    assert replay([p], [ev("a", 0), ev("b", 5.1)]) == []


def test_trend_needs_samples_direction_and_confidence():
    up = [ev("m", t, value=float(t) + (0.3 if t % 2 else -0.3)) for t in range(10)]
    inc = Pattern("inc", trend("value", "increasing", duration="1h", min_samples=5))
    dec = Pattern("dec", trend("value", "decreasing", duration="1h", min_samples=5))
    result = replay([inc, dec], up)
    assert [m.pattern for m in result] == ["inc"]
    assert result[0].timestamp >= 4.0  # not before min_samples


def test_trend_exact_line_has_confidence_one_and_flat_line_never_holds():
    line = [ev("m", t, v=2.0 * t) for t in range(5)]
    assert len(replay([Pattern("p", trend("v", "increasing", duration=60, confidence=1.0, min_samples=3))],
                      line)) == 1
    flat = [ev("m", t, v=3.0) for t in range(8)]
    assert replay([Pattern("p", trend("v", "increasing", confidence=0.0, min_samples=3)),
                   Pattern("q", trend("v", "decreasing", confidence=0.0, min_samples=3))], flat) == []


def test_trend_ignores_samples_that_are_not_finite_numbers():
    events = [ev("m", 0, v=1), ev("m", 1, v="2"), ev("m", 2, v=True), ev("m", 3, v=None), ev("m", 4, v=5)]
    assert replay([Pattern("p", trend("v", "increasing", confidence=0.0, min_samples=3))], events) == []


def test_metric_with_event_glob_and_field():
    m = metric("latency", event="svc.*", field="ms")
    events = [ev("svc.a", t, ms=10.0 * t) for t in range(4)] + [ev("other", 5, ms=-100)]
    result = replay([Pattern("p", trend(m, "increasing", confidence=0.5, min_samples=3))], events)
    assert times(result) == [2.0]


# -- patterns --------------------------------------------------------------------------
def test_rising_edge_fires_once_per_false_to_true():
    p = Pattern("p", frequency("x", (">=", 2), "10s"))
    events = [ev("x", 0), ev("x", 1), ev("x", 2), ev("x", 30), ev("x", 31)]
    assert times(replay([p], events)) == [1.0, 31.0]


def test_edge_is_only_evaluated_at_relevant_events():
    p = Pattern("p", recent("x", within="5s"))
    # "y" is irrelevant: the clause is false at t=20, but nobody looks, so no new edge.
    events = [ev("x", 0), ev("y", 20), ev("x", 21)]
    assert times(replay([p], events)) == [0.0]


def test_cooldown_suppresses_but_still_resets_sequences():
    p = Pattern("p", sequence(event("a")), cooldown="10s")
    result = replay([p], [ev("a", t) for t in (0, 5, 9.9, 10, 12)])
    assert times(result) == [0.0, 10.0]
    assert result.suppressed["p"] == 3


def test_key_by_evaluates_each_key_alone_and_skips_events_without_the_key():
    p = Pattern("p", frequency("x", (">=", 2), "1h"), key_by=("service",))
    events = [ev("x", 0, service="a"), ev("x", 1, service="b"), ev("x", 2), ev("x", 3, service="b"),
              ev("x", 4, service=None)]
    result = replay([p], events)
    assert [(m.key, m.timestamp) for m in result] == [({"tenant": "t", "service": "b"}, 3.0)]


def test_tenants_never_mix():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("a", 0, tenant="x"), ev("b", 1, tenant="y")])
    assert result == []


def test_match_record():
    p = Pattern("p", sequence(event("a"), event("b")))
    (m,) = replay([p], [ev("a", 0, "e1"), ev("b", 1, "e2")])
    d = m.to_dict()
    assert d == {"pattern": "p", "tenant": "t", "key": {"tenant": "t"}, "timestamp": 1.0,
                 "event_ids": ["e1", "e2"], "match_id": match_id("p", {"tenant": "t"}, 1.0, ["e1", "e2"])}
    again = replay([p], [ev("a", 0, "e1"), ev("b", 1, "e2")])
    assert again[0].match_id == m.match_id


def test_matches_at_one_event_come_in_pattern_order():
    a = Pattern("a", recent("x"))
    b = Pattern("b", recent("x"))
    assert [m.pattern for m in replay([b, a], [ev("x", 0)])] == ["b", "a"]


# -- order and lateness ------------------------------------------------------------------
def test_out_of_order_events_are_reordered_within_lateness():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("b", 2, "b"), ev("a", 1, "a")], allowed_lateness="2s")
    assert [m.event_ids for m in result] == [["a", "b"]]


def test_late_events_are_reported_not_evaluated():
    p = Pattern("p", sequence(event("a"), event("b")))
    result = replay([p], [ev("b", 10, "b"), ev("a", 7.5, "a")], allowed_lateness="2s")
    assert result == [] and [e.id for e in result.late] == ["a"]
    result = replay([p], [ev("b", 10, "b"), ev("a", 8, "a")], allowed_lateness="2s")  # == watermark: not late
    assert [m.event_ids for m in result] == [["a", "b"]]


def test_each_tenant_has_its_own_clock():
    p = Pattern("p", recent("a"))
    result = replay([p], [ev("a", 1000, tenant="fast"), ev("a", 1, tenant="slow")], allowed_lateness=0)
    assert not result.late and len(result) == 2


def test_ties_keep_arrival_order():
    p = Pattern("p", sequence(event("a"), event("b")))
    assert len(replay([p], [ev("a", 5), ev("b", 5)])) == 1
    assert replay([p], [ev("b", 5), ev("a", 5)]) == []


@pytest.mark.parametrize("lateness", [0, "0s", "2s", 5])
def test_end_of_input_flushes_the_buffer(lateness):
    p = Pattern("p", recent("a"))
    assert len(replay([p], [ev("a", 1)], allowed_lateness=lateness)) == 1
