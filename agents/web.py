"""The worker's web views: `/health`, `/ready`, `/metrics` (Prometheus) and `/rates` (JSON)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import faust

from goldrush.models.clause import MODEL_ERRORS

from .metrics import Metrics
from .series import OTHER, busiest

PROMETHEUS = "text/plain; version=0.0.4"  # aiohttp adds the charset itself


def window_rates(wrapper: Any, size: float) -> Iterator[tuple[str, str, float]]:
    """(tenant, name, per second over the last full window and the current one).

    The table is tumbling and keyed by JSON [tenant, name]; counting the previous
    window too keeps the rate from dropping to 0 at every window boundary.
    """
    now = time.time()
    elapsed = now - (now // size) * size
    window = wrapper.table.window
    ranges = (window.current(now), window.current(now - size))
    for key in wrapper:  # WindowWrapper iterates its key index
        total = 0
        windows = wrapper[key]  # WindowSet: indexed by a window range, the count in that window
        for at in ranges:
            with contextlib.suppress(KeyError):  # a window with no count yet
                total += windows[at]
        tenant, name = json.loads(key)
        yield tenant, name, total / (size + elapsed)


class CachedRates:
    """`window_rates` of the rate tables, computed at most once per `max_age` seconds.

    Reading every (tenant, name) window costs milliseconds with many tenants, and
    scrapes may come often (the e2e benchmark polls every 50 ms); a rate over a
    10 s window changes little within a second. Counters are never cached, and
    `/rates` (asked for by people, not scrapers) always reads the tables.
    """

    def __init__(self, rates: dict[str, Any], size: float, max_age: float = 1.0):
        self.rates, self.size, self.max_age = rates, size, max_age
        self._at = float("-inf")
        self._rows: dict[str, list[tuple[str, str, float]]] = {}

    def rows(self, kind: str) -> list[tuple[str, str, float]]:
        now = time.monotonic()
        if now - self._at >= self.max_age:
            self._rows = {k: list(window_rates(table, self.size)) for k, table in self.rates.items()}
            self._at = now
        return self._rows[kind]


def is_ready(app: faust.App) -> bool:
    """Started, not rebalancing, and every assigned table partition recovered."""
    try:
        recovery = app.tables.recovery
    except AttributeError:
        return False
    return (app.started and not getattr(app, "rebalancing", True)
            and recovery.completed.is_set() and not recovery.in_recovery)


class ReadOffsets(faust.Sensor):
    """The offset of the last message Faust handed to a stream, per partition (public Sensor API).

    Forgotten when a rebalance starts: a partition coming back may have been read elsewhere since.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.read: dict[Any, int] = {}

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.read[tp] = offset

    def on_rebalance_start(self, app: Any) -> dict:
        self.read.clear()
        return {}


def read_offsets(app: faust.App) -> ReadOffsets:
    """The app's `ReadOffsets` sensor, added on first use (at build time: agents/web.py and status.py)."""
    for sensor in app.sensors:
        if isinstance(sensor, ReadOffsets):
            return sensor
    sensor = ReadOffsets()
    app.sensors.add(sensor)
    return sensor


def consumer_lag(app: faust.App, topics: set[str]) -> Iterator[tuple[str, int, float]]:
    """Per assigned partition of `topics` (Faust's input topics; changelogs are read only on recovery)
    read from since the last rebalance: messages written past the last one handed to a stream."""
    consumer, read = app.consumer, read_offsets(app).read
    for tp in sorted(consumer.assignment()):
        if tp.topic not in topics or tp not in read:
            continue
        high = consumer.highwater(tp)
        if high is None:
            continue
        yield tp.topic, tp.partition, max(0, high - (read[tp] + 1))


