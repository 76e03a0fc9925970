"""The simulator's ground truth: `incidents` says exactly where `simulate` injected each anomaly."""

from __future__ import annotations

import pytest

from goldrush.simulator import ANOMALIES, Incident, incidents, simulate

HOURS = 3 * 3600.0


def _kind_of(ev: dict) -> str | None:
    """The anomaly an event can only come from, by its content (None: could be normal)."""
    d = ev["data"]
    if ev["name"] == "vsm_core.system1.failure" or ev["name"] == "vsm_core.algedonic.signal":
        return "cascade"
    if ev["name"] == "vsm_core.variety.calculated" and d["input_variety"] > 8:
        return "variety_imbalance"
    if ev["name"] == "vsm_core.system4.scan" and "signal_strength" in d:
        return "opportunity"
    return None


def test_every_anomalous_event_lies_in_an_incident_of_its_kind_and_every_incident_shows():
    truth = incidents("mixed", tenants=4, duration=HOURS)
    assert {i.kind for i in truth} == set(ANOMALIES)
    seen: set[Incident] = set()
    for ev in simulate("mixed", tenants=4, rate=20, duration=HOURS, seed=5):
        kind = _kind_of(ev)
        if kind is None:
            continue
        (inc,) = [i for i in truth if i.tenant == ev["tenant"] and i.start <= ev["timestamp"] < i.end]
        assert inc.kind == kind
        seen.add(inc)
    assert seen >= {i for i in truth if i.kind != "oscillation"}


def test_incidents_are_one_phase_an_hour_per_tenant_and_clipped_to_the_trace():
    start = 1_767_225_600.0
    truth = incidents("mixed", tenants=3, duration=HOURS, start=start)
    for tenant in {i.tenant for i in truth}:
        mine = [i for i in truth if i.tenant == tenant]
        assert all(start <= i.start < i.end <= start + HOURS and i.end - i.start <= 900 for i in mine)
        assert all(b.start - a.start == 3600 for a, b in zip(mine, mine[1:], strict=False) if a.start > start)
    assert incidents("normal", tenants=3, duration=HOURS) == []
    (whole,) = incidents("cascade", tenants=1, duration=1800.0, start=start)[:1]
    assert (whole.kind, whole.start, whole.end) == ("cascade", start, start + 900)


def test_strength_scales_how_far_anomalies_stray():
    def inputs(strength: float) -> list[float]:
        return [e["data"]["input_variety"] for e in simulate("variety_imbalance", tenants=1, rate=5, duration=600,
                                                              seed=1, strength=strength)
                if e["name"] == "vsm_core.variety.calculated"]

    weak, full = inputs(0.5), inputs(1.0)
    assert max(full) > 11 and max(weak) < 8.7 and sum(weak) < sum(full)  # 8.625: halfway from 5.25 to 12
    with pytest.raises(ValueError, match="strength"):
        list(simulate("normal", strength=0))
