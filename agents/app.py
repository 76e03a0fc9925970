"""The Faust app: ingest → engine (state in a changelog-backed table) → output topics.

Flow (ARCHITECTURE.md): source topics → `ingest` decodes, dead-letters what is
not an event, and forwards events grouped by tenant to the internal
`<app_id>-engine-in` topic keyed by tenant → `evaluate` runs the engine and
publishes matches, actions and late events. Partitioning by tenant keeps each
tenant's reorder buffer and watermark on one worker, exactly as in replay.

State: one snapshot per tenant in the `tenant-state` table (changelog topic),
written after every batch together with the offset it covers, so a restarted
worker skips what it had already applied and resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import Counter
from datetime import timedelta
from typing import Any

import faust
from faust.streams import _current_event

from goldrush.compiler import CompiledSet
from goldrush.engine import Engine
from goldrush.events import Event, decode
from goldrush.gctune import THROUGHPUT_THRESHOLDS
from goldrush.jsonio import dumps_bytes, loads
from goldrush.loader import load_patterns
from goldrush.topics import ACTIONS, DEADLETTER, LATE, MATCHES

from .config import WorkerConfig
from .fetch_wait import cap_fetch_wait
from .flow_control import resume_keeps_queued_messages
from .ingest import decode_message, name_filter
from .metrics import Metrics
from .produced_topics import track_produced_topics
from .web import register_views

log = logging.getLogger("goldrush.worker")

FORWARD_CHUNK = 200  # events per engine-in message
RATE_WINDOW = 10.0  # seconds per tumbling window of the live rate tables
RATE_EXPIRES = timedelta(minutes=5)


def _wall_clock(event: Any) -> float:
    """Rate windows follow processing time: message timestamps may be absent (0) or old."""
    return time.time()


class EngineHost:
    """The engine plus what the runtime needs around it: loaded tenants, offsets, idle times."""

    def __init__(self, cfg: WorkerConfig):
        self.engine = Engine(CompiledSet(load_patterns(cfg.patterns)), allowed_lateness=cfg.lateness)
        self.idle_after = max(self.engine.lateness, 1.0)
        self.loaded: set[str] = set()
        self.offsets: dict[str, int] = {}  # tenant → last engine-in offset applied
        # tenant → "topic/partition" of a source → [offset, index] of the last event applied from it.
        # A worker killed after forwarding but before committing its source offsets
        # forwards those events again; their source positions show they were applied.
        self.sources: dict[str, dict[str, list[int]]] = {}
        self.last_arrival: dict[str, float] = {}  # tenant → wall-clock time of its last event
        self.last_event: dict[str, Any] = {}  # tenant → its last engine-in stream event

    def ensure_loaded(self, tenant: str, table: Any) -> None:
        if tenant in self.loaded:
            return
        snap = table.get(tenant)
        if snap is not None:
            self.engine.restore_tenant(tenant, snap)
            self.offsets[tenant] = snap.get("offset", -1)
            self.sources[tenant] = snap.get("sources", {})
            log.info("tenant %s restored from the changelog at engine-in offset %s", tenant, self.offsets[tenant])
        self.loaded.add(tenant)

    def unload_all(self) -> None:
        log.info("partitions revoked: unloading %d tenants", len(self.loaded))
        for tenant in list(self.loaded):
            self.engine.unload_tenant(tenant)
        self.loaded.clear()
        self.offsets.clear()
        self.sources.clear()

    def snapshot(self, tenant: str) -> dict[str, Any]:
        snap = self.engine.snapshot_tenant(tenant)
        snap["offset"] = self.offsets.get(tenant, -1)
        snap["sources"] = self.sources.get(tenant, {})
        return snap

    def fresh(self, tenant: str, envelopes: list[dict], positions: list[list]) -> list[Event]:
        """The events not applied before, by their source position (topic, partition, offset, index)."""
        seen = self.sources.setdefault(tenant, {})
        out = []
        for envelope, (topic, partition, offset, index) in zip(envelopes, positions, strict=True):
            source = f"{topic}/{partition}"
            position = [offset, index]
            last = seen.get(source)
            if last is not None and position <= last:
                continue
            seen[source] = position
            out.append(decode(envelope))
        return out

    def idle_tenants(self) -> list[str]:
        now = time.monotonic()
        buffered = self.engine.buffer.tenants
        return [t for t, seen in self.last_arrival.items()
                if now - seen >= self.idle_after and t in buffered and buffered[t].queue]


def build_app(cfg: WorkerConfig) -> faust.App:
    import gc

    gc.set_threshold(*THROUGHPUT_THRESHOLDS)
    host = EngineHost(cfg)
    engine = host.engine
    import os
    import tempfile

    # Tables live in memory (changelogs on Kafka); the directory only holds Faust's
    # bookkeeping, so keep it out of the working directory.
    # (not "/tmp/goldrush": a directory named like the package would shadow it for `python -m`)
    datadir = cfg.data_dir or os.path.join(tempfile.gettempdir(), "goldrush-faust", cfg.app_id)
    os.makedirs(datadir, exist_ok=True)
    app = faust.App(
        cfg.app_id,
        datadir=datadir,
        broker=f"kafka://{cfg.broker}",
        store="memory://",
        topic_partitions=cfg.partitions,
        web_port=cfg.web_port,
        web_host=cfg.web_host,
        producer_acks=1,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=cfg.rebalance_timeout,
        broker_session_timeout=max(6.0, cfg.rebalance_timeout + 2),
        broker_heartbeat_interval=1.0,
        table_standby_replicas=0,
        # Waiting for in-flight batches on rebalance deadlocks with take_events (the group
        # never finishes rebalancing, faust-streaming/robinhood #402 and #133). Processing is
        # idempotent — re-delivered events are skipped by the engine-in offset and source
        # positions kept in each tenant's snapshot — so the batch is simply redone.
        stream_wait_empty=False,
    )
    resume_keeps_queued_messages(app.flow_control)
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    sources = app.topic(*cfg.topics, **raw)
    engine_in = app.topic(f"{cfg.app_id}-engine-in", partitions=cfg.partitions, internal=True, **raw)
    engine_in_name = engine_in.get_topic_name()
    outputs = (MATCHES, LATE, DEADLETTER, *ACTIONS.values())

    async def emit(topic: str, key: bytes | None, value: bytes) -> None:
        """Hand a record to the producer. `Topic.send` costs three event-loop yields per record
        (its stampede guard); publishing a burst of 30,000 late events that way took 15-25 s."""
        await app.producer.send(topic, key, value, None, None, None)

    state = app.Table("tenant-state", partitions=cfg.partitions)
    filters = {topic: name_filter(globs) for topic, globs in cfg.event_filters.items()}
    # Live rates: windowed, changelog-backed tables keyed by JSON [tenant, name], by
    # wall-clock processing time (event time may be hours old in a back-fill).
    rates = {
        kind: app.Table(table, default=int, partitions=cfg.partitions).tumbling(
            RATE_WINDOW, expires=RATE_EXPIRES, key_index=True).relative_to(_wall_clock)
        for kind, table in (("events", "event-rates"), ("matches", "match-rates"))
    }
    metrics = Metrics()
    app.goldrush_metrics = metrics  # type: ignore[attr-defined]
    register_views(app, metrics, host, rates, RATE_WINDOW, {*cfg.topics, engine_in.get_topic_name()})

    tracking: list[asyncio.Task] = []

    async def topics_tracked() -> None:
        """Before the first send: see agents/produced_topics.py (the stall it prevents)."""
        if not tracking:
            tracking.append(asyncio.ensure_future(track_produced_topics(app, [engine_in], outputs)))
        await asyncio.shield(tracking[0])

    @app.task
    async def shorten_fetch_wait() -> None:
        """Once the consumer runs (tasks start after recovery): see agents/fetch_wait.py."""
        cap_fetch_wait(app, cfg.fetch_wait)

    @app.agent(sources)
    async def ingest(stream: faust.StreamT) -> None:
        await topics_tracked()
        async for batch in stream.take_events(cfg.batch, cfg.batch_within):
            by_tenant: dict[str, tuple[list[dict], list[list]]] = {}
            for event in batch:
                msg = event.message
                events, letters, filtered = decode_message(msg.value, msg.topic, msg.partition, msg.offset,
                                                           filters.get(msg.topic))
                metrics.inc("goldrush_events_filtered_total", filtered)
                for letter in letters:
                    metrics.inc("goldrush_rejected_total", reason=letter.code)
                    await emit(DEADLETTER, msg.key, dumps_bytes(letter.to_dict()))
                for index, ev in events:
                    envelopes, positions = by_tenant.setdefault(ev.tenant, ([], []))
                    envelopes.append(ev.to_dict())
                    positions.append([msg.topic, msg.partition, msg.offset, index])
                metrics.inc("goldrush_events_in_total", len(events))
            for tenant, (envelopes, positions) in by_tenant.items():
                for i in range(0, len(envelopes), FORWARD_CHUNK):  # keep messages far below 1 MB
                    chunk = {"events": envelopes[i:i + FORWARD_CHUNK], "positions": positions[i:i + FORWARD_CHUNK]}
                    await emit(engine_in_name, tenant.encode(), dumps_bytes(chunk))

    def settle(matches: list, tenants: dict[str, Any]) -> tuple[list, list, list, dict[str, tuple[Any, dict]]]:
        """Everything a batch produced, taken synchronously right after the engine ran.

        A rebalance can unload tenants at any `await`; snapshots taken later would be
        of unloaded (empty) tenants and would overwrite good state in the changelog.
        """
        actions = engine.drain_actions()
        late = list(engine.late)
        engine.late.clear()
        snapshots = {tenant: (source_event, host.snapshot(tenant)) for tenant, source_event in tenants.items()}
        return matches, actions, late, snapshots

    def write_tables(tenant: str, source_event: Any, snapshot: dict, counts: Counter) -> None:
        """Store the tenant's snapshot and rates in the changelog partition of its last event.

        Faust picks a table's changelog partition (and a window's timestamp) from the
        *current* stream event, which `take_events` does not set (faust-streaming
        issue #497), so we set it to the tenant's last event: co-partitioned with
        engine-in, as recovery expects.
        """
        token = _current_event.set(weakref.ref(source_event))
        try:
            state[tenant] = snapshot
            for (kind, t, name), n in counts.items():
                if t == tenant:
                    rates[kind][json.dumps([t, name])] += n
        finally:
            _current_event.reset(token)

    async def publish(outcome: tuple[list, list, list, dict[str, tuple[Any, dict]]],
                      counts: Counter | None = None) -> None:
        matches, actions, late, snapshots = outcome
        counts = Counter() if counts is None else counts
        for m in matches:
            metrics.inc("goldrush_matches_total", pattern=m.pattern)
            counts["matches", m.tenant, m.pattern] += 1
            await emit(MATCHES, m.tenant.encode(), dumps_bytes(m.to_dict()))
        for a in actions:
            metrics.inc("goldrush_actions_total", type=a.type)
            await emit(ACTIONS[a.type], a.tenant.encode(), dumps_bytes(a.to_dict()))
        for ev in late:
            metrics.inc("goldrush_late_total")
            await emit(LATE, ev.tenant.encode(), dumps_bytes(
                {"reason": "below the tenant's watermark", "event": ev.to_dict()}))
        for tenant, (source_event, snapshot) in snapshots.items():
            write_tables(tenant, source_event, snapshot, counts)
        # Outputs and changelog must be on the broker before this batch's offsets can be
        # committed: otherwise a SIGKILL loses state that the committed offsets skip past.
        await app.producer.flush()

    @app.agent(engine_in)
    async def evaluate(stream: faust.StreamT) -> None:
        await topics_tracked()
        async for batch in stream.take_events(cfg.batch, cfg.batch_within):
            events: list[Event] = []
            touched: dict[str, Any] = {}  # tenant → its last engine-in event
            now = time.monotonic()
            for event in batch:
                tenant = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
                host.ensure_loaded(tenant, state)
                offset = event.message.offset
                if offset <= host.offsets.get(tenant, -1):
                    continue  # applied before a restart: its effect is in the snapshot
                host.offsets[tenant] = offset
                host.last_arrival[tenant] = now
                host.last_event[tenant] = event
                chunk = loads(event.value)
                events.extend(host.fresh(tenant, chunk["events"], chunk["positions"]))
                touched[tenant] = event
            counts = Counter(("events", ev.tenant, ev.name) for ev in events)
            metrics.inc("goldrush_events_evaluated_total", len(events))
            await publish(settle(engine.push_many(events), touched), counts)

    @app.timer(1.0)
    async def flush_idle() -> None:
        """A tenant quiet for `lateness` of wall-clock time (≥ 1 s) has its buffer flushed."""
        idle = host.idle_tenants()
        if idle:  # one publish (one producer flush) for all of them, not one per tenant
            await topics_tracked()
            matches = [m for tenant in idle for m in engine.flush_tenant(tenant)]
            await publish(settle(matches, {tenant: host.last_event[tenant] for tenant in idle}))

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: Any, **kwargs: Any) -> None:
        # Partitions may move: forget everything, reload tenants lazily from the table.
        host.unload_all()

    app.goldrush_host = host  # type: ignore[attr-defined]
    return app
