"""The worker's Prometheus metrics, exposed with `prometheus-client`.

Counters are bumped by the agents (a dict add: `inc` is on the hot path); gauges are
read live at each scrape; two histograms time detection and batches. Rendering is
the client library's, so names, types, escaping and the format are the standard ones.
Kept free of Faust so that tests can pin it down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .series import label_value

prometheus_client.disable_created_metrics()  # no `_created` series: dashboards do not use them

#: metric name → (type, help) for every counter and gauge the worker exports
CATALOGUE: dict[str, tuple[str, str]] = {
    "goldrush_events_in_total": ("counter", "Events decoded from the source topics."),
    "goldrush_events_evaluated_total": ("counter", "Events run through the engine (after re-delivery dedupe)."),
    "goldrush_events_in_place_total": ("counter", "Events evaluated where they were read, without the trip through engine-in (--in-place)."),
    "goldrush_events_forwarded_total": ("counter", "Events handed to the key stage (once per key group that needs them)."),
    "goldrush_events_keyed_total": ("counter", "Events evaluated by key groups (patterns keyed finer than the tenant)."),
    "goldrush_events_keyed_in_place_total": ("counter", "Of those, evaluated beside their tenant, without the trip through the keyed and verdicts topics (--in-place-keys)."),
    "goldrush_keyed_dropped_total": ("counter", "Events for a key_by no loaded pattern uses (key stage: dead-lettered, answered with no matches)."),
    "goldrush_events_filtered_total": ("counter", "Events dropped by a source's event-name filter."),
    "goldrush_rejected_total": ("counter", "Messages or events sent to the dead-letter topic, by reason."),
    "goldrush_late_total": ("counter", "Events below their tenant's watermark, sent to the late topic."),
    "goldrush_duplicates_total": ("counter", "Events left out as copies of an id still in their tenant's reorder window."),
    "goldrush_broker_reachable": ("gauge", "1 while the broker answers the worker's checks (agents/broker_watch.py)."),
    "goldrush_tenants_unloaded_total": ("counter", "Idle tenants whose state left memory (it stays in the table)."),
    "goldrush_matches_total": ("counter", "Matches published, by pattern."),
    "goldrush_actions_total": ("counter", "Actions published, by type."),
    "goldrush_source_restarts_total": ("counter", "Times the source consumer failed and was started again (see the log)."),
    "goldrush_model_errors_total": ("counter", "Model updates that raised, by model (the event was left unscored)."),
    "goldrush_states_reset_total": ("counter", "Saved key states not restored because their pattern's definition changed, by pattern."),
    "goldrush_pattern_set_version": ("gauge", "The goldrush.patterns version this worker runs (absent: patterns from a file)."),
    "goldrush_pattern_set_switches_total": ("counter", "Pattern-set versions switched to without a restart."),
    "goldrush_pattern_sets_rejected_total": ("counter", "Pattern-set versions refused (did not compile, or cannot be switched live); the old set kept running."),
    "goldrush_patterns_started_fresh_total": ("counter", "Edited and new patterns that started with fresh state at a pattern-set switch."),
    "goldrush_consumer_lag": ("gauge", "Messages not yet read, per assigned partition."),
    "goldrush_source_held": ("gauge", "Source events read but held back until the source partitions behind them in "
                                      "event time catch up (agents/event_time_merge.py); 0 when no backlog is read."),
    "goldrush_keys_forgotten_total": ("counter", "Idle key-stage keys let go, snapshot deleted (agents/key_expiry.py)."),
    "goldrush_keys_indexed": ("gauge", "Key-stage keys with state on this worker (restored ones once indexed)."),
    "goldrush_state_keys": ("gauge", "(pattern, key) states held in memory."),
    "goldrush_policy_waiting": ("gauge", "Events whose action policies wait for key-group verdicts."),
    "goldrush_tenants_loaded": ("gauge", "Tenants whose state this worker holds."),
    "goldrush_event_rate": ("gauge", "Events per second in the current rate window, by tenant and name "
                                     "(the busiest series; the rest summed under tenant and name \"(other)\")."),
    "goldrush_match_rate": ("gauge", "Matches per second in the current rate window, by tenant and pattern "
                                     "(the busiest series; the rest summed under tenant and pattern \"(other)\")."),
    "goldrush_rate_series": ("gauge", "Rate series (tenant, name) in the window, before the cut to the busiest, by kind."),
    "goldrush_ready": ("gauge", "1 when assigned partitions are recovered and processing."),
}

#: histograms: name → (help, label names, buckets in seconds)
HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "goldrush_detection_latency_seconds": (
        "From the stage's input record being written (for the tenant stage: when ingest forwarded the "
        "event) to its match being published; includes the reorder hold (allowed lateness).",
        (), (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)),
    "goldrush_batch_seconds": (
        "Time to evaluate a batch and publish what it produced, by stage (tenant, key, verdicts, idle_flush).",
        ("stage",), (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)),
}

Labels = tuple[tuple[str, str], ...]
Gauge = tuple[str, dict[str, str], float]


def _family(name: str, labels: Iterable[str]) -> Metric:
    kind, text = CATALOGUE.get(name, ("gauge", ""))
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, text, labels=list(labels))


class _Collector:
    """Yields the counters and the scrape's gauges as metric families, grouped by name."""

    def __init__(self, counters: dict[tuple[str, Labels], float]):
        self.counters = counters
        self.gauges: Callable[[], Iterable[Gauge]] = lambda: ()

    def collect(self) -> Iterator[Metric]:
        rows: dict[str, list[tuple[Labels, float]]] = {}
        for (name, labels), value in sorted(self.counters.items()):
            rows.setdefault(name, []).append((labels, value))
        for name, labels, value in self.gauges():
            rows.setdefault(name, []).append((tuple(sorted(labels.items())), value))
        for name in sorted(rows):
            by_names: dict[tuple[str, ...], Metric] = {}
            for labels, value in rows[name]:
                keys = tuple(k for k, _ in labels)
                family = by_names.get(keys)
                if family is None:
                    family = by_names[keys] = _family(name, keys)
                family.add_metric([label_value(v) for _, v in labels], value)
            yield from by_names.values()


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, Labels], float] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _Collector(self.counters)
        self.registry.register(self._collector)  # type: ignore[arg-type]
        self.histograms: dict[str, Histogram] = {
            name: Histogram(name, text, labels, buckets=buckets, registry=self.registry)
            for name, (text, labels, buckets) in HISTOGRAMS.items()}

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        if n:
            key = (name, tuple(sorted(labels.items())))
            self.counters[key] = self.counters.get(key, 0) + n

    def get(self, name: str, **labels: str) -> float:
        return self.counters.get((name, tuple(sorted(labels.items()))), 0)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        histogram: Any = self.histograms[name]
        (histogram.labels(**labels) if labels else histogram).observe(max(0.0, seconds))

    def render(self, gauges: Iterable[Gauge] = ()) -> str:
        """The exposition text of the counters, the histograms and these gauges."""
        rows = list(gauges)
        self._collector.gauges = lambda: rows
        try:
            return generate_latest(self.registry).decode("utf-8")
        finally:
            self._collector.gauges = lambda: ()


def input_written_at(events: Iterable[Any]) -> float | None:
    """The earliest Kafka timestamp (seconds) of these stream events, for detection latency."""
    stamps = [getattr(getattr(e, "message", None), "timestamp", None) for e in events]
    found = [s for s in stamps if isinstance(s, int | float) and s > 0]
    return min(found) if found else None
