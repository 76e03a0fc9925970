"""The key stage: each key group's patterns over its keys' events, on the worker owning the key,
in the tenants' order; per event a verdict back to the tenant stage (goldrush/engine/stages.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from goldrush.compiler.compiled import canonical_key
from goldrush.events.codec import from_row

from ..forwarding import dead_row, packed_chunks
from ..host import EngineHost
from ..key_expiry import floor_key
from ..key_versions import VERSION_WAIT
from ..letters import evaluation_letter, unreadable_letter
from ..messages import Keyed, Progress, Verdicts, read_keyed
from ..metrics import Metrics, input_written_at
from .outcome import Outcome, StreamRecord, record_key

log = logging.getLogger("goldrush.worker")


class KeyStep:
    """One batch of keyed records; `key_state` is the key-state table (any mutable mapping)."""

    def __init__(self, host: EngineHost, key_state: Any, metrics: Metrics):
        self.host, self.key_state, self.metrics = host, key_state, metrics
        self.forgotten: list[tuple[str, int, tuple]] = []  # of the last batch: unloaded once it is published
        self.touched: dict[str, tuple[Any, int, tuple, Any]] = {}
        self.read_ahead: dict[int, Keyed | Progress] = {}  # id(record) → its message, read by `wait_for_versions`

    async def wait_for_versions(self, batch: Sequence[StreamRecord], poll: float = 0.1) -> None:
        """Before `handle`: while a message names a pattern-set version this worker has not adopted
        yet (another worker's tenant stage switched first), wait for the pattern watch to adopt it,
        at most VERSION_WAIT seconds; `handle` dead-letters what is still unknown then."""
        host = self.host
        if host.version is None:
            return
        versions = host.key_versions
        deadline = None
        for record in batch:
            try:
                msg = self.read_ahead[id(record)] = read_keyed(record.value)
            except ValueError:
                continue  # `handle` dead-letters it
            if not isinstance(msg, Keyed):
                continue
            while versions.may_come(host, msg.version):
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + VERSION_WAIT
                    log.info("keyed events of pattern-set version %s, which this worker runs not yet (it runs %s): "
                             "waiting for it", msg.version, host.version)
                if loop.time() >= deadline:
                    return
                await asyncio.sleep(poll)

    def handle(self, batch: Sequence[StreamRecord]) -> Outcome:
        host, key_state, metrics = self.host, self.key_state, self.metrics
        outcome = Outcome()
        outcome.since = input_written_at(batch)
        reports: dict[tuple[str, tuple], list] = {}  # (tenant, key_by) → verdicts
        touched: dict[str, tuple[Any, int, tuple, Any]] = {}  # table key → (stage, group, key, its last record)
        forgotten: list[tuple[str, int, tuple]] = []
        evaluated = 0
        host.key_index.index_restored(key_state)
        for record in batch:
            partition = record.message.partition
            try:
                msg = self.read_ahead.pop(id(record), None) or read_keyed(record.value)
            except ValueError as exc:
                log.warning("keyed message %s/%s could not be read (%s): dead-lettered",
                            partition, record.message.offset, exc)
                metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
                outcome.dead.append(unreadable_letter(record.message, record.key, record.value, exc))
                continue
            if isinstance(msg, Progress):
                forgotten += self.progress(msg.tenant, partition, msg.seq, msg.clock, record, outcome, touched)
                continue
            versions = host.key_versions
            if not versions.known(host, msg.version):
                self.refuse_unknown_version(msg, record.message, outcome)
                continue
            events = [(seq, from_row(msg.key[0], row)) for seq, row in msg.events]
            done = self.apply(msg.version, msg.key_by, msg.key, events, partition, record_key(record), record,
                              outcome, reports, touched)
            if done is None:
                self.refuse_unknown_key_by(msg, record.message, outcome)
                continue
            evaluated += done
        self.read_ahead.clear()
        metrics.inc("goldrush_events_keyed_total", evaluated)
        for (tenant, key_by), done in reports.items():
            for _, data in packed_chunks(done, lambda c: Verdicts(tenant, key_by, c)):  # noqa: B023
                outcome.verdicts.append((tenant.encode(), data))
        outcome.snapshots += [(key_state, table_key, record, stage.snapshot(group_index, key))
                              for table_key, (stage, group_index, key, record) in touched.items()]
        self.forgotten, self.touched = forgotten, touched
        return outcome

    def apply(self, version: int | None, key_by: Sequence[str], key: Any, events: list[tuple[int, Any]],
              partition: int, table_key: str, record: Any, outcome: Outcome, reports: dict[tuple[str, tuple], list],
              touched: dict[str, tuple[Any, int, tuple, Any]], memo_after: int | None = None) -> int | None:
        """One key's events into its group's engine: matches and dead letters into `outcome`, verdicts
        into `reports`, the key into `touched`; how many verdicts, or None when no loaded group is
        keyed by `key_by`."""
        host = self.host
        key = canonical_key(key)  # NaNs made one object again, as in the engine
        placed = host.key_versions.locate(host, version, key_by, key, table_key, self.key_state)
        if placed is None:
            return None
        keys, group, version = placed
        tenant = key[0]  # every key group's key starts with the tenant
        host.key_index.add(tenant, partition, table_key, group.index, key)
        floor = host.key_index.floor(tenant, partition, self.key_state)
        found, done = keys.apply(group.index, key, events, floor, version, memo_after)
        for ev, error in keys.drain_failed():
            self.metrics.inc("goldrush_rejected_total", reason="evaluation_failed")
            outcome.dead.append(evaluation_letter(ev, error))
        outcome.matches += found
        if group.has_actions:
            reports.setdefault((tenant, group.key_by), []).extend(done)
        elif found:  # only for the rate table
            reports.setdefault((tenant, group.key_by), []).extend(d for d in done if d[1])
        touched.pop(table_key, None)  # re-inserted: written after any delete of it in this batch
        touched[table_key] = (keys, group.index, key, record)
        return len(done)

    def progress(self, tenant: str, partition: int, seq: int, clock: float, record: Any, outcome: Outcome,
                 touched: dict[str, Any]) -> list[tuple[str, int, tuple]]:
        """The tenant's progress in one partition (agents/key_expiry.py): its new floor and the deletes of
        the keys it lets go into `outcome`; those keys, to unload once it is published."""
        host, key_state = self.host, self.key_state
        floor, gone = host.on_progress(tenant, partition, seq, clock, key_state)
        gone += host.key_versions.forget_idle(host, tenant, partition, clock, seq)
        outcome.snapshots.append((key_state, floor_key(tenant, partition), record, {"floor": floor}))
        for table_key, _, _ in gone:  # after the floor: a crash in between leaves the key, not a gap
            outcome.snapshots.append((key_state, table_key, record, None))
            touched.pop(table_key, None)
        return gone

    def published(self) -> None:
        """The last batch's outcome is on the broker: its forgotten keys' snapshots are deleted."""
        self.host.unload_forgotten(self.forgotten, self.touched)
        self.host.key_versions.unload_forgotten(self.forgotten, self.touched)
        self.forgotten, self.touched = [], {}

    def refuse_unknown_key_by(self, msg: Keyed, source: Any, outcome: Outcome) -> None:
        """A keyed message for a `key_by` no loaded pattern uses: workers of the group run
        different pattern sets (a rolling upgrade). Its events are dead-lettered, and the
        tenant stage is told "no matches" so that its policy work does not wait forever."""
        log.warning("%d events for key_by %s, which no loaded pattern uses: dead-lettered", len(msg.events),
                    msg.key_by)
        self.refuse(msg, source, outcome, "unknown_key_by",
                    f"no pattern loaded on this worker is keyed by {msg.key_by}: "
                    "the workers of this group run different pattern sets")

    def refuse_unknown_version(self, msg: Keyed, source: Any, outcome: Outcome) -> None:
        """A keyed message evaluated under a pattern-set version this worker does not have (it did
        not adopt it within VERSION_WAIT, or rejected it): never evaluated with another set."""
        log.warning("%d events for pattern-set version %s, which this worker does not have (it runs %s): "
                    "dead-lettered", len(msg.events), msg.version, self.host.version)
        self.refuse(msg, source, outcome, "unknown_pattern_set",
                    f"the tenant stage evaluated these events under pattern-set version {msg.version}, which "
                    f"this worker does not have (it runs version {self.host.version}): the workers of this "
                    "group do not run the same versions")

    def refuse(self, msg: Keyed, source: Any, outcome: Outcome, code: str, reason: str) -> None:
        tenant, events = msg.key[0], msg.events
        self.metrics.inc("goldrush_keyed_dropped_total", len(events))
        self.metrics.inc("goldrush_rejected_total", len(events), reason=code)
        for index, (_, row) in enumerate(events):
            outcome.dead.append((tenant.encode(), dead_row(reason, code, tenant, row, source.topic,
                                                           source.partition, source.offset, index)))
        no_matches = [[seq, []] for seq, _ in events]
        for _, data in packed_chunks(no_matches, lambda c: Verdicts(tenant, msg.key_by, c)):
            outcome.verdicts.append((tenant.encode(), data))
