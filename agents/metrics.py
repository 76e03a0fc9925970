"""Counters the agents bump, rendered with live gauges as Prometheus text (format 0.0.4).

Kept free of Faust so that rendering is a pure function the tests can pin down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

#: metric name → (type, help) for everything the worker exports
CATALOGUE: dict[str, tuple[str, str]] = {
    "goldrush_events_in_total": ("counter", "Events decoded from the source topics."),
    "goldrush_events_evaluated_total": ("counter", "Events run through the engine (after re-delivery dedupe)."),
    "goldrush_events_forwarded_total": ("counter", "Events handed to the key stage (once per key group that needs them)."),
    "goldrush_events_keyed_total": ("counter", "Events evaluated by key groups (patterns keyed finer than the tenant)."),
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
    "goldrush_consumer_lag": ("gauge", "Messages not yet read, per assigned partition."),
    "goldrush_keys_forgotten_total": ("counter", "Idle key-stage keys let go, snapshot deleted (agents/key_expiry.py)."),
    "goldrush_keys_indexed": ("gauge", "Key-stage keys with state on this worker (restored ones once indexed)."),
    "goldrush_state_keys": ("gauge", "(pattern, key) states held in memory."),
    "goldrush_policy_waiting": ("gauge", "Events whose action policies wait for key-group verdicts."),
    "goldrush_tenants_loaded": ("gauge", "Tenants whose state this worker holds."),
    "goldrush_event_rate": ("gauge", "Events per second in the current rate window, by tenant and name."),
    "goldrush_match_rate": ("gauge", "Matches per second in the current rate window, by tenant and pattern."),
    "goldrush_ready": ("gauge", "1 when assigned partitions are recovered and processing."),
}

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: Labels, value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels)
        return f"{name}{{{inner}}} {value:g}"
    return f"{name} {value:g}"


@dataclass
class Metrics:
    counters: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        if n:
            key = (name, tuple(sorted(labels.items())))
            self.counters[key] = self.counters.get(key, 0) + n

    def get(self, name: str, **labels: str) -> float:
        return self.counters.get((name, tuple(sorted(labels.items()))), 0)

    def render(self, gauges: Iterable[tuple[str, dict[str, str], float]] = ()) -> str:
        rows: dict[str, list[str]] = {}
        for (name, labels), value in sorted(self.counters.items()):
            rows.setdefault(name, []).append(_sample(name, labels, value))
        for name, labels, value in gauges:
            rows.setdefault(name, []).append(_sample(name, tuple(sorted(labels.items())), value))
        out = []
        for name in sorted(rows):
            kind, text = CATALOGUE.get(name, ("untyped", ""))
            out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *rows[name]]
        return "\n".join(out) + "\n"
