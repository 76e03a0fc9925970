"""The web dashboard at `/`: one page, no network access needed, polling `/dashboard.json`.

The page (`dashboard.html`, shipped in the package) holds its own CSS and script: no CDN,
so it works on an air-gapped cluster. It shows live event and match rates, the busiest
tenants, the loaded patterns and the latest matches and actions; the data comes from the
same counters and rate tables as `/metrics`, plus the last records this worker published.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import faust

from goldrush.actions.text import action_detail, iso_time, key_text

from .metrics import Metrics
from .series import label_value
from .web import CachedRates

RECENT = 50  # matches and actions kept for the page
TOP_TENANTS = 20
TEXT = 200  # longest text of one field on the page


class Activity:
    """The latest matches and actions published by this worker, bounded, as the page shows them."""

    def __init__(self, keep: int = RECENT):
        self.matches: deque[dict[str, str]] = deque(maxlen=keep)
        self.actions: deque[dict[str, str]] = deque(maxlen=keep)

    def record(self, matches: Sequence[Any], actions: Sequence[Any]) -> None:
        """Only the newest `keep` of a batch are formatted: a batch may hold thousands of matches."""
        keep = self.matches.maxlen or RECENT
        for m in matches[-keep:]:
            self.matches.appendleft({
                "time": iso_time(m.timestamp), "tenant": label_value(m.tenant, TEXT),
                "pattern": label_value(m.pattern, TEXT), "key": label_value(key_text(m.key), TEXT)})
        for a in actions[-keep:]:
            d = a.to_dict()
            self.actions.appendleft({
                "time": iso_time(d.get("timestamp")), "tenant": label_value(d.get("tenant"), TEXT),
                "type": label_value(d.get("type"), TEXT), "pattern": label_value(d.get("pattern"), TEXT),
                "detail": label_value(action_detail(d), TEXT)})


def per_tenant(events: list[tuple[str, str, float]], matches: list[tuple[str, str, float]],
               limit: int = TOP_TENANTS) -> list[dict[str, Any]]:
    """The busiest tenants by events/s, with their matches/s."""
    rows: dict[str, list[float]] = {}
    for index, series in enumerate((events, matches)):
        for tenant, _, rate in series:
            rows.setdefault(tenant, [0.0, 0.0])[index] += rate
    busiest = sorted(rows.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:limit]
    return [{"tenant": label_value(t, TEXT), "events_per_second": e, "matches_per_second": m}
            for t, (e, m) in busiest]


def dashboard_document(metrics: Metrics, host: Any, cached: CachedRates, ready: bool,
                       activity: Activity) -> dict[str, Any]:
    events, matches = cached.rows("events"), cached.rows("matches")
    by_pattern: dict[str, float] = {}
    for _, pattern, rate in matches:
        by_pattern[pattern] = by_pattern.get(pattern, 0.0) + rate
    counter = metrics.counters
    totals = {name: sum(v for (n, _), v in counter.items() if n == f"goldrush_{name}_total")
              for name in ("events_in", "events_evaluated", "matches", "actions", "late", "rejected")}
    return {
        "ready": ready,
        "window_seconds": cached.size,
        "tenants_loaded": len(host.loaded),
        "events_per_second": sum(r for _, _, r in events),
        "matches_per_second": sum(r for _, _, r in matches),
        "totals": totals,
        "tenants": per_tenant(events, matches),
        "tenant_count": len({t for t, _, _ in events}),
        "patterns": [{"name": label_value(p.name, TEXT), "key_by": ", ".join(p.key_by),
                      "description": label_value(p.pattern.description, TEXT),
                      "matches": metrics.get("goldrush_matches_total", pattern=p.name),
                      "matches_per_second": by_pattern.get(p.name, 0.0)}
                     for p in host.compiled.patterns],
        "recent_matches": list(activity.matches),
        "recent_actions": list(activity.actions),
    }


def page() -> str:
    return resources.files(__package__).joinpath("dashboard.html").read_text(encoding="utf-8")


def register_dashboard(app: faust.App, metrics: Metrics, host: Any, rates: dict[str, Any], size: float,
                       ready: Callable[[], bool], activity: Activity) -> None:
    cached = CachedRates(rates, size)
    html = page()

    async def index(web: Any, request: Any) -> Any:
        return web.html(html)

    async def data(web: Any, request: Any) -> Any:
        return web.json(dashboard_document(metrics, host, cached, ready(), activity))

    app.page("/", name="goldrush-dashboard")(index)
    app.page("/dashboard.json", name="goldrush-dashboard-json")(data)
