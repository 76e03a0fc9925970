"""Prometheus exposition of the worker's counters, gauges and histograms (prometheus-client)."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from goldrush.agents.metrics import CATALOGUE, Metrics
from goldrush.agents.series import MAX_LABEL_CHARS, OTHER, busiest, label_value


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Parsed by the client library's own parser: the text is valid exposition format."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counters_and_gauges_keep_their_names_types_and_escaped_labels():
    m = Metrics()
    m.inc("goldrush_events_in_total", 5)
    m.inc("goldrush_events_in_total", 2)
    m.inc("goldrush_rejected_total", reason="invalid_json")
    m.inc("goldrush_matches_total", pattern='we"ird\\name\nnext')
    m.inc("goldrush_late_total", 0)  # zero increments create nothing
    text = m.render([("goldrush_state_keys", {}, 3.0)])
    lines = text.splitlines()
    assert "goldrush_events_in_total 7.0" in lines
    assert 'goldrush_rejected_total{reason="invalid_json"} 1.0' in lines
    assert 'goldrush_matches_total{pattern="we\\"ird\\\\name\\nnext"} 1.0' in lines
    assert "# TYPE goldrush_events_in_total counter" in lines
    assert "# TYPE goldrush_state_keys gauge" in lines and "goldrush_state_keys 3.0" in lines
    assert "goldrush_late_total" not in text
    assert lines.index("# TYPE goldrush_events_in_total counter") < lines.index("goldrush_events_in_total 7.0")
    parsed = samples(text)
    assert parsed["goldrush_matches_total", (("pattern", 'we"ird\\name\nnext'),)] == 1
    assert "_created" not in text


def test_histograms_for_detection_latency_and_batch_time():
    m = Metrics()
    m.observe("goldrush_detection_latency_seconds", 0.3)
    m.observe("goldrush_detection_latency_seconds", 4.0)
    m.observe("goldrush_batch_seconds", 0.002, stage="tenant")
    parsed = samples(m.render())
    assert parsed["goldrush_detection_latency_seconds_count", ()] == 2
    assert parsed["goldrush_detection_latency_seconds_bucket", (("le", "0.5"),)] == 1
    assert parsed["goldrush_detection_latency_seconds_bucket", (("le", "+Inf"),)] == 2
    assert parsed["goldrush_batch_seconds_count", (("stage", "tenant"),)] == 1


def test_any_label_value_renders_lone_surrogates_huge_strings_quotes_and_newlines():
    """A lone surrogate in an event name made /metrics answer 500 for as long as the worker ran."""
    m = Metrics()
    hostile = ["\ud800", "a\udfffb", "x" * 500_000, 'q"uo\\te', "new\nline", "\x00nul", "é✓"]
    for value in hostile:
        m.inc("goldrush_matches_total", pattern=value)
    gauges = [("goldrush_event_rate", {"tenant": v, "name": v}, 1.0) for v in hostile]
    text = m.render(gauges)
    text.encode("utf-8")  # what the web view sends
    assert len(text) < 20_000
    parsed = samples(text)
    patterns = {dict(labels)["pattern"] for name, labels in parsed if name == "goldrush_matches_total"}
    assert "\\ud800" in patterns and "a\\udfffb" in patterns  # told apart, not all "?"
    assert 'q"uo\\te' in patterns and "new\nline" in patterns and "é✓" in patterns
    assert all(len(p) <= MAX_LABEL_CHARS for p in patterns)


def test_label_value_is_valid_bounded_text():
    assert label_value("\ud800") == "\\ud800"
    assert label_value("ok") == "ok"
    long = label_value("y" * 1000)
    assert len(long) == MAX_LABEL_CHARS and long.endswith("…")
    assert json.dumps(label_value("\udc80" * 10_000), ensure_ascii=False).encode("utf-8")


def test_high_cardinality_rates_are_cut_to_the_busiest_with_an_aggregate():
    rows = [(f"tenant-{i}", "evt", float(i)) for i in range(200_000)]
    cut = busiest(rows, limit=50)
    assert [r.tenant for r in cut.top[:2]] == ["tenant-199999", "tenant-199998"]
    assert len(cut.top) == 50 and cut.other_series == 200_000 - 50
    assert sum(r.per_second for r in cut.top) + cut.other_per_second == sum(r for _, _, r in rows)
    m = Metrics()
    gauges = [("goldrush_event_rate", {"tenant": r.tenant, "name": r.name}, r.per_second) for r in cut.top]
    gauges.append(("goldrush_event_rate", {"tenant": OTHER, "name": OTHER}, cut.other_per_second))
    assert len(m.render(gauges)) < 10_000  # was 13.4 MB per scrape with 200 k tenants


def test_every_counter_has_help_and_a_type():
    for name, (kind, text) in CATALOGUE.items():
        assert kind in ("counter", "gauge") and text, name
        assert name.endswith("_total") == (kind == "counter")
