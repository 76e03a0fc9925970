"""The web dashboard at `/`: its data (unit) and the page as a real browser renders it
(headless Chromium from the distribution's packages; .ci/run installs it)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from types import SimpleNamespace

import pytest

from goldrush.agents.dashboard import Activity, dashboard_document, page, per_tenant
from goldrush.agents.metrics import Metrics
from goldrush.events.match import Match
from goldrush.kafka.broker import stop_process
from goldrush.kafka.client import EventProducer
from goldrush.simulator import simulate
from tests.support.worker import http_get, start_worker, wait_ready


class FakeRates:
    size = 10.0

    def __init__(self, rows: dict[str, list[tuple[str, str, float]]]):
        self._rows = rows

    def rows(self, kind: str) -> list[tuple[str, str, float]]:
        return self._rows[kind]


def test_the_dashboard_document_has_rates_tenants_patterns_and_the_latest_records():
    metrics = Metrics()
    metrics.inc("goldrush_matches_total", 3, pattern="burst")
    metrics.inc("goldrush_rejected_total", 2, reason="invalid_json")
    metrics.inc("goldrush_rejected_total", 1, reason="too_large")
    activity = Activity(keep=2)
    for i in range(3):
        activity.record([Match("burst", "acme", {"tenant": "acme", "service": "db"}, 1767225604.95 + i, [str(i)])], [])
    host = SimpleNamespace(loaded={"acme"}, compiled=SimpleNamespace(patterns=[
        SimpleNamespace(name="burst", key_by=("tenant", "service"),
                        pattern=SimpleNamespace(description="many in a row"))]))
    rates = FakeRates({"events": [("acme", "a", 3.0), ("acme", "b", 1.0), ("\ud800", "a", 0.5)],
                       "matches": [("acme", "burst", 0.25)]})
    doc = dashboard_document(metrics, host, rates, True, activity)
    assert doc["events_per_second"] == 4.5 and doc["matches_per_second"] == 0.25
    assert doc["totals"]["rejected"] == 3 and doc["totals"]["matches"] == 3
    assert doc["tenants"][0] == {"tenant": "acme", "events_per_second": 4.0, "matches_per_second": 0.25}
    assert doc["tenants"][1]["tenant"] == "\\ud800"
    assert doc["patterns"] == [{"name": "burst", "key_by": "tenant, service", "description": "many in a row",
                                "matches": 3, "matches_per_second": 0.25}]
    assert [m["time"] for m in doc["recent_matches"]] == ["2026-01-01T00:00:06.950Z", "2026-01-01T00:00:05.950Z"]
    assert doc["recent_matches"][0]["key"] == "service=db"
    json.dumps(doc).encode("utf-8")


def test_per_tenant_keeps_the_busiest():
    rows = per_tenant([(f"t{i}", "x", float(i)) for i in range(100)], [], limit=3)
    assert [r["tenant"] for r in rows] == ["t99", "t98", "t97"]


def test_the_page_needs_no_network_and_writes_no_markup_from_data():
    html = page()
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert "<script src" not in html
    assert "innerHTML" not in html  # tenants and names come from producers


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is needed for the dashboard test: apt-get install chromium (.ci/run does)")


def browse(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--window-size=1400,1100", "--virtual-time-budget=5000", *args, url],
        capture_output=True, text=True, timeout=120)


def test_the_dashboard_renders_live_data_in_a_real_browser(broker, tmp_path):
    events = list(simulate("cascade", tenants=2, rate=5, duration=1200, seed=7))
    worker = start_worker(broker.bootstrap, tmp_path, "gr-dashboard")
    port = worker.web_port  # type: ignore[attr-defined]
    try:
        asyncio.run(wait_ready(worker))

        async def send() -> None:
            async with EventProducer(broker.bootstrap, batch=100) as producer:
                for ev in events:
                    await producer.send(ev)

        asyncio.run(send())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            doc = json.loads(http_get(port, "/dashboard.json")[1])
            if doc["recent_actions"] and doc["events_per_second"] > 0:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no actions on the dashboard: {doc}")
        url = f"http://127.0.0.1:{port}/"
        dom = browse(url, "--dump-dom").stdout
        shot = tmp_path / "dashboard.png"
        browse(url, f"--screenshot={shot}")
    finally:
        stop_process(worker, 20)
    assert 'class="badge ready">ready<' in dom

    def body(table: str) -> str:  # the rendered rows of one table, not the script that writes them
        found = re.search(f'<tbody id="{table}">(.*?)</tbody>', dom, re.S)
        assert found, table
        return found.group(1)

    for tenant in ("tenant-0000", "tenant-0001"):
        assert f'<td title="{tenant}">{tenant}</td>' in body("tenants")
    assert "failure_cascade" in body("patterns") and "failure_cascade" in body("matches")
    assert "algedonic_alert" in body("actions")
    assert doc["recent_actions"][0]["time"] in dom and doc["recent_actions"][0]["time"].endswith("Z")
    assert all('class="empty"' not in body(t) for t in ("tenants", "patterns", "actions", "matches"))
    image = shot.read_bytes()
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 20_000  # a rendered page, not a blank one
