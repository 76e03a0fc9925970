"""The Faust app object and its settings, and the live rate tables: what `build_app` declares on."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from typing import Any

from .compat import EarlyStartApp, resume_keeps_queued_messages
from .config import WorkerConfig
from .web_server import web_settings

RATE_WINDOW = 10.0  # seconds per tumbling window of the live rate tables
RATE_EXPIRES = timedelta(minutes=5)


def new_app(cfg: WorkerConfig) -> EarlyStartApp:
    # Tables live in memory (changelogs on Kafka); the directory only holds Faust's bookkeeping.
    # (not "/tmp/goldrush": a directory named like the package would shadow it for `python -m`)
    datadir = cfg.data_dir or os.path.join(tempfile.gettempdir(), "goldrush-faust", cfg.app_id)
    os.makedirs(datadir, exist_ok=True)
    app = EarlyStartApp(
        cfg.app_id, datadir=datadir, broker=f"kafka://{cfg.broker}", store="memory://",
        topic_partitions=cfg.partitions,
        **web_settings(cfg.web_host, cfg.web_port),  # bind exactly --web-host, no Faust views
        producer_acks=1, consumer_auto_offset_reset="earliest",
        # The embedded broker holds a join for the whole rebalance timeout.
        broker_rebalance_timeout=cfg.rebalance_timeout, broker_session_timeout=max(6.0, cfg.rebalance_timeout + 2),
        broker_heartbeat_interval=1.0, table_standby_replicas=0,
        # Waiting for in-flight batches on rebalance deadlocks with take_events (faust-streaming
        # #402, #133). Uncommitted records are read again after a rebalance (Faust seeks to the
        # committed offsets), onto the snapshots that do not cover them.
        stream_wait_empty=False,
    )
    resume_keeps_queued_messages(app.flow_control)
    return app


def _wall_clock(event: Any) -> float:
    """Rate windows follow processing time: message timestamps may be absent (0) or old."""
    return time.time()


def rate_tables(app: Any, partitions: int) -> dict[str, Any]:
    """Live rates: windowed, changelog-backed tables keyed by JSON [tenant, name], by wall-clock
    time (event time may be hours old in a back-fill)."""
    return {kind: app.Table(table, default=int, partitions=partitions).tumbling(
                RATE_WINDOW, expires=RATE_EXPIRES, key_index=True).relative_to(_wall_clock)
            for kind, table in (("events", "event-rates"), ("matches", "match-rates"))}