def rates_document(rates: dict[str, Any], size: float, limit: str | None = None) -> dict[str, Any]:
    """`/rates`: the busiest `limit` series of each kind (default 1000), labels made safe, and
    how many series and events/s the cut left out (`other`)."""
    try:
        top = max(1, min(int(limit), 100_000)) if limit else 1000
    except ValueError:
        top = 1000
    doc: dict[str, Any] = {"window_seconds": size}
    for kind, label in (("events", "name"), ("matches", "pattern")):
        cut = busiest(window_rates(rates[kind], size), top)
        doc[kind] = [{"tenant": r.tenant, label: r.name, "per_second": r.per_second} for r in cut.top]
        doc[f"{kind}_other"] = {"series": cut.other_series, "per_second": cut.other_per_second}
    return doc


def register_views(app: faust.App, metrics: Metrics, host: Any, rates: dict[str, Any], size: float,
                   topics: set[str], sources: Any, watch: Any) -> None:
    """`topics`: the internal ones Faust reads; `sources`: the source consumer (agents/source_consumer.py);
    `watch`: the broker watch (agents/broker_watch.py): not ready while the broker is unreachable."""

    cached = CachedRates(rates, size)
    read_offsets(app)  # recording from the first message on

    def ready_now() -> bool:
        return is_ready(app) and sources.ready and watch.reachable

    def gauges() -> Iterator[tuple[str, dict[str, str], float]]:
        yield "goldrush_ready", {}, 1.0 if ready_now() else 0.0
        yield "goldrush_state_keys", {}, float(host.state_size())
        yield "goldrush_keys_indexed", {}, float(host.key_index.size())
        yield "goldrush_keys_forgotten_total", {}, float(host.key_index.forgotten)
        yield "goldrush_policy_waiting", {}, float(host.policy_waiting())
        yield "goldrush_tenants_loaded", {}, float(len(host.loaded))
        if host.version is not None:
            yield "goldrush_pattern_set_version", {}, float(host.version)
        yield "goldrush_tenants_unloaded_total", {}, float(host.unloaded_total)
        yield "goldrush_source_restarts_total", {}, float(sources.restarts)
        yield "goldrush_source_held", {}, float(sources.held())
        yield "goldrush_broker_reachable", {}, 1.0 if watch.reachable else 0.0
        for model, n in MODEL_ERRORS.items():
            yield "goldrush_model_errors_total", {"model": model}, float(n)
        for pattern, n in host.states_reset().items():
            yield "goldrush_states_reset_total", {"pattern": pattern}, float(n)
        try:
            for topic, partition, lag in [*sources.lag(), *consumer_lag(app, topics)]:
                yield "goldrush_consumer_lag", {"topic": topic, "partition": str(partition)}, float(lag)
        except Exception:  # noqa: BLE001 - a scrape must not fail while the consumer restarts
            pass
        for metric, label, kind in (("goldrush_event_rate", "name", "events"),
                                    ("goldrush_match_rate", "pattern", "matches")):
            rows = cached.rows(kind)
            yield "goldrush_rate_series", {"kind": kind}, float(len(rows))
            cut = busiest(rows)
            for tenant, name, per_second in cut.top:
                yield metric, {"tenant": tenant, label: name}, per_second
            if cut.other_series:
                yield metric, {"tenant": OTHER, label: OTHER}, cut.other_per_second

    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    async def ready(web: Any, request: Any) -> Any:
        ok = ready_now()
        return web.json({"ready": ok, "tenants_loaded": len(host.loaded)}, status=200 if ok else 503)

    async def prometheus(web: Any, request: Any) -> Any:
        return web.text(metrics.render(gauges()), content_type=PROMETHEUS)

    async def live_rates(web: Any, request: Any) -> Any:
        return web.json(rates_document(rates, size, request.query.get("limit")))

    # Probes and scrapers call these without a trailing slash, people with one: serve both.
    for path, view in (("/health", health), ("/ready", ready), ("/metrics", prometheus), ("/rates", live_rates)):
        for variant in (path, path + "/"):
            app.page(variant, name=f"goldrush-{path[1:]}{'-slash' if variant.endswith('/') else ''}")(view)
