"""The key stage: each key group's patterns over its keys' events, on the worker owning the key,
in the tenants' order; per event a verdict back to the tenant stage (goldrush/engine/stages.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from goldrush.compiler.compiled import canonical_key
from goldrush.events.codec import from_row

from ..forwarding import dead_row, packed_chunks
from ..host import EngineHost
from ..key_expiry import floor_key
from ..letters import evaluation_letter, unreadable_letter
from ..messages import Keyed, Progress, Verdicts, read_keyed
from ..metrics import Metrics, input_written_at
from .outcome import Outcome, StreamRecord
from .tenant import record_key

log = logging.getLogger("goldrush.worker")


class KeyStep:
    """One batch of keyed records; `key_state` is the key-state table (any mutable mapping)."""

    def __init__(self, host: EngineHost, key_state: Any, metrics: Metrics):
        self.host, self.key_state, self.metrics = host, key_state, metrics
        self.forgotten: list[tuple[str, int, tuple]] = []  # of the last batch: unloaded once it is published
        self.touched: dict[str, tuple[int, tuple, Any]] = {}

    def handle(self, batch: Sequence[StreamRecord]) -> Outcome:
        host, keys, key_state, metrics = self.host, self.host.keys, self.key_state, self.metrics
        outcome = Outcome()
        outcome.since = input_written_at(batch)
        reports: dict[tuple[str, int], list] = {}  # (tenant, group) → verdicts
        touched: dict[str, tuple[int, tuple, Any]] = {}  # table key → (group, key, its last record)
        forgotten: list[tuple[str, int, tuple]] = []
        evaluated = 0
        host.key_index.index_restored(key_state)
        for record in batch:
            partition = record.message.partition
            try:
                msg = read_keyed(record.value)
            except ValueError as exc:
                log.warning("keyed message %s/%s could not be read (%s): dead-lettered",
                            partition, record.message.offset, exc)
                metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
                outcome.dead.append(unreadable_letter(record.message, record.key, record.value, exc))
                continue
            if isinstance(msg, Progress):
                floor, gone = host.on_progress(msg.tenant, partition, msg.seq, msg.clock, key_state)
                outcome.snapshots.append((key_state, floor_key(msg.tenant, partition), record, {"floor": floor}))
                for table_key, _, _ in gone:  # after the floor: a crash in between leaves the key, not a gap
                    outcome.snapshots.append((key_state, table_key, record, None))
                    touched.pop(table_key, None)
                forgotten += gone
                continue
            group = host.group(msg.key_by)
            if group is None:
                self.refuse_unknown_key_by(msg, record.message, outcome)
                continue
            key = canonical_key(msg.key)  # NaNs made one object again, as in the engine
            table_key = record_key(record)
            host.ensure_key_loaded(group.index, key, table_key, key_state)
            tenant = key[0]  # every key group's key starts with the tenant
            host.key_index.add(tenant, partition, table_key, group.index, key)
            floor = host.key_index.floor(tenant, partition, key_state)
            found, done = keys.apply(group.index, key, [(seq, from_row(tenant, row)) for seq, row in msg.events],
                                     floor)
            for ev, error in keys.drain_failed():
                metrics.inc("goldrush_rejected_total", reason="evaluation_failed")
                outcome.dead.append(evaluation_letter(ev, error))
            evaluated += len(done)
            outcome.matches += found
            if group.has_actions:
                reports.setdefault((tenant, group.index), []).extend(done)
            elif found:  # only for the rate table
                reports.setdefault((tenant, group.index), []).extend(d for d in done if d[1])
            touched.pop(table_key, None)  # re-inserted: written after any delete of it in this batch
            touched[table_key] = (group.index, key, record)
        metrics.inc("goldrush_events_keyed_total", evaluated)
        for (tenant, group_index), done in reports.items():
            key_by = host.stage.groups[group_index].key_by
            for _, data in packed_chunks(done, lambda c: Verdicts(tenant, key_by, c)):  # noqa: B023
                outcome.verdicts.append((tenant.encode(), data))
        outcome.snapshots += [(key_state, table_key, record, keys.snapshot(group_index, key))
                              for table_key, (group_index, key, record) in touched.items()]
        self.forgotten, self.touched = forgotten, touched
        return outcome

    def published(self) -> None:
        """The last batch's outcome is on the broker: its forgotten keys' snapshots are deleted."""
        self.host.unload_forgotten(self.forgotten, self.touched)
        self.forgotten, self.touched = [], {}

    def refuse_unknown_key_by(self, msg: Keyed, source: Any, outcome: Outcome) -> None:
        """A keyed message for a `key_by` no loaded pattern uses: workers of the group run
        different pattern sets (a rolling upgrade). Its events are dead-lettered, and the
        tenant stage is told "no matches" so that its policy work does not wait forever."""
        tenant, events = msg.key[0], msg.events
        self.metrics.inc("goldrush_keyed_dropped_total", len(events))
        self.metrics.inc("goldrush_rejected_total", len(events), reason="unknown_key_by")
        log.warning("%d events for key_by %s, which no loaded pattern uses: dead-lettered", len(events), msg.key_by)
        reason = (f"no pattern loaded on this worker is keyed by {msg.key_by}: "
                  "the workers of this group run different pattern sets")
        for index, (_, row) in enumerate(events):
            outcome.dead.append((tenant.encode(), dead_row(reason, "unknown_key_by", tenant, row, source.topic,
                                                           source.partition, source.offset, index)))
        no_matches = [[seq, []] for seq, _ in events]
        for _, data in packed_chunks(no_matches, lambda c: Verdicts(tenant, msg.key_by, c)):
            outcome.verdicts.append((tenant.encode(), data))
