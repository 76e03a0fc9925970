"""The seed's three built-in patterns, on crafted streams."""

from __future__ import annotations

import json

import goldrush.patterns as library
from goldrush import Pattern, replay
from goldrush.patterns import coordination_oscillation, opportunity_emergence, variety_imbalance

V = "vsm_core.variety.calculated"


def ev(name, ts, tenant="acme", **data):
    return {"name": name, "timestamp": ts, "tenant": tenant, "data": data}


def test_library_exports():
    assert [p.name for p in library.SEED_PATTERNS] == ["variety_imbalance", "coordination_oscillation",
                                                       "opportunity_emergence"]
    assert [p.name for p in library.ALL] == [
        "variety_imbalance", "coordination_oscillation", "opportunity_emergence", "variety_overload",
        "response_time_degradation", "algedonic_signal_frequency", "low_utilization", "failure_cascade",
        "cascading_failure_model", "performance_degradation_model", "load_oscillation_model",
        "variety_imbalance_model", "emerging_opportunity_model"]
    for p in library.SEED_PATTERNS:
        assert p.key_by == ("tenant",) and p.actions == ()
    for p in library.ALL:
        assert Pattern.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_variety_imbalance_fires_on_three_high_inputs_with_low_output():
    events = [ev(V, 0, input_variety=9, output_variety=1.5),
              ev(V, 20, input_variety=9.5, output_variety=1.0),
              ev(V, 45, input_variety=10, output_variety=1.2)]
    (m,) = replay([variety_imbalance], events)
    assert m.timestamp == 45 and len(m.event_ids) == 3


def test_variety_imbalance_needs_each_step_within_30s_and_low_output():
    gap = [ev(V, 0, input_variety=9, output_variety=1), ev(V, 31, input_variety=9, output_variety=1),
           ev(V, 40, input_variety=9, output_variety=1)]
    assert replay([variety_imbalance], gap) == []
    healthy = [ev(V, t, input_variety=9, output_variety=3) for t in (0, 10, 20)]
    assert replay([variety_imbalance], healthy) == []


def test_coordination_oscillation_needs_many_adjustments_growing():
    growing = [ev("vsm_core.system2.coordination", 10 * i, action="adjust", adjustment_magnitude=0.1 * i)
               for i in range(12)]
    (m,) = replay([coordination_oscillation], growing)
    assert m.timestamp == 100  # the 11th adjustment (t=100) is the first with count > 10
    shrinking = [ev("vsm_core.system2.coordination", 10 * i, action="adjust",
                    adjustment_magnitude=2 - 0.1 * i) for i in range(12)]
    assert replay([coordination_oscillation], shrinking) == []
    holding = [ev("vsm_core.system2.coordination", 10 * i, action="hold", adjustment_magnitude=0.1 * i)
               for i in range(12)]
    assert replay([coordination_oscillation], holding) == []


def test_opportunity_emergence_reads_performance_from_any_event():
    events = [ev("vsm_core.system3.resources", 0, utilization=0.5),
              ev("vsm_core.system4.scan", 1, market_sentiment="positive")]
    events += [ev("vsm_core.system1.operation", 10 + 60 * i, performance_score=60 + i + (i % 2) * 0.3)
               for i in range(6)]
    (m,) = replay([opportunity_emergence], events)
    assert m.timestamp == 10 + 60 * 4  # fifth sample: min_samples reached
    busy = [ev("vsm_core.system3.resources", 0, utilization=0.9)] + events[1:]
    assert replay([opportunity_emergence], busy) == []
