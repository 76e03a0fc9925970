"""The worker's periodic status line and its log setup.

An operator tailing a worker's log wants one line now and then saying it is working —
events/s, late, matches, lag — and goldrush's own lines, not 265 lines of Faust internals
in 7 s. Faust, aiokafka and mode log at their own level (warning unless asked); every line
names its logger, so goldrush's stand apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust

LOG_FORMAT = "[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"
STATUS_LOGGER = "goldrush.status"
OWN_LOGGERS = ("goldrush",)  # everything else (faust, mode, aiokafka, aiohttp …) follows the framework level
# Faust services subclassed here log Faust's lifecycle ("Starting...") under these modules' names
FRAMEWORK_SUBCLASSES = ("goldrush.agents.compat", "goldrush.agents.web_server", "goldrush.agents.faust_worker")

#: counters the status line reports, by its wording
COUNTED = {"events": "goldrush_events_in_total", "late": "goldrush_late_total",
           "matches": "goldrush_matches_total", "actions": "goldrush_actions_total",
           "rejected": "goldrush_rejected_total"}


def configure_logging(root: logging.Logger, own: str, framework: str, status: bool) -> None:
    """goldrush's loggers at `own`, the root (so Faust and its libraries) at `framework`."""
    root.setLevel(logging.getLevelName(framework.upper()))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.getLevelName(own.upper()))
    for name in FRAMEWORK_SUBCLASSES:
        logging.getLogger(name).setLevel(logging.getLevelName(framework.upper()))
    if status:  # asked for with --status-every: shown whatever --loglevel says
        logging.getLogger(STATUS_LOGGER).setLevel(logging.INFO)
    for handler in root.handlers:
        handler.setLevel(logging.NOTSET)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))


@dataclass
class Totals:
    at: float
    counts: dict[str, float]


def totals(counters: dict[tuple[str, tuple], float], now: float | None = None) -> Totals:
    """The counters the line reports, summed over their labels."""
    sums = dict.fromkeys(COUNTED, 0.0)
    wanted = {metric: word for word, metric in COUNTED.items()}
    for (name, _), value in counters.items():
        word = wanted.get(name)
        if word is not None:
            sums[word] += value
    return Totals(time.monotonic() if now is None else now, sums)


def status_line(before: Totals, after: Totals, lag: int | None, tenants: int, ready: bool) -> str:
    """`status: 1,234.5 events/s, 0 late, 12 matches, 3 actions, 0 rejected in 60 s; lag 120; …`"""
    seconds = max(after.at - before.at, 1e-9)
    delta = {k: after.counts[k] - before.counts[k] for k in COUNTED}
    lag_text = "unknown" if lag is None else f"{lag:,}"
    return (f"status: {delta['events'] / seconds:,.1f} events/s, {delta['late']:,.0f} late, "
            f"{delta['matches']:,.0f} matches, {delta['actions']:,.0f} actions, {delta['rejected']:,.0f} rejected "
            f"in the last {seconds:,.0f} s; lag {lag_text}; {tenants:,} tenants loaded; "
            f"{'ready' if ready else 'NOT READY'}")


def total_lag(sources: Iterable[Callable[[], Iterable[tuple[str, int, float]]]]) -> int | None:
    """Messages not yet read over every assigned partition; None while the consumers restart."""
    try:
        return int(sum(lag for read in sources for _, _, lag in read()))
    except Exception:  # noqa: BLE001 - a status line must not fail while a consumer restarts
        return None


def register_status(app: faust.App, every: float, metrics: Any, host: Any, sources: Any, topics: set[str]) -> None:
    """Log `status_line` every `every` seconds (0: never)."""
    if not every:
        return
    from .web import consumer_lag, is_ready

    log = logging.getLogger(STATUS_LOGGER)
    last = [totals(metrics.counters)]

    @app.timer(every)
    async def report_status() -> None:
        now = totals(metrics.counters)
        lag = total_lag([sources.lag, lambda: consumer_lag(app, topics)])
        log.info(status_line(last[0], now, lag, len(host.loaded), is_ready(app) and sources.ready))
        last[0] = now
