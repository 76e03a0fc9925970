"""Ingest: source records → dead letters, and engine-in messages grouped by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goldrush.events.codec import dumps_bytes, to_row
from goldrush.events.envelope import future_limit

from ..forwarding import (
    MAX_INTERNAL_BYTES,
    Sourced,
    dead_row,
    engine_in_message,
    packed_chunks,
    runs_of,
)
from ..in_place import InPlaceInput, Receipts, Router, Where
from ..ingest import decode_message, name_filter
from ..letters import letter_key
from ..metrics import Metrics
from .outcome import Outcome


class Ingest:
    """Decodes a batch of source records (anything with topic, partition, offset, key, value;
    the source consumer's pieces of records come decoded already).

    Keeps no state: a record forwarded twice (a crash before its offset was committed) is
    skipped later by its source position (`EngineHost.fresh`). With a `router`, the events of
    tenants whose engine-in partition is in place come out as `Outcome.in_place` instead of
    engine-in messages, their source records held in `receipts` (agents/in_place.py).
    """

    def __init__(self, metrics: Metrics, event_filters: dict[str, list[str]], max_future: Any,
                 router: Router | None = None, receipts: Receipts | None = None, engine_in: str = "engine-in"):
        self.metrics = metrics
        self.filters = {topic: name_filter(globs) for topic, globs in event_filters.items()}
        self.max_future = max_future
        self.router, self.receipts, self.engine_in = router, receipts, engine_in

    def handle(self, records: Sequence[Any]) -> Outcome:
        out = Outcome()
        metrics = self.metrics
        by_tenant: dict[str, list[Sourced]] = {}
        limit = future_limit(self.max_future)
        router = self.router
        if router is not None:
            out.barriers = router.refresh()
        written: dict[str, float] = {}  # tenant → its earliest record's timestamp (s), for in-place inputs
        for msg in records:
            topic, partition, offset = msg.topic, msg.partition, msg.offset
            decoded = getattr(msg, "decoded", None)  # a `source_consumer.Piece` comes decoded (its merge needs the times)
            events, letters, filtered = decoded if decoded is not None else decode_message(
                msg.value, topic, partition, offset, self.filters.get(topic), limit)
            metrics.inc("goldrush_events_filtered_total", filtered)
            for letter in letters:
                metrics.inc("goldrush_rejected_total", reason=letter.code)
                out.dead.append((letter_key(msg.key), dumps_bytes(letter.to_dict())))
            big = msg.value is not None and len(msg.value) > MAX_INTERNAL_BYTES // 4  # a row can be ~3× its JSON
            for index, ev in events:
                if big and self.too_large(ev.tenant, (to_row(ev), topic, partition, offset, index), out):
                    continue  # in place or forwarded alike: what cannot be forwarded is dead-lettered
                items = by_tenant.get(ev.tenant)
                if items is None:
                    items = by_tenant[ev.tenant] = []
                    if router is not None:
                        written[ev.tenant] = _seconds(getattr(msg, "timestamp", None))
                items.append((ev, topic, partition, offset, index))
            metrics.inc("goldrush_events_in_total", len(events))
        for tenant, items in by_tenant.items():
            if router is not None and router.here(tenant):
                out.in_place.append(self.in_place(tenant, items, written.get(tenant)))
                continue
            self.pack(tenant, [(to_row(ev), topic, partition, offset, index)
                               for ev, topic, partition, offset, index in items], out)
        return out

    def pack(self, tenant: str, rows: list[Sourced], out: Outcome) -> None:
        """The tenant's engine-in messages into `out`: an event too large to forward is dead-lettered."""
        for chunk, data in packed_chunks(rows, engine_in_message):
            if len(data) <= MAX_INTERNAL_BYTES or not self.too_large(tenant, chunk[0], out, len(data)):
                out.engine_in.append((tenant.encode(), data))

    def too_large(self, tenant: str, item: Sourced, out: Outcome, size: int | None = None) -> bool:
        """Whether one event is too large to forward (then dead-lettered into `out`)."""
        if size is None:
            size = len(engine_in_message([item]).to_bytes())
        if size <= MAX_INTERNAL_BYTES:
            return False
        row, topic, partition, offset, index = item
        self.metrics.inc("goldrush_rejected_total", reason="too_large")
        out.dead.append((tenant.encode(), dead_row(
            f"event of {size} bytes is too large to forward (limit {MAX_INTERNAL_BYTES})",
            "too_large", tenant, row, topic, partition, offset, index)))
        return True

    def in_place(self, tenant: str, items: list[Sourced], written: float | None) -> InPlaceInput:
        assert self.router is not None and self.receipts is not None
        self.metrics.inc("goldrush_events_in_place_total", len(items))
        runs = runs_of(items)
        held = self.receipts.hold((topic, partition, offset) for topic, partition, offset, _ in runs)
        where = Where(self.engine_in, self.router.partition(tenant), written)
        return InPlaceInput(tenant, where, [item[0] for item in items], runs, held, self.receipts)


def _seconds(timestamp: Any) -> float | None:
    """A source record's timestamp in seconds (aiokafka's are in milliseconds), if it has one."""
    return timestamp / 1000 if isinstance(timestamp, int | float) and timestamp > 0 else None
