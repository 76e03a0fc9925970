"""The tenant stage: engine-in messages → the tenant's reorder buffer, patterns keyed by the
tenant alone, and forwards of what a finer `key_by` needs (goldrush/engine/stages.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from goldrush.events.envelope import Event

from ..host import EngineHost
from ..in_place import InPlaceInput
from ..letters import evaluation_letter, unreadable_letter
from ..messages import read_engine_in
from ..metrics import Metrics, input_written_at
from .outcome import Outcome, StreamRecord, record_key
from .settle import Settler

log = logging.getLogger("goldrush.worker")


class TenantStep:
    """One batch of engine-in records; `state` is the tenant-state table (any mutable mapping).
    `passed(partition, token)` is told of the barriers read (agents/in_place.py)."""

    def __init__(self, host: EngineHost, state: Any, settle: Settler, metrics: Metrics,
                 passed: Callable[[int, str], list[InPlaceInput]] | None = None):
        self.host, self.state, self.settle, self.metrics = host, state, settle, metrics
        self.passed = passed

    def handle(self, batch: Sequence[StreamRecord]) -> Outcome:
        host = self.host
        events: list[Event] = []
        touched: dict[str, Any] = {}  # tenant → its last engine-in record (or in-place input)
        now = time.monotonic()
        dead: list[tuple[bytes | None, bytes]] = []
        acks: list[Any] = []
        for record in batch:
            if record.key is None:  # a barrier: the in-place inputs that waited for it come next
                acks.append(record)
                for item in self.barrier(record, dead):
                    self.take(item, events, touched, dead, acks, now)
                continue
            tenant = record_key(record)
            try:
                host.ensure_loaded(tenant, self.state, record)
                offset = record.message.offset
                if offset <= host.offsets.get(tenant, -1):
                    host.covered(tenant, record, acks)  # applied before a restart: its effect is in the state
                    continue
                fresh = host.fresh(tenant, read_engine_in(record.value))
            except Exception as exc:  # noqa: BLE001 - one unreadable message, not the stage
                self.unreadable(record, tenant, exc, dead)
                acks.append(record)
                continue
            host.offsets[tenant] = offset
            host.applied(tenant, record)
            host.arrived(tenant, record, now)
            events.extend(fresh)
            touched[tenant] = record
        return self.evaluate(events, touched, dead, acks, input_written_at(batch))

    def handle_in_place(self, inputs: Sequence[InPlaceInput]) -> Outcome:
        """Ingest's in-place inputs, as engine-in messages would be, without the trip."""
        events: list[Event] = []
        touched: dict[str, Any] = {}
        dead: list[tuple[bytes | None, bytes]] = []
        acks: list[Any] = []
        now = time.monotonic()
        for item in inputs:
            self.take(item, events, touched, dead, acks, now)
        stamps = [item.message.timestamp for item in inputs if item.message.timestamp is not None]
        return self.evaluate(events, touched, dead, acks, min(stamps) if stamps else None)

    def take(self, item: InPlaceInput, events: list[Event], touched: dict[str, Any], dead: list, acks: list,
             now: float) -> None:
        """One in-place input into the batch. No engine-in offset to check: its source positions
        skip what was applied before."""
        host, tenant = self.host, item.tenant
        try:
            host.ensure_loaded(tenant, self.state, item)
        except Exception as exc:  # noqa: BLE001 - this tenant's events, not the stage
            log.warning("tenant %.64r could not be loaded (%s): its %d events dead-lettered",
                        tenant, exc, len(item.events))
            self.metrics.inc("goldrush_rejected_total", len(item.events), reason="evaluation_failed")
            error = f"the tenant's state could not be loaded: {type(exc).__name__}: {exc}"[:500]
            dead += [evaluation_letter(ev, error) for ev in item.events]
            acks.append(item)
            return
        events.extend(host.fresh_of(tenant, item.events, item.runs))
        host.applied(tenant, item)
        host.arrived(tenant, item, now)
        touched[tenant] = item

    def evaluate(self, events: list[Event], touched: dict[str, Any], dead: list, acks: list,
                 since: float | None) -> Outcome:
        metrics, host = self.metrics, self.host
        metrics.inc("goldrush_events_evaluated_total", len(events))

        def duplicates() -> int:  # in every tenant stage (a tenant may be held back on an earlier version)
            return sum(stage.engine.stats["duplicates"] for stage, _ in host.tenant_stages())

        before = duplicates()
        outcome = self.settle(host.push_many(events), touched)
        metrics.inc("goldrush_duplicates_total", duplicates() - before)
        outcome.dead += dead
        outcome.acks += acks
        outcome.since = since
        for ev in events:
            outcome.counts["events", ev.tenant, ev.name] += 1
        outcome.count_matches()
        return outcome

    def barrier(self, record: StreamRecord, dead: list) -> list[InPlaceInput]:
        """A record without a tenant: a barrier, passed on (→ the inputs that waited for it), or
        unreadable (dead-lettered)."""
        try:
            message = read_engine_in(record.value)
            if message.barrier is None or message.rows:
                raise ValueError("an engine-in message without a tenant that is not a barrier")
        except Exception as exc:  # noqa: BLE001 - one unreadable message, not the stage
            self.unreadable(record, "", exc, dead)
            return []
        return [] if self.passed is None else self.passed(record.message.partition, message.barrier)

    def unreadable(self, record: StreamRecord, tenant: str, exc: Exception, dead: list) -> None:
        log.warning("engine-in message %s/%s of tenant %.64r could not be read (%s): dead-lettered",
                    record.message.partition, record.message.offset, tenant, exc)
        self.metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
        dead.append(unreadable_letter(record.message, record.key, record.value, exc))
