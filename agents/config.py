"""Worker configuration: one pydantic model, filled from the CLI or the environment."""

from __future__ import annotations

from pydantic import BaseModel, Field

from goldrush.events.envelope import DEFAULT_MAX_FUTURE
from goldrush.events.topics import SOURCE_TOPICS, default_broker


class WorkerConfig(BaseModel):
    broker: str = Field(default_factory=default_broker)
    app_id: str = "goldrush"
    patterns: str | None = Field(default=None, description="pattern file or module (default: built-ins)")
    pattern_store: bool = Field(default=False, description=(
        "follow the goldrush.patterns topic: start on its newest version, switch to new ones without a "
        "restart (agents/pattern_watch.py); `goldrush worker` turns it on unless --patterns is given"))
    topics: list[str] = Field(default_factory=lambda: list(SOURCE_TOPICS))
    event_filters: dict[str, list[str]] = Field(
        default_factory=dict, description="source topic → event-name globs to keep (the seed's event_types)")
    lateness: str | float = "2s"
    partitions: int = 4
    web_port: int = 6066
    web_host: str = "127.0.0.1"  # 0.0.0.0 in a container, so probes can reach it
    key_stage: bool = Field(default=True, description=(
        "evaluate patterns keyed finer than the tenant on the worker owning each key (a hot tenant "
        "spreads out); off: every pattern where its tenant is (one Kafka hop less per event)"))
    in_place: bool = Field(default=True, description=(
        "evaluate the events of tenants whose engine-in partition this worker owns where they are read, "
        "without the trip through engine-in (agents/in_place.py); off: every event takes the trip"))
    in_place_keys: bool = Field(default=True, description=(
        "on: when this worker owns every keyed partition, its tenants' finer keys are evaluated beside "
        "them, without the trip through the keyed and verdicts topics (agents/keys_in_place.py)"))
    key_expiry: float = Field(default=30.0, ge=0, description=(
        "seconds between the tenant stage's progress notes, which let idle key-stage keys go "
        "(agents/key_expiry.py); 0: keep every key"))
    checkpoint_every: float = Field(default=5.0, ge=0, description=(
        "seconds between snapshots of a busy tenant; its engine-in and verdict records are committed "
        "once a snapshot covers them (at least once: a crash redoes at most this much input); 0: a "
        "snapshot after every batch. 5 s rather than 1 s: 10-12 % less CPU in a catch-up with ALL "
        "(docs/performance.md); Kafka Streams commits every 30 s at least once"))
    batch: int = 500
    batch_within: float = Field(default=0.05, gt=0, description=(
        "longest a stage waits to fill a batch, s: each hop between stages can add it to the detection "
        "latency (0.2 gave p99 270-308 ms at lateness 0, 0.05 gave 191 ms); under load batches fill first. "
        "Snapshots follow --checkpoint-every, not the batches, so small batches cost little"))
    stop_timeout: float = Field(default=15.0, gt=0, description="hard exit if a graceful stop takes longer, s")
    fetch_wait: float = Field(default=0.1, gt=0, description=(
        "longest a fetch may wait for data, s: the source consumer's always, Faust's consumer's on the "
        "embedded broker only (agents/compat.py, cap_fetch_wait)"))
    embedded_broker: bool = Field(default=False, description=(
        "the broker is the embedded one (tansu), which holds a fetch for its whole wait and counts "
        "latest offsets in record batches (agents/faust_app.py): set by `goldrush worker` from the cluster id"))
    status_every: float = Field(default=60.0, ge=0, description="seconds between status lines in the log; 0: none")
    data_dir: str | None = Field(default=None, description="Faust's data directory (default: a temp dir per app id)")
    max_future: str | float | None = Field(default=DEFAULT_MAX_FUTURE, description=(
        "events stamped further ahead of the wall clock are dead-lettered (future_timestamp); None: no limit"))
    unload_after: float = Field(default=300.0, gt=0, description=(
        "seconds a tenant may stay unused before its state leaves memory (it stays in the table)"))
    rebalance_timeout: float = 4.0  # the embedded broker holds a join for this long
