"""Prometheus rendering of the worker's counters and gauges."""

from __future__ import annotations

from goldrush.agents.metrics import Metrics


def test_render_groups_by_name_with_help_type_and_escaped_labels():
    m = Metrics()
    m.inc("goldrush_events_in_total", 5)
    m.inc("goldrush_events_in_total", 2)
    m.inc("goldrush_rejected_total", reason="invalid_json")
    m.inc("goldrush_matches_total", pattern='we"ird\\name')
    m.inc("goldrush_late_total", 0)  # zero increments create nothing
    text = m.render([("goldrush_state_keys", {}, 3.0)])
    lines = text.splitlines()
    assert "goldrush_events_in_total 7" in lines
    assert 'goldrush_rejected_total{reason="invalid_json"} 1' in lines
    assert 'goldrush_matches_total{pattern="we\\"ird\\\\name"} 1' in lines
    assert "# TYPE goldrush_state_keys gauge" in lines and "goldrush_state_keys 3" in lines
    assert "goldrush_late_total" not in text
    # every sample follows its family's HELP and TYPE lines
    assert lines.index("# TYPE goldrush_events_in_total counter") < lines.index("goldrush_events_in_total 7")
    assert text.endswith("\n")
