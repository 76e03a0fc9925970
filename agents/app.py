"""The Faust app: ingest → tenant stage → (key stage →) output topics.

Flow (docs/architecture.md):
- `ingest` decodes the source topics, dead-letters what is not an event, and
  forwards events grouped by tenant to `<app_id>-engine-in`, keyed by tenant.
  It reads the sources with a plain aiokafka consumer in its own group
  (agents/source_consumer.py); the stages below are Faust agents.
- `evaluate` (tenant stage) reorders, finds late events, evaluates the patterns
  keyed by the tenant alone, and hands every event a finer `key_by` needs to
  `<app_id>-keyed`, keyed by that key (goldrush/engine/stages.py). Partitioning by
  tenant keeps each tenant's reorder buffer and watermark on one worker, as in replay.
- `evaluate_keyed` (key stage) evaluates each key group on the worker that owns
  the key, publishes its matches and reports per event to `<app_id>-verdicts`,
  keyed by tenant (co-partitioned with engine-in, so on the tenant's worker).
- `apply_verdicts` completes the tenant's queued policy work in replay order
  and publishes the actions.

State: one snapshot per tenant in `tenant-state` and one per key in
`key-state` (changelog topics), written after every batch once the batch's
outputs are on the broker, so a restarted worker skips what it had applied and
resumes where it stopped; one larger than a Kafka record is stored in pieces
(agents/snapshot_store.py). A pattern set with no finer `key_by` has no key stage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import faust
from faust.streams import _current_event

from goldrush.compiler.compiled import canonical_key
from goldrush.compiler.keygroups import partition_key
from goldrush.engine.gctune import THROUGHPUT_THRESHOLDS
from goldrush.events.codec import dumps_bytes, from_row, pack, to_row, unpack
from goldrush.events.envelope import Event, future_limit
from goldrush.events.topics import ACTIONS, DEADLETTER, LATE, MATCHES

from .broker_watch import BrokerWatch
from .config import WorkerConfig
from .dashboard import Activity, register_dashboard
from .early_start import EarlyStartApp
from .explain_view import register_explain_view
from .fetch_wait import cap_fetch_wait
from .flow_control import resume_keeps_queued_messages
from .forwarding import (
    MAX_INTERNAL_BYTES,
    Sourced,
    dead_row,
    engine_in_message,
    keyed_message,
    packed_chunks,
    progress_message,
    verdict_message,
)
from .host import EngineHost
from .ingest import decode_message, name_filter
from .key_expiry import floor_key
from .letters import (
    evaluation_letter,
    late_record,
    letter_key,
    unpublishable_letter,
    unreadable_letter,
)
from .metrics import Metrics, input_written_at
from .produced_topics import track_produced_topics
from .quiet_flush import StandIn, mark_partition, marked_tenants
from .source_consumer import SourceConsumer
from .status import register_status
from .table_keys import TENANT, tenant_key
from .web import is_ready, register_views
from .web_server import web_settings

log = logging.getLogger("goldrush.worker")

RATE_WINDOW = 10.0  # seconds per tumbling window of the live rate tables
RATE_EXPIRES = timedelta(minutes=5)
# How often quiet tenants are looked for: a tenant's last events are released between `lateness`
# and `lateness` + this after its last message. Only tenants with buffered events are looked at.
IDLE_CHECK = 0.25
UNLOAD_CHECK = 10.0  # seconds between looks for idle tenants to unload


def _wall_clock(event: Any) -> float:
    """Rate windows follow processing time: message timestamps may be absent (0) or old."""
    return time.time()


class Outcome:
    """Everything one batch produced, taken synchronously right after the engine ran.

    A rebalance can unload tenants at any `await`; snapshots taken later would be
    of unloaded (empty) state and would overwrite good state in the changelog.
    """

    __slots__ = ("dead", "matches", "actions", "late", "forwards", "progress", "verdicts", "snapshots", "counts",
                 "tenants", "since")

    def __init__(self) -> None:
        self.dead: list[tuple[bytes, bytes]] = []  # (key, value) for the dead-letter topic
        self.matches: list = []
        self.actions: list = []
        self.late: list[Event] = []
        self.forwards: list[tuple[bytes, bytes]] = []  # (key, value) for the keyed topic
        self.progress: list[tuple[int, bytes]] = []  # (partition, value) for the keyed topic, after the forwards
        self.verdicts: list[tuple[bytes, bytes]] = []  # (key, value) for the verdicts topic
        # (table, key, stream event, snapshot), in order; a snapshot of None deletes the key's
        self.snapshots: list[tuple[Any, str, Any, dict | None]] = []
        self.counts: Counter = Counter()  # ("events"|"matches", tenant, name) → n, for the rate tables
        self.tenants: list[str] = []  # whose snapshots these are: not unloaded before they are written
        self.since: float | None = None  # when the batch's earliest input record was written (detection latency)


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
    app = EarlyStartApp(
        cfg.app_id,
        datadir=datadir,
        broker=f"kafka://{cfg.broker}",
        store="memory://",
        topic_partitions=cfg.partitions,
        **web_settings(cfg.web_host, cfg.web_port),  # bind exactly --web-host, no Faust views
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
    sources = SourceConsumer(cfg)
    source_topics = app.topic(*cfg.topics, **raw)  # only declared: created if missing, as for a Faust agent
    engine_in = app.topic(f"{cfg.app_id}-engine-in", partitions=cfg.partitions, internal=True, **raw)
    engine_in_name = engine_in.get_topic_name()
    outputs = (MATCHES, LATE, DEADLETTER, *ACTIONS.values())

    async def emit(topic: str, key: bytes | None, value: bytes) -> None:
        """Hand a record to the producer. `Topic.send` costs three event-loop yields per record
        (its stampede guard); publishing a burst of 30,000 late events that way took 15-25 s."""
        await app.producer.send(topic, key, value, None, None, None)

    # Snapshots are stored in our own encoding: Faust's codec (orjson) writes NaN and
    # ±inf as null, and a restored state must equal the one written (goldrush/events/codec.py).
    snapshot_table = {"partitions": cfg.partitions, "value_type": bytes}  # bytes: the "raw" codec
    state = app.Table("tenant-state", **snapshot_table)
    stage, keys = host.stage, host.keys
    keyed_stage = bool(stage.groups)
    keyed = app.topic(f"{cfg.app_id}-keyed", partitions=cfg.partitions, internal=True, **raw)
    verdicts = app.topic(f"{cfg.app_id}-verdicts", partitions=cfg.partitions, internal=True, **raw)
    key_state = app.Table("key-state", **snapshot_table) if keyed_stage else None
    internal = [engine_in, keyed, verdicts] if keyed_stage else [engine_in]
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
    # The topics partitioned like the state, made with `cfg.partitions` on the first start (agents/worker.py checks)
    app.goldrush_partitioned = ([t.get_topic_name() for t in internal]  # type: ignore[attr-defined]
                                + [t.changelog_topic.get_topic_name() for t in app.tables.values()])
    watch = BrokerWatch(cfg.broker, app.goldrush_partitioned)  # type: ignore[attr-defined]
    register_views(app, metrics, host, rates, RATE_WINDOW, {t.get_topic_name() for t in internal}, sources, watch)
    register_status(app, cfg.status_every, metrics, host, sources, {t.get_topic_name() for t in internal})
    activity = Activity()
    register_dashboard(app, metrics, host, rates, RATE_WINDOW,
                       lambda: is_ready(app) and sources.ready and watch.reachable, activity)

    @app.early_task
    async def watch_broker() -> None:
        """From the start, recovery included: see agents/broker_watch.py."""
        await watch.run()

    register_explain_view(app, host)

    tracking: list[asyncio.Task] = []

    async def topics_tracked() -> None:
        """Before the first send: see agents/produced_topics.py (the stall it prevents)."""
        if not tracking:
            tracking.append(asyncio.ensure_future(track_produced_topics(app, internal, outputs)))
        await asyncio.shield(tracking[0])

    @app.task
    async def shorten_fetch_wait() -> None:
        """Once the consumer runs (tasks start after recovery): see agents/fetch_wait.py."""
        cap_fetch_wait(app, cfg.fetch_wait)

    async def ingest(records: list[Any]) -> None:
        """Decode a batch of source records; dead letters out, events to engine-in grouped by tenant."""
        by_tenant: dict[str, list[Sourced]] = {}
        limit = future_limit(cfg.max_future)
        for msg in records:
            topic, partition, offset = msg.topic, msg.partition, msg.offset
            decoded = getattr(msg, "decoded", None)  # hook (watermark): a source_consumer.Piece comes decoded
            events, letters, filtered = decoded if decoded is not None else decode_message(
                msg.value, topic, partition, offset, filters.get(topic), limit)
            metrics.inc("goldrush_events_filtered_total", filtered)
            for letter in letters:
                metrics.inc("goldrush_rejected_total", reason=letter.code)
                await emit(DEADLETTER, letter_key(msg.key), dumps_bytes(letter.to_dict()))
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
                    await emit(DEADLETTER, tenant.encode(), dead_row(
                        f"event of {len(data)} bytes is too large to forward (limit {MAX_INTERNAL_BYTES})",
                        "too_large", tenant, row, topic, partition, offset, index))
                    continue
                await emit(engine_in_name, tenant.encode(), data)
        await app.producer.flush()  # forwarded before the source offsets are committed

    recovered = asyncio.Event()  # the source consumer reads only after the tables are recovered

    @app.early_task
    async def read_sources() -> None:
        """Joins with the app, reads once it runs: see agents/source_consumer.py and agents/early_start.py."""
        while not app.consumer.started:  # Faust's producer knows the cluster by then (declaring needs it)
            await asyncio.sleep(0.02)
        while True:  # created if missing, so that the group joins once, with the partitions there
            try:
                await source_topics.maybe_declare()
                break
            except Exception:  # noqa: BLE001 - e.g. no controller known yet; an early task must not crash the app
                log.warning("could not declare the source topics yet; trying again", exc_info=True)
                await asyncio.sleep(1.0)
        await topics_tracked()
        await sources.run_forever(ingest, start_reading=recovered)

    @app.task
    async def start_reading_sources() -> None:
        """Tasks start after table recovery: from here, ingest's forwards find the stages running."""
        recovered.set()

    def settle(matches: list, tenants: dict[str, Any], outcome: Outcome | None = None) -> Outcome:
        """Take what the tenant stage produced and the snapshots of `tenants` (→ their last stream event)."""
        out = Outcome() if outcome is None else outcome
        out.matches += matches
        out.actions += stage.drain_actions()
        out.late += engine.late
        engine.late.clear()
        for ev, error in stage.drain_failed():
            metrics.inc("goldrush_rejected_total", reason="evaluation_failed")
            out.dead.append(evaluation_letter(ev, error))
        by_key: dict[tuple[int, Any], list] = {}
        outbox = stage.drain_outbox()
        metrics.inc("goldrush_events_forwarded_total", len(outbox))
        for group, key, seq, ev in outbox:
            by_key.setdefault((group, key), []).append([seq, to_row(ev)])
        for (group, key), events in by_key.items():
            kb = partition_key(group, key)
            key_by = stage.groups[group].key_by
            for _, data in packed_chunks(events, lambda c: keyed_message(key_by, key, c)):  # noqa: B023
                out.forwards.append((kb, data))
        if key_state is not None and cfg.key_expiry:
            for tenant in tenants:
                progress = host.progress_due(tenant, cfg.key_expiry)
                if progress is not None:
                    data = pack(progress_message(tenant, *progress))
                    out.progress += [(partition, data) for partition in range(cfg.partitions)]
        out.snapshots += [(state, tenant_key(tenant), source_event, host.snapshot(tenant))
                          for tenant, source_event in tenants.items()]
        out.tenants += tenants
        host.settled(tenants)
        out.snapshots += [(state, key, source_event, mark)
                          for key, source_event, mark in host.marks.changes(tenants, engine.buffer)]
        return out

    def write_tables(outcome: Outcome) -> None:
        """Store snapshots and rates in the changelog partition of the stream event they belong to.

        Faust picks a table's changelog partition (and a window's timestamp) from the
        *current* stream event, which `take_events` does not set (faust-streaming
        issue #497), so we set it to the last event of that tenant (or key):
        co-partitioned with its input topic, as recovery expects.
        """
        tenant_events = {key[len(TENANT):]: source_event for table, key, source_event, _ in outcome.snapshots
                         if table is state and key.startswith(TENANT)}
        for table, key, source_event, snapshot in outcome.snapshots:
            store = host.tenant_snapshots if table is state else host.key_snapshots
            token = _current_event.set(weakref.ref(source_event))
            try:
                if snapshot is None:
                    store.remove(table, key)
                else:
                    store.write(table, key, pack(snapshot))
            finally:
                _current_event.reset(token)
        for (kind, tenant, name), n in outcome.counts.items():
            source_event = tenant_events.get(tenant)
            if source_event is None:
                continue  # counted where the tenant's snapshot is written
            token = _current_event.set(weakref.ref(source_event))
            try:
                rates[kind][json.dumps([tenant, name])] += n
            finally:
                _current_event.reset(token)

    # Outcomes are published one at a time, in the order they were settled: a snapshot
    # (which covers every batch settled before it) is written only once the outputs of
    # all those batches are on the broker. Otherwise a SIGKILL could leave state in the
    # changelog whose matches, forwards or actions never reached their topics.
    publishing = asyncio.Lock()

    async def publish(outcome: Outcome) -> None:
        async with publishing:
            for kb, value in outcome.dead:
                await emit(DEADLETTER, kb, value)
            for m in outcome.matches:
                metrics.inc("goldrush_matches_total", pattern=m.pattern)
                await emit_record("match", MATCHES, m.tenant, m.to_dict)
            if outcome.since is not None and outcome.matches:
                latency = time.time() - outcome.since
                for _ in outcome.matches:
                    metrics.observe("goldrush_detection_latency_seconds", latency)
            for a in outcome.actions:
                metrics.inc("goldrush_actions_total", type=a.type)
                await emit_record("action", ACTIONS[a.type], a.tenant, a.to_dict)
            for ev in outcome.late:
                metrics.inc("goldrush_late_total")
                await emit_record("late event", LATE, ev.tenant, partial(late_record, ev))
            for kb, value in outcome.forwards:
                await emit(keyed.get_topic_name(), kb, value)
            for partition, value in outcome.progress:
                await app.producer.send(keyed.get_topic_name(), None, value, partition, None, None)
            for tb, value in outcome.verdicts:
                await emit(verdicts.get_topic_name(), tb, value)
            await app.producer.flush()
            activity.record(outcome.matches, outcome.actions)
            if outcome.snapshots:
                write_tables(outcome)
                # The changelog must be on the broker before this batch's offsets are
                # committed: otherwise a SIGKILL loses state the committed offsets skip past.
                await app.producer.flush()
            host.published(outcome.tenants)

    async def emit_record(kind: str, topic: str, tenant: str, record: Callable[[], Any]) -> None:
        """Publish one output record; one that cannot be serialized or sent is dead-lettered with
        the reason, and the batch goes on (it crashed the stage, and another tenant lost its output)."""
        try:
            value = dumps_bytes(record())
            await emit(topic, tenant.encode(), value)
        except Exception as exc:  # noqa: BLE001 - contained to this record, reported with its error
            metrics.inc("goldrush_rejected_total", reason="unpublishable")
            log.warning("a %s of tenant %.64r could not be published (%s): dead-lettered", kind, tenant, exc)
            await emit(DEADLETTER, *unpublishable_letter(kind, tenant, record(), exc))

    @app.agent(engine_in)
    async def evaluate(stream: faust.StreamT) -> None:
        await topics_tracked()
        async for batch in stream.take_events(cfg.batch, cfg.batch_within):
            events: list[Event] = []
            touched: dict[str, Any] = {}  # tenant → its last engine-in event
            now = time.monotonic()
            dead: list[tuple[bytes, bytes]] = []
            for event in batch:
                tenant = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
                try:
                    host.ensure_loaded(tenant, state, event)
                    offset = event.message.offset
                    if offset <= host.offsets.get(tenant, -1):
                        continue  # applied before a restart: its effect is in the snapshot
                    fresh = host.fresh(tenant, unpack(event.value))
                except Exception as exc:  # noqa: BLE001 - one unreadable message, not the stage
                    log.exception("engine-in message %s/%s of tenant %.64r could not be read: dead-lettered",
                                  event.message.partition, event.message.offset, tenant)
                    metrics.inc("goldrush_rejected_total", reason="unreadable_internal")
                    dead.append(unreadable_letter(event.message, event.key, event.value, exc))
                    continue
                host.offsets[tenant] = offset
                host.arrived(tenant, event, now)
                events.extend(fresh)
                touched[tenant] = event
            metrics.inc("goldrush_events_evaluated_total", len(events))
            duplicates = engine.stats["duplicates"]
            outcome = settle(engine.push_many(events), touched)
            metrics.inc("goldrush_duplicates_total", engine.stats["duplicates"] - duplicates)
            outcome.dead += dead
            outcome.since = input_written_at(batch)
            for ev in events:
                outcome.counts["events", ev.tenant, ev.name] += 1
            for m in outcome.matches:
                outcome.counts["matches", m.tenant, m.pattern] += 1
            await publish(outcome)
            metrics.observe("goldrush_batch_seconds", time.monotonic() - now, stage="tenant")

    if keyed_stage:
        assert key_state is not None

        def refuse_unknown_key_by(msg: dict[str, Any], source: Any, outcome: Outcome) -> None:
            """A keyed message for a `key_by` no loaded pattern uses: workers of the group run
            different pattern sets (a rolling upgrade). Its events are dead-lettered, and the
            tenant stage is told "no matches" so that its policy work does not wait forever."""
            tenant, events = msg["key"][0], msg["events"]
            metrics.inc("goldrush_keyed_dropped_total", len(events))
            metrics.inc("goldrush_rejected_total", len(events), reason="unknown_key_by")
            log.warning("%d events for key_by %s, which no loaded pattern uses: dead-lettered",
                        len(events), msg["key_by"])
            reason = (f"no pattern loaded on this worker is keyed by {msg['key_by']}: "
                      "the workers of this group run different pattern sets")
            for index, (_, row) in enumerate(events):
                outcome.dead.append((tenant.encode(), dead_row(reason, "unknown_key_by", tenant, row, source.topic,
                                                               source.partition, source.offset, index)))
            no_matches = [[seq, []] for seq, _ in events]
            for _, data in packed_chunks(no_matches, lambda c: verdict_message(tenant, msg["key_by"], c)):
                outcome.verdicts.append((tenant.encode(), data))

        @app.agent(keyed)
        async def evaluate_keyed(stream: faust.StreamT) -> None:
            """The key stage: each key group's patterns over its keys' events, in the tenants' order."""
            await topics_tracked()
            async for batch in stream.take_events(cfg.batch, cfg.batch_within):
                started = time.monotonic()
                outcome = Outcome()
                outcome.since = input_written_at(batch)
                reports: dict[tuple[str, int], list] = {}  # (tenant, group) → verdicts
                touched: dict[str, tuple[int, tuple, Any]] = {}  # table key → (group, key, its last event)
                forgotten: list[tuple[str, int, tuple]] = []
                evaluated = 0
                host.key_index.index_restored(key_state)
                for event in batch:
                    msg = unpack(event.value)
                    partition = event.message.partition
                    if "progress" in msg:
                        tenant = msg["key"][0]
                        floor, gone = host.on_progress(tenant, partition, *msg["progress"], key_state)
                        outcome.snapshots.append((key_state, floor_key(tenant, partition), event, {"floor": floor}))
                        for table_key, _, _ in gone:  # after the floor: a crash in between leaves the key, not a gap
                            outcome.snapshots.append((key_state, table_key, event, None))
                            touched.pop(table_key, None)
                        forgotten += gone
                        continue
                    group = host.group(msg["key_by"])
                    if group is None:
                        refuse_unknown_key_by(msg, event.message, outcome)
                        continue
                    key = canonical_key(msg["key"])  # NaNs made one object again, as in the engine
                    table_key = event.key.decode() if isinstance(event.key, bytes) else str(event.key)
                    host.ensure_key_loaded(group.index, key, table_key, key_state)
                    tenant = key[0]  # every key group's key starts with the tenant
                    host.key_index.add(tenant, partition, table_key, group.index, key)
                    floor = host.key_index.floor(tenant, partition, key_state)
                    found, done = keys.apply(group.index, key, [(seq, from_row(tenant, row)) for seq, row in msg["events"]],
                                             floor)
                    for ev, error in keys.drain_failed():
                        metrics.inc("goldrush_rejected_total", reason="evaluation_failed")
                        outcome.dead.append(evaluation_letter(ev, error))
                    evaluated += len(done)
                    outcome.matches += found
                    if group.has_actions:
                        reports.setdefault((key[0], group.index), []).extend(done)
                    elif found:  # only for the rate table
                        reports.setdefault((key[0], group.index), []).extend(d for d in done if d[1])
                    touched.pop(table_key, None)  # re-inserted: written after any delete of it in this batch
                    touched[table_key] = (group.index, key, event)
                metrics.inc("goldrush_events_keyed_total", evaluated)
                for (tenant, group_index), done in reports.items():
                    key_by = stage.groups[group_index].key_by
                    for _, data in packed_chunks(done, lambda c: verdict_message(tenant, key_by, c)):  # noqa: B023
                        outcome.verdicts.append((tenant.encode(), data))
                outcome.snapshots += [(key_state, table_key, event, keys.snapshot(group_index, key))
                                      for table_key, (group_index, key, event) in touched.items()]
                await publish(outcome)
                host.unload_forgotten(forgotten, touched)
                metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage="key")

        @app.agent(verdicts)
        async def apply_verdicts(stream: faust.StreamT) -> None:
            """Key-stage verdicts complete the tenant's queued policy work, in replay order."""
            await topics_tracked()
            async for batch in stream.take_events(cfg.batch, cfg.batch_within):
                started = time.monotonic()
                touched: dict[str, Any] = {}
                counts: Counter = Counter()
                for event in batch:
                    msg = unpack(event.value)
                    group = host.group(msg["key_by"])
                    tenant = msg["tenant"]
                    if group is None:  # answers for a group this tenant stage never waits for: nothing to do
                        continue
                    host.ensure_loaded(tenant, state, event)  # verdicts are co-partitioned with engine-in
                    stage.on_results(tenant, group.index, msg["done"])
                    for _, found in msg["done"]:
                        for m in found:
                            counts["matches", tenant, m["pattern"]] += 1
                    touched[tenant] = event
                outcome = settle([], touched)
                outcome.counts.update(counts)
                await publish(outcome)
                metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage="verdicts")

    def load_marked_tenants() -> None:
        """Once this assignment is recovered: see agents/quiet_flush.py."""
        assigned = {tp.partition for tp in app.consumer.assignment() if tp.topic == engine_in_name}
        found = marked_tenants(list(state.keys()), lambda key: mark_partition(state[key]), assigned)
        for tenant, partition in found:
            host.ensure_loaded(tenant, state, StandIn(engine_in_name, partition))
        host.marks_scanned = True
        if found:
            log.info("%d tenants with buffered events loaded after recovery", len(found))

    @app.timer(IDLE_CHECK)
    async def flush_idle() -> None:
        """A tenant quiet for `lateness` of wall-clock time (≥ 1 s) has its buffer flushed."""
        if not host.marks_scanned and is_ready(app):
            load_marked_tenants()
        idle = host.idle_tenants()
        if idle:  # one publish (one producer flush) for all of them, not one per tenant
            await topics_tracked()
            started = time.monotonic()
            matches = [m for tenant in idle for m in engine.flush_tenant(tenant)]
            outcome = settle(matches, {tenant: host.last_event[tenant] for tenant in idle})
            outcome.since = input_written_at(host.last_event[tenant] for tenant in idle)
            for m in outcome.matches:
                outcome.counts["matches", m.tenant, m.pattern] += 1
            await publish(outcome)
            metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage="idle_flush")

    @app.timer(UNLOAD_CHECK)
    async def unload_idle() -> None:
        """Tenants unused for `unload_after` leave memory; their state is in the table (changelog)."""
        gone = host.unload_idle(cfg.unload_after)
        if gone:
            log.info("%d idle tenants unloaded (%d loaded)", len(gone), len(host.loaded))

    @app.on_partitions_revoked.connect
    async def on_revoked(app_: faust.App, revoked: Any, **kwargs: Any) -> None:
        # Partitions may move: forget everything, reload tenants and keys lazily from the tables.
        host.unload_all()

    app.goldrush_host = host  # type: ignore[attr-defined]
    return app
