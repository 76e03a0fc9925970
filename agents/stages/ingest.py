"""Ingest: source records → dead letters, and engine-in messages grouped by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goldrush.events.codec import dumps_bytes, to_row
from goldrush.events.envelope import future_limit

from ..forwarding import MAX_INTERNAL_BYTES, Sourced, dead_row, engine_in_message, packed_chunks
from ..ingest import decode_message, name_filter
from ..letters import letter_key
from ..metrics import Metrics
from .outcome import Outcome


class Ingest:
    """Decodes a batch of source records (anything with topic, partition, offset, key, value;
    the source consumer's pieces of records come decoded already).

    Keeps no state: a record forwarded twice (a crash before its offset was committed) is
    skipped later by its source position (`EngineHost.fresh`).
    """

    def __init__(self, metrics: Metrics, event_filters: dict[str, list[str]], max_future: Any):
        self.metrics = metrics
        self.filters = {topic: name_filter(globs) for topic, globs in event_filters.items()}
        self.max_future = max_future

    def handle(self, records: Sequence[Any]) -> Outcome:
        out = Outcome()
        metrics = self.metrics
        by_tenant: dict[str, list[Sourced]] = {}
        limit = future_limit(self.max_future)
        for msg in records:
            topic, partition, offset = msg.topic, msg.partition, msg.offset
            decoded = getattr(msg, "decoded", None)  # a `source_consumer.Piece` comes decoded (its merge needs the times)
            events, letters, filtered = decoded if decoded is not None else decode_message(
                msg.value, topic, partition, offset, self.filters.get(topic), limit)
            metrics.inc("goldrush_events_filtered_total", filtered)
            for letter in letters:
                metrics.inc("goldrush_rejected_total", reason=letter.code)
                out.dead.append((letter_key(msg.key), dumps_bytes(letter.to_dict())))
            for index, ev in events:
                items = by_tenant.get(ev.tenant)
                if items is None:
                    items = by_tenant[ev.tenant] = []
                items.append((to_row(ev), topic, partition, offset, index))
            metrics.inc("goldrush_events_in_total", len(events))
        for tenant, items in by_tenant.items():
            for chunk, data in packed_chunks(items, engine_in_message):
                if len(data) > MAX_INTERNAL_BYTES:  # one event, too large to forward
                    (row, topic, partition, offset, index), = chunk
                    metrics.inc("goldrush_rejected_total", reason="too_large")
                    out.dead.append((tenant.encode(), dead_row(
                        f"event of {len(data)} bytes is too large to forward (limit {MAX_INTERNAL_BYTES})",
                        "too_large", tenant, row, topic, partition, offset, index)))
                    continue
                out.engine_in.append((tenant.encode(), data))
        return out
