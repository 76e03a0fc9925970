"""The compiled engine agrees with the reference implementation on random input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from goldrush import Pattern, replay
from tests.support.reference import reference_replay
from tests.support.strategies import clauses, patterns, streams


def nan_marked(obj):
    """NaN (a key value may be one) marked, so that equal results compare equal: NaN != NaN."""
    if isinstance(obj, float) and obj != obj:
        return "<NaN>"
    if isinstance(obj, dict):
        return {k: nan_marked(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(nan_marked(v) for v in obj)
    return obj


def engine_per_tenant(result) -> dict:
    out: dict[str, list] = {}
    for m in result:
        out.setdefault(m.tenant, []).append((m.pattern, m.tenant, m.key, m.timestamp, m.event_ids))
    return out


def check_agreement(pats: list[Pattern], events: list[dict], lateness: float) -> None:
    result = replay(pats, events, allowed_lateness=lateness)
    expected, late_ids, rejected = reference_replay(pats, events, lateness)
    target(float(min(len(result), 5)))
    got = engine_per_tenant(result)
    expected = {t: ms for t, ms in expected.items() if ms}
    assert nan_marked(got) == nan_marked(expected)
    assert [e.id for e in result.late] == late_ids
    assert [r.index for r in result.rejected] == rejected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=patterns(), events=streams(), lateness=st.sampled_from([0, 1, 2, 3.5]))
def test_engine_agrees_with_reference(pattern, events, lateness):
    check_agreement([pattern], events, lateness)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p1=patterns("p1"), p2=patterns("p2"), events=streams(), lateness=st.sampled_from([0, 2]))
def test_pattern_sets_agree_with_reference(p1, p2, events, lateness):
    """Several patterns at once: shared predicates and the name index change nothing."""
    check_agreement([p1, p2], events, lateness)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["sequence", "concurrent", "frequency", "trend", "recent"]),
       data=st.data(), lateness=st.sampled_from([0, 2]))
def test_each_operator_on_long_streams(kind, data, lateness):
    """One operator alone, on longer streams, so that each one really fires."""
    clause = data.draw(clauses(kind=kind))
    events = data.draw(streams(min_size=15, max_size=60))
    check_agreement([Pattern("p", clause)], events, lateness)


@settings(max_examples=100, deadline=None)
@given(pattern=patterns())
def test_patterns_round_trip_through_json(pattern):
    import json

    again = Pattern.from_dict(json.loads(json.dumps(pattern.to_dict())))
    assert again.to_dict() == pattern.to_dict()
    assert again == pattern
