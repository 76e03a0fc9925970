"""The Faust app object and its settings, and the live rate tables: what `build_app` declares on."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import timedelta
from typing import Any

import faust

from .compat import EarlyStartApp, resume_keeps_queued_messages
from .config import WorkerConfig
from .web_server import web_settings

RATE_WINDOW = 10.0  # seconds per tumbling window of the live rate tables
RATE_EXPIRES = timedelta(minutes=5)


class DeliveredTable(faust.Table):
    """A table whose changelog writes can be waited for, once `recording` (the snapshot tables).

    Why: a table write only buffers its changelog record, and faust-streaming's producer `flush`
    returns as soon as one buffered send takes 0.1 s (a full batch waiting to drain), with the rest
    still buffered. A snapshot must be on the broker before the records it covers are committed,
    and a key's before its tenant's (agents/keys_in_place.py): the futures `send_changelog` returns
    say so. `App(Table=...)` and `send_changelog` are Faust's public API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Any] | None = None  # the futures of the writes not waited for yet, when recording

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        fut = super().send_changelog(*args, **kwargs)
        if self.sent is not None:
            self.sent.append(fut)
        return fut

    def take_sent(self) -> list[Any]:
        """The futures of the writes since the last call (none when not recording)."""
        if self.sent is None:
            return []
        sent, self.sent = self.sent, []
        return sent


def snapshot_table(app: Any, name: str, partitions: int) -> DeliveredTable:
    """A changelog-backed table of snapshots in our own encoding (bytes: the raw codec; Faust's orjson
    writes NaN and ±inf as null), its writes recorded."""
    table = app.Table(name, partitions=partitions, value_type=bytes)
    table.sent = []
    return table


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
        Table=DeliveredTable,
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
