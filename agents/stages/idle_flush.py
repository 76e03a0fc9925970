"""The idle flush: a tenant quiet for its lateness (≥ 1 s of wall-clock time) has its reorder
buffer released, as the end of a replay would; and, once after each assignment, tenants
marked in the table as holding buffered events are loaded (agents/quiet_flush.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

from ..host import EngineHost
from ..metrics import input_written_at
from ..quiet_flush import StandIn, mark_partition, marked_tenants
from .outcome import Outcome
from .settle import Settler

log = logging.getLogger("goldrush.worker")


class IdleFlush:
    def __init__(self, host: EngineHost, state: Any, settle: Settler, engine_in_topic: str):
        self.host, self.state, self.settle, self.topic = host, state, settle, engine_in_topic

    def load_marked(self, assigned: set[int]) -> None:
        """Once this assignment is recovered (`assigned`: its engine-in partitions)."""
        host, state = self.host, self.state
        found = marked_tenants(list(state.keys()), lambda key: mark_partition(state[key]), assigned)
        for tenant, partition in found:
            host.ensure_loaded(tenant, state, StandIn(self.topic, partition))
        host.marks_scanned = True
        if found:
            log.info("%d tenants with buffered events loaded after recovery", len(found))

    def handle(self, now: float | None = None) -> Outcome | None:
        """One outcome (one publish) for every idle tenant flushed and every checkpoint due of a
        tenant that got no records since; None if there is neither."""
        host = self.host
        now = time.monotonic() if now is None else now
        idle = host.idle_tenants(now)
        due = host.due_checkpoints(now)
        if not idle and not due:
            return None
        matches = [m for tenant in idle for m in host.flush_tenant(tenant)]
        outcome = self.settle(matches, {**due, **{tenant: host.last_event[tenant] for tenant in idle}}, now=now)
        outcome.since = input_written_at(host.last_event[tenant] for tenant in idle)
        outcome.count_matches()
        return outcome

    def final(self) -> Outcome:
        """Before a graceful stop: a snapshot of every tenant ahead of the table, except those
        with an outcome still to publish (the records they cover stay uncommitted)."""
        host = self.host
        return self.settle([], {tenant: record for tenant, record in host.dirty.items()
                                if tenant not in host.unpublished}, force=True)
