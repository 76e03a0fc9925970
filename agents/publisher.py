"""Publishing a stage's outcome: output records, internal forwards, then table writes.

The one place that writes to Kafka and to the tables. Outcomes are published one at
a time, in the order they were settled: a snapshot (which covers every batch settled
before it) is written only once the outputs of all those batches are on the broker.
Otherwise a SIGKILL could leave state in the changelog whose matches, forwards or
actions never reached their topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from goldrush.events.codec import dumps_bytes, pack
from goldrush.events.topics import ACTIONS, DEADLETTER, LATE, MATCHES

from .compat import current_event
from .dashboard import Activity
from .host import EngineHost
from .letters import late_record, unpublishable_letter
from .metrics import Metrics
from .stages.outcome import Outcome

log = logging.getLogger("goldrush.worker")

class Publisher:
    """`producer()` gives the running producer (Faust's, or anything with aiokafka's `send` and `flush`)."""

    def __init__(self, producer: Callable[[], Any], host: EngineHost, metrics: Metrics,
                 *, engine_in: str, keyed: str, verdicts: str, state: Any, rates: dict[str, Any],
                 activity: Activity | None = None, ack: Callable[[Any], Any] = lambda record: None,
                 applied: str | None = None, one_snapshot_per_batch: bool = False):
        """`one_snapshot_per_batch`: each snapshot write delivered alone, for the embedded broker. tansu
        0.6 answers a partition's latest offset counting record batches, not records (10 records in one
        batch: 1), and Faust recovers a changelog only up to that offset: a restart lost the snapshots
        written after the first of a batch (a key restored fresh, and matched again). Apache Kafka
        counts records; there the writes are batched."""
        self.producer = producer
        self.applied = applied  # goldrush.patterns.applied, when the worker follows the pattern store
        self.host, self.metrics, self.activity = host, metrics, activity
        self.engine_in, self.keyed, self.verdicts = engine_in, keyed, verdicts
        self.state, self.rates, self.ack = state, rates, ack
        self.one_snapshot_per_batch = one_snapshot_per_batch
        self.lock = asyncio.Lock()

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None) -> None:
        """Straight to the producer: Faust's `Topic.send` costs three event-loop yields per record."""
        await self.producer().send(topic, key, value, partition, None, None)

    async def flush(self) -> None:
        await self.producer().flush()

    async def forward(self, outcome: Outcome) -> None:
        """Ingest's outcome: dead letters and engine-in messages, on the broker before the
        source offsets are committed. No table writes, so no ordering with the stages."""
        for kb, value in outcome.dead:
            await self.send(DEADLETTER, kb, value, None)
        for kb, value in outcome.engine_in:
            await self.send(self.engine_in, kb, value, None)
        for partition, value in outcome.barriers:  # after the forwards: see agents/in_place.py
            await self.send(self.engine_in, None, value, partition)
        await self.flush()

    async def publish(self, outcome: Outcome) -> None:
        # Taken before any await: the outcome was produced by the set running now, and the
        # pattern set may change at the next await (agents/pattern_set.py).
        # Key-stage matches, and actions of work queued before a switch, carry their version already.
        version = self.host.version
        if version is not None:
            outcome.matches = [m if m.pattern_set_version is not None else replace(m, pattern_set_version=version)
                               for m in outcome.matches]
            outcome.actions = [a if a.pattern_set_version is not None else
                               a.model_copy(update={"pattern_set_version": version}) for a in outcome.actions]
        async with self.lock:
            send, metrics = self.send, self.metrics
            await self.record_switches()
            for kb, value in outcome.dead:
                await send(DEADLETTER, kb, value, None)
            for m in outcome.matches:
                metrics.inc("goldrush_matches_total", pattern=m.pattern)
                await self.record("match", MATCHES, m.tenant, m.to_dict)
            if outcome.since is not None and outcome.matches:
                latency = time.time() - outcome.since
                for _ in outcome.matches:
                    metrics.observe("goldrush_detection_latency_seconds", latency)
            for a in outcome.actions:
                metrics.inc("goldrush_actions_total", type=a.type)
                await self.record("action", ACTIONS[a.type], a.tenant, a.to_dict)
            for ev in outcome.late:
                metrics.inc("goldrush_late_total")
                await self.record("late event", LATE, ev.tenant, partial(late_record, ev))
            for kb, value in outcome.forwards:
                await send(self.keyed, kb, value, None)
            for partition, value in outcome.progress:
                await send(self.keyed, None, value, partition)
            for tb, value in outcome.verdicts:
                await send(self.verdicts, tb, value, None)
            await self.flush()
            if self.activity is not None:
                self.activity.record(outcome.matches, outcome.actions)
            keys_first = [s for s in outcome.snapshots if s[0] is not self.state]
            if keys_first and len(keys_first) < len(outcome.snapshots):
                # Keys evaluated beside their tenants: on the broker before the tenants' checkpoints,
                # so that a key is never behind its tenant (agents/keys_in_place.py).
                await self.write_tables(keys_first)
                await self.write_tables([s for s in outcome.snapshots if s[0] is self.state])
            elif outcome.snapshots:
                # The changelog must be on the broker before the records it covers are committed:
                # otherwise a SIGKILL loses state the committed offsets skip past.
                await self.write_tables(outcome.snapshots)
            self.write_counts(outcome)
            self.host.published(outcome.tenants)
            for record in outcome.acks:  # after the snapshots covering them are on the broker
                self.ack(record)
            for call in outcome.after:
                call()

    async def record_switches(self) -> None:
        """The pattern-set switches made since the last publish, on the broker before any output
        evaluated after them: a worker killed right after publishing new-version matches would
        otherwise leave no switch point, and its restart would switch at an older snapshot's clock,
        where no history can replay the run (docs/semantics.md §7). The pattern watch writes those
        no publish follows."""
        if self.applied is None or not self.host.switches:
            return
        switches, self.host.switches = self.host.switches, []
        try:
            for s in switches:
                await self.send(self.applied, f"{s['tenant']}\0{s['version']}".encode(), dumps_bytes(s), 0)
            await self.flush()
        except BaseException:
            self.host.switches[:0] = switches  # sent again by the next publish or the pattern watch
            raise

    async def record(self, kind: str, topic: str, tenant: str, make: Callable[[], Any]) -> None:
        """Publish one output record; one that cannot be serialized or sent is dead-lettered with
        the reason, and the batch goes on (it crashed the stage, and another tenant lost its output)."""
        try:
            value = dumps_bytes(make())
            await self.send(topic, tenant.encode(), value, None)
        except Exception as exc:  # noqa: BLE001 - contained to this record, reported with its error
            self.metrics.inc("goldrush_rejected_total", reason="unpublishable")
            log.warning("a %s of tenant %.64r could not be published (%s): dead-lettered", kind, tenant, exc)
            await self.send(DEADLETTER, *unpublishable_letter(kind, tenant, make(), exc), None)

    async def write_tables(self, snapshots: list[tuple[Any, str, Any, dict | None]]) -> None:
        """Store snapshots in the changelog partition of the stream event they belong to, and wait
        until they are on the broker.

        Faust picks a table's changelog partition (and a window's timestamp) from the
        *current* stream event, which `take_events` does not set (faust-streaming
        issue #497), so it is set to the last event of that tenant (or key):
        co-partitioned with its input topic, as recovery expects.
        """
        host, state = self.host, self.state
        tables = {}
        for table, key, source_event, snapshot in snapshots:
            tables[id(table)] = table
            store = host.tenant_snapshots if table is state else host.key_snapshots
            with current_event(source_event):
                if snapshot is None:
                    store.remove(table, key)
                else:
                    store.write(table, key, pack(snapshot))
            if self.one_snapshot_per_batch:
                await self.delivered(tables.values())
        await self.delivered(tables.values())

    async def delivered(self, tables: Iterable[Any]) -> None:
        """Until the tables' writes are on the broker: `flush` may return with some still buffered
        (agents/faust_app.py `DeliveredTable`)."""
        await self.flush()
        sent = [fut for table in tables if hasattr(table, "take_sent") for fut in table.take_sent()]
        if sent:
            await asyncio.gather(*sent)

    def write_counts(self, outcome: Outcome) -> None:
        """Rates, into the changelog partition of their tenant's last stream event."""
        for (kind, tenant, name), n in outcome.counts.items():
            record = outcome.tenants.get(tenant)
            if record is None:
                continue  # counted where the tenant's state is (the verdicts stage counts key-stage matches)
            with current_event(record):
                self.rates[kind][json.dumps([tenant, name])] += n


async def publish_batches(stream: Any, stage: str, handle: Callable[[Any], Outcome], publisher: Publisher,
                          metrics: Metrics, size: int, within: float, *, checkpointed: bool,
                          before: Callable[[Any], Awaitable[None]] | None = None,
                          after: Callable[[], None] | None = None) -> None:
    """A Faust agent's stream, batch by batch: handled, then published. Records of `checkpointed` stages
    are acked (committed) by the publisher once a snapshot covers them; the others once their batch is
    published (`take_events` acks them on the next batch)."""
    take = stream.noack_take if checkpointed else stream.take_events
    async for batch in take(size, within):
        if before is not None:
            await before(batch)
        started = time.monotonic()
        await publisher.publish(handle(batch))
        if after is not None:
            after()
        metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage=stage)
