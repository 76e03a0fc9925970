"""The worker's status line and log levels (agents/status.py)."""

from __future__ import annotations

import logging

from goldrush.agents.metrics import Metrics
from goldrush.agents.status import STATUS_LOGGER, configure_logging, status_line, total_lag, totals


def test_the_status_line_reports_rates_and_counts_since_the_last_one():
    m = Metrics()
    before = totals(m.counters, now=100.0)
    m.inc("goldrush_events_in_total", 3000)
    m.inc("goldrush_late_total", 4)
    m.inc("goldrush_matches_total", 5, pattern="a")
    m.inc("goldrush_matches_total", 7, pattern="b")
    m.inc("goldrush_rejected_total", 2, reason="invalid_json")
    line = status_line(before, totals(m.counters, now=160.0), lag=1234, tenants=17, ready=True)
    assert line == ("status: 50.0 events/s, 4 late, 12 matches, 0 actions, 2 rejected in the last 60 s; "
                    "lag 1,234; 17 tenants loaded; ready")
    assert "lag unknown" in status_line(before, before, None, 0, False)
    assert "NOT READY" in status_line(before, before, None, 0, False)


def test_total_lag_sums_every_partition_and_survives_a_restarting_consumer():
    assert total_lag([lambda: [("a", 0, 3), ("a", 1, 4)], lambda: [("b", 0, 5.0)]]) == 12

    def broken():
        raise RuntimeError("consumer restarting")

    assert total_lag([broken]) is None


def test_goldrush_logs_at_its_level_and_faust_at_its_own():
    root = logging.getLogger("probe-root")
    root.addHandler(logging.StreamHandler())
    try:
        configure_logging(root, "info", "warning", status=True)
        assert logging.getLogger("goldrush.worker").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("goldrush.agents.compat").getEffectiveLevel() == logging.WARNING
        assert root.level == logging.WARNING
        configure_logging(root, "error", "warning", status=True)
        assert logging.getLogger(STATUS_LOGGER).getEffectiveLevel() == logging.INFO  # asked for: shown
        assert "%(name)s" in root.handlers[0].formatter._fmt  # every line names its logger
    finally:
        logging.getLogger("goldrush").setLevel(logging.NOTSET)
        logging.getLogger(STATUS_LOGGER).setLevel(logging.NOTSET)
