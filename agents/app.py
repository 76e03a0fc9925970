"""The Faust app: topics, tables and the agents that bind them to the stages (docs/streaming.md).

    sources ─ingest─▶ engine-in ─tenant stage─▶ matches, actions, late
                      (by tenant)      │ ▲ verdicts (by tenant)
                               keyed   ▼ │
                            (by key) key stage ─▶ matches

Each stage is a plain class in agents/stages/ whose `handle(batch)` returns an `Outcome`;
agents/publisher.py publishes it, then writes its snapshots (tenant-state, key-state) and
acknowledges the records they cover. Ingest reads the sources with a plain aiokafka
consumer (agents/source_consumer.py). A pattern set with no finer `key_by` has no key stage;
a worker owning all of it evaluates the keys beside their tenants (agents/keys_in_place.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from functools import partial
from typing import Any

import faust

from goldrush.engine.gctune import THROUGHPUT_THRESHOLDS
from goldrush.events.topics import ACTIONS, DEADLETTER, LATE, MATCHES
from goldrush.kafka.pattern_store import APPLIED_TOPIC

from .broker_watch import BrokerWatch
from .compat import cap_fetch_wait
from .config import WorkerConfig
from .consumer_groups import read_to_the_end
from .dashboard import Activity
from .faust_app import new_app, rate_tables, snapshot_table
from .host import started_host
from .in_place import Router, owned_partitions
from .keys_in_place import KeysHere
from .metrics import Metrics
from .pattern_watch import PatternWatch
from .produced_topics import TrackedOnce
from .publisher import Publisher, publish_batches
from .rebalance import follow_rebalances
from .source_batches import SourceBatches
from .source_consumer import SourceConsumer
from .stages.idle_flush import IdleFlush
from .stages.ingest import Ingest
from .stages.keyed import KeyStep
from .stages.settle import Settler
from .stages.tenant import TenantStep
from .stages.verdicts import VerdictStep
from .views import register_all
from .web import is_ready

log = logging.getLogger("goldrush.worker")

IDLE_CHECK = 0.25  # seconds between looks for quiet tenants with buffered events
UNLOAD_CHECK = 10.0  # seconds between looks for idle tenants to unload


def build_app(cfg: WorkerConfig, initial: tuple[Any, int | None, int, Any] | None = None,
              history: tuple[list, list] | None = None) -> faust.App:
    """`initial`: (patterns, version, offset, layout) read from goldrush.patterns; `history`: (earlier
    versions, recorded switches) read with it (agents/pattern_watch.py `recorded_history`)."""
    gc.set_threshold(*THROUGHPUT_THRESHOLDS)
    host, patterns_offset = started_host(cfg, initial, history), initial[2] if initial is not None else 0
    app = new_app(cfg)

    # -- topics and tables ---------------------------------------------------------------
    raw = {"key_serializer": "raw", "value_serializer": "raw"}
    source_topics = app.topic(*cfg.topics, **raw)  # only declared: created if missing
    engine_in = app.topic(f"{cfg.app_id}-engine-in", partitions=cfg.partitions, internal=True, **raw)
    keyed = app.topic(f"{cfg.app_id}-keyed", partitions=cfg.partitions, internal=True, **raw)
    verdicts = app.topic(f"{cfg.app_id}-verdicts", partitions=cfg.partitions, internal=True, **raw)
    key_stage = bool(host.stage.groups)
    internal = [engine_in, keyed, verdicts] if key_stage else [engine_in]
    outputs = (MATCHES, LATE, DEADLETTER, *ACTIONS.values(), *((APPLIED_TOPIC,) if cfg.pattern_store else ()))
    state = snapshot_table(app, "tenant-state", cfg.partitions)
    key_state = snapshot_table(app, "key-state", cfg.partitions) if key_stage else None
    rates = rate_tables(app, cfg.partitions)
    app.goldrush_partitioned = ([t.get_topic_name() for t in internal]  # type: ignore[attr-defined]
                                + [t.changelog_topic.get_topic_name() for t in app.tables.values()])

    # -- stages, publishing and views -------------------------------------------------------
    metrics, activity, sources = Metrics(), Activity(), SourceConsumer(cfg)
    watch = BrokerWatch(cfg.broker, app.goldrush_partitioned)  # type: ignore[attr-defined]

    publisher = Publisher(lambda: app.producer, host, metrics, engine_in=engine_in.get_topic_name(),
                          keyed=keyed.get_topic_name(), verdicts=verdicts.get_topic_name(), state=state,
                          rates=rates, activity=activity, ack=lambda record: record.ack(),
                          applied=APPLIED_TOPIC if cfg.pattern_store else None,
                          one_snapshot_per_batch=cfg.embedded_broker)
    settle = Settler(host, state, metrics, partitions=cfg.partitions, key_expiry=cfg.key_expiry, keyed=key_stage)
    recovered = asyncio.Event()  # the source consumer reads only once the tables are recovered
    router = Router(cfg.partitions, lambda: owned_partitions(app, engine_in.get_topic_name(), recovered)
                    ) if cfg.in_place else None
    ingest = Ingest(metrics, cfg.event_filters, cfg.max_future, router, sources.receipts, engine_in.get_topic_name())
    tenant_step = TenantStep(host, state, settle, metrics, None if router is None else router.passed)
    idle_flush = IdleFlush(host, state, settle, engine_in.get_topic_name())

    register_all(app, cfg.status_every, metrics, host, rates, {t.get_topic_name() for t in internal}, sources,
                 watch, activity)
    app.goldrush_metrics, app.goldrush_host = metrics, host  # type: ignore[attr-defined]

    # -- tasks and agents ------------------------------------------------------------------
    topics_tracked = TrackedOnce(app, internal, outputs)  # before a first send: agents/produced_topics.py

    async def run_batches(stream: faust.StreamT, stage: str, handle: Any, **how: Any) -> None:
        await topics_tracked()
        await publish_batches(stream, stage, handle, publisher, metrics, cfg.batch, cfg.batch_within, **how)

    @app.early_task
    async def watch_broker() -> None:
        """From the start, recovery included: see agents/broker_watch.py."""
        await watch.run()

    @app.early_task
    async def read_sources() -> None:
        """Joins with the app, reads once it runs: see agents/source_consumer.py and compat.py."""
        while not app.consumer.started:  # Faust's producer knows the cluster by then
            await asyncio.sleep(0.02)
        await sources.declare(source_topics.maybe_declare)
        await topics_tracked()
        drained = partial(read_to_the_end, cfg.broker, engine_in.get_topic_name(), cfg.app_id)
        await sources.run_forever(SourceBatches(ingest, tenant_step, publisher, router, metrics, sources.rewind,
                                                drained), start_reading=recovered)

    @app.task
    async def start_reading_sources() -> None:
        """Tasks start after table recovery: from here, ingest's forwards find the stages running."""
        if cfg.embedded_broker:  # see agents/compat.py
            cap_fetch_wait(app, cfg.fetch_wait)
        recovered.set()

    @app.agent(engine_in)
    async def evaluate(stream: faust.StreamT) -> None:
        await run_batches(stream, "tenant", tenant_step.handle, checkpointed=True)

    if key_state is not None:
        key_step = KeyStep(host, key_state, metrics)
        verdict_step = VerdictStep(host, state, settle, metrics)
        settle.here = KeysHere(key_step, keyed.get_topic_name(), cfg.partitions, cfg.key_expiry,
                               partial(read_to_the_end, cfg.broker, keyed.get_topic_name(), cfg.app_id)
                               ) if cfg.in_place_keys else None

        @app.agent(keyed)
        async def evaluate_keyed(stream: faust.StreamT) -> None:
            await run_batches(stream, "key", key_step.handle, checkpointed=False, after=key_step.published,
                              before=key_step.wait_for_versions)

        @app.agent(verdicts)
        async def apply_verdicts(stream: faust.StreamT) -> None:
            await run_batches(stream, "verdicts", verdict_step.handle, checkpointed=True)

    @app.timer(IDLE_CHECK)
    async def flush_idle() -> None:
        if not host.marks_scanned and is_ready(app):
            idle_flush.load_marked({tp.partition for tp in app.consumer.assignment()
                                    if tp.topic == engine_in.get_topic_name()})
        started = time.monotonic()
        outcome = idle_flush.handle()
        if outcome is not None:
            await topics_tracked()
            await publisher.publish(outcome)
            metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage="idle_flush")

    @app.before_stop
    async def checkpoint() -> None:
        """So that a restart after a graceful stop redoes nothing."""
        await publisher.publish(idle_flush.final())
        await sources.commit_now()  # the source records evaluated in place that the snapshots cover

    if cfg.pattern_store:
        watch_patterns = PatternWatch(cfg, host, metrics, patterns_offset)

        @app.task
        async def follow_patterns() -> None:
            """New pattern-set versions swapped in between batches: see agents/pattern_watch.py."""
            await watch_patterns.run_forever()

    @app.timer(UNLOAD_CHECK)
    async def unload_idle() -> None:
        """Tenants unused for `unload_after` leave memory; their state is in the table."""
        gone = host.unload_idle(cfg.unload_after)
        if gone:
            log.info("%d idle tenants unloaded (%d loaded)", len(gone), len(host.loaded))

    follow_rebalances(app, host, sources, router, settle.here, keyed.get_topic_name())
    return app
