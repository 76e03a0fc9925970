"""The tenant stage: engine-in messages → the tenant's reorder buffer, patterns keyed by the
tenant alone, and forwards of what a finer `key_by` needs (goldrush/engine/stages.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from goldrush.events.envelope import Event

from ..host import EngineHost
from ..letters import unreadable_letter
from ..messages import read_engine_in
from ..metrics import Metrics, input_written_at
from .outcome import Outcome, StreamRecord
from .settle import Settler

log = logging.getLogger("goldrush.worker")


def record_key(record: StreamRecord) -> str:
    key = record.key
    return key.decode() if isinstance(key, bytes) else str(key)


class TenantStep:
    """One batch of engine-in records; `state` is the tenant-state table (any mutable mapping)."""

    def __init__(self, host: EngineHost, state: Any, settle: Settler, metrics: Metrics):
        self.host, self.state, self.settle, self.metrics = host, state, settle, metrics

    def handle(self, batch: Sequence[StreamRecord]) -> Outcome:
        host, metrics, engine = self.host, self.metrics, self.host.engine
        events: list[Event] = []
        touched: dict[str, Any] = {}  # tenant → its last engine-in record
        now = time.monotonic()
        dead: list[tuple[bytes | None, bytes]] = []
        acks: list[Any] = []
        for record in batch:
            tenant = record_key(record)
            try:
                host.ensure_loaded(tenant, self.state, record)
                offset = record.message.offset
                if offset <= host.offsets.get(tenant, -1):
                    host.covered(tenant, record, acks)  # applied before a restart: its effect is in the state
                    continue
                fresh = host.fresh(tenant, read_engine_in(record.value))
            except Exception as exc:  # noqa: BLE001 - one unreadable message, not the stage
                log.warning("engine-in message %s/%s of tenant %.64r could not be read (%s): dead-lettered",
                            record.message.partition, record.message.offset, tenant, exc)
                metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
                dead.append(unreadable_letter(record.message, record.key, record.value, exc))
                acks.append(record)
                continue
            host.offsets[tenant] = offset
            host.applied(tenant, record)
            host.arrived(tenant, record, now)
            events.extend(fresh)
            touched[tenant] = record
        metrics.inc("goldrush_events_evaluated_total", len(events))
        duplicates = engine.stats["duplicates"]
        outcome = self.settle(engine.push_many(events), touched)
        metrics.inc("goldrush_duplicates_total", engine.stats["duplicates"] - duplicates)
        outcome.dead += dead
        outcome.acks += acks
        outcome.since = input_written_at(batch)
        for ev in events:
            outcome.counts["events", ev.tenant, ev.name] += 1
        outcome.count_matches()
        return outcome
