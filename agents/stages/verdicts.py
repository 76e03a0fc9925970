"""Verdicts: the key stage's answers complete the tenant's queued policy work, in replay order."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..host import EngineHost
from ..letters import unreadable_letter
from ..messages import read_verdicts
from ..metrics import Metrics
from .outcome import Outcome, StreamRecord
from .settle import Settler

log = logging.getLogger("goldrush.worker")


class VerdictStep:
    def __init__(self, host: EngineHost, state: Any, settle: Settler, metrics: Metrics):
        self.host, self.state, self.settle, self.metrics = host, state, settle, metrics

    def handle(self, batch: Sequence[StreamRecord]) -> Outcome:
        host = self.host
        touched: dict[str, Any] = {}
        counts: Counter = Counter()
        dead = []
        acks: list[Any] = []
        for record in batch:
            try:
                msg = read_verdicts(record.value)
            except ValueError as exc:
                log.warning("verdicts message %s/%s could not be read (%s): dead-lettered",
                            record.message.partition, record.message.offset, exc)
                self.metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
                dead.append(unreadable_letter(record.message, record.key, record.value, exc))
                acks.append(record)
                continue
            tenant = msg.tenant
            if host.group(msg.key_by) is None:
                host.ensure_loaded(tenant, self.state, record)  # its snapshot may await a group of an earlier set
                if host.stage_of(tenant).verdict_bit(msg.key_by) is None:
                    # answers for a group this tenant stage never waits for: nothing to do
                    acks.append(record)
                    continue
            host.ensure_loaded(tenant, self.state, record)  # verdicts are co-partitioned with engine-in
            host.on_verdicts(tenant, msg.key_by, msg.done)
            host.applied(tenant, record)
            for _, found in msg.done:
                for m in found:
                    counts["matches", tenant, m["pattern"]] += 1
            touched[tenant] = record
        outcome = self.settle([], touched)
        outcome.dead += dead
        outcome.acks += acks
        outcome.counts.update(counts)
        return outcome
