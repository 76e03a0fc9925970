"""Every web view of the worker and its status log line, registered together (docs/streaming.md)."""

from __future__ import annotations

from typing import Any

import faust

from .dashboard import Activity, register_dashboard
from .explain_view import register_explain_view
from .faust_app import RATE_WINDOW
from .metrics import Metrics
from .status import register_status
from .web import is_ready, register_views


def register_all(app: faust.App, status_every: float, metrics: Metrics, host: Any, rates: dict[str, Any],
                 internal: set[str], sources: Any, watch: Any, activity: Activity) -> None:
    """`internal`: the internal topics Faust reads; `sources`: the source consumer; `watch`: the broker watch."""
    register_views(app, metrics, host, rates, RATE_WINDOW, internal, sources, watch)
    register_status(app, status_every, metrics, host, sources, internal)
    register_dashboard(app, metrics, host, rates, RATE_WINDOW,
                       lambda: is_ready(app) and sources.ready and watch.reachable, activity)
    register_explain_view(app, host)
