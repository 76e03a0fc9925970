"""The worker's topology run in-process, without Kafka or Faust: for tests and for debugging a stage.

`LocalTopology(cfg).run(messages)` sends source messages (bytes, as a producer would)
through the same stage classes the worker runs (agents/stages/), routing each
outcome's internal records to in-memory partitioned topics, writing its snapshots to
plain dicts and committing offsets as the worker acknowledges records, then releases
every quiet tenant as the idle flush would. What comes out is what the worker would
publish. A new `LocalTopology` over the same `LocalBroker` is a restart: it reads from
the committed offsets, with the tables as they were written (a crash is a topology
dropped between two `step()`s).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from goldrush.events.codec import pack
from goldrush.events.envelope import Event
from goldrush.events.match import Match

from .config import WorkerConfig
from .host import EngineHost
from .in_place import InPlaceInput, Receipts, Router
from .keys_in_place import KeysHere
from .metrics import Metrics
from .source_consumer import MAX_RECORDS
from .stages.idle_flush import IdleFlush
from .stages.ingest import Ingest
from .stages.keyed import KeyStep
from .stages.outcome import Outcome
from .stages.settle import Settler
from .stages.tenant import TenantStep
from .stages.verdicts import VerdictStep


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """A stream record as the stages read it: a Faust event's key, value and message."""

    key: Any
    value: bytes
    message: Message

    # what ingest reads of an aiokafka ConsumerRecord
    @property
    def topic(self) -> str:
        return self.message.topic

    @property
    def partition(self) -> int:
        return self.message.partition

    @property
    def offset(self) -> int:
        return self.message.offset


@dataclass
class Published:
    matches: list[Match] = field(default_factory=list)
    actions: list = field(default_factory=list)
    late: list[Event] = field(default_factory=list)
    dead: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    switches: list[dict] = field(default_factory=list)  # pattern-set switches (goldrush.patterns.applied)


class LocalBroker:
    """What outlives a worker: the topics, the committed offsets and the tables."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self.topics: dict[str, list[list[Record]]] = {}
        self.committed: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset to read
        self.acked: dict[tuple[str, int], set[int]] = {}
        self.tables: dict[str, dict[str, bytes]] = {"tenant-state": {}, "key-state": {}}

    def topic(self, name: str, partitions: int | None = None) -> list[list[Record]]:
        if name not in self.topics:
            self.topics[name] = [[] for _ in range(partitions or self.partitions)]
        return self.topics[name]

    def append(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """As the producer would: a keyed record to the partition Kafka's default partitioner gives it."""
        parts = self.topic(topic)
        if partition is None:
            every = list(range(len(parts)))
            partition = DefaultPartitioner()(key, every, every)
        parts[partition].append(Record(key, value, Message(topic, partition, len(parts[partition]))))

    def ack(self, record: Record) -> None:
        """Committed offsets advance over contiguous acknowledged records, as Faust commits them."""
        tp = (record.topic, record.partition)
        acked = self.acked.setdefault(tp, set())
        acked.add(record.offset)
        at = self.committed.get(tp, 0)
        while at in acked:
            acked.discard(at)
            at += 1
        self.committed[tp] = at


class LocalTopology:
    """One worker over a `LocalBroker`; a new one over the same broker is a restart."""

    def __init__(self, cfg: WorkerConfig, broker: LocalBroker | None = None, patterns: list | None = None,
                 version: int | None = None, layout: list | None = None):
        """`patterns` as pattern-set `version` with its key groups' `layout`: see `EngineHost`; `host.adopt`
        switches between `step()`s."""
        self.cfg = cfg
        self.broker = broker = broker if broker is not None else LocalBroker(cfg.partitions)
        self.host = host = EngineHost(cfg, patterns, version, layout)
        self.metrics = Metrics()
        state, key_state = broker.tables["tenant-state"], broker.tables["key-state"]
        keyed = bool(host.stage.groups)
        self.settle = Settler(host, state, self.metrics, partitions=cfg.partitions, key_expiry=cfg.key_expiry,
                              keyed=keyed)
        # One worker owns every partition: with `cfg.in_place`, each goes in place once its barrier is read.
        self.receipts = Receipts()
        self.router = Router(cfg.partitions, lambda: set(range(cfg.partitions))) if cfg.in_place else None
        self.ingest = Ingest(self.metrics, cfg.event_filters, cfg.max_future, self.router, self.receipts)
        self.tenant_step = TenantStep(host, state, self.settle, self.metrics,
                                      None if self.router is None else self.router.passed)
        # stage → (its step, whether its records are committed by checkpoints)
        self.steps: dict[str, tuple[Any, bool]] = {"engine-in": (self.tenant_step, True)}
        if keyed:
            key_step = KeyStep(host, key_state, self.metrics)
            self.steps["keyed"] = (key_step, False)
            self.steps["verdicts"] = (VerdictStep(host, state, self.settle, self.metrics), True)
            if cfg.in_place_keys:  # one worker owns every keyed partition: in place if nothing is on its way
                self.settle.here = here = KeysHere(key_step, "keyed", cfg.partitions, cfg.key_expiry)
                keyed_topic = broker.topic("keyed")
                here.decide(set(range(cfg.partitions)),
                            {p for p, records in enumerate(keyed_topic) if broker.committed.get(("keyed", p), 0)
                             >= len(records)})
        self.idle = IdleFlush(host, state, self.settle, "engine-in")
        for name in self.steps:
            broker.topic(name)
        # where this worker reads: from the committed offsets, as after a restart
        self.position: dict[tuple[str, int], int] = dict(broker.committed)
        self.out = Published()

    def produce(self, messages: Iterable[bytes], topic: str = "vsm.events") -> None:
        for value in messages:
            self.broker.append(topic, None, value, 0)

    def run(self, messages: Iterable[bytes] = (), topic: str = "vsm.events", batch: int | None = None) -> Published:
        """`messages` produced to the source topic, then everything read and handled until quiet,
        and every quiet tenant released, as at the end of a replay."""
        self.produce(messages, topic)
        while self.step(batch):
            pass
        self.flush_quiet()
        return self.out

    def step(self, batch: int | None = None, sources_first: bool = False) -> bool:
        """Handle one batch, internal topics first (as a worker keeps up with them; `sources_first`:
        the other way round, as when ingest runs ahead), else a source batch of `batch` messages
        (default: as many as the worker's source consumer takes at most). False when there is
        nothing left to read."""
        if sources_first:
            return self._source_step(batch) or self._internal_step()
        return self._internal_step() or self._source_step(batch)

    def _internal_step(self) -> bool:
        for name, (step, checkpointed) in self.steps.items():
            for partition in range(len(self.broker.topics[name])):
                records = self._take(name, partition, self.cfg.batch)
                if records:
                    self.apply(step.handle(records))
                    if not checkpointed:
                        for record in records:
                            self.broker.ack(record)
                    if isinstance(step, KeyStep):
                        step.published()
                    return True
        return False

    def _source_step(self, batch: int | None) -> bool:
        for name in [name for name in self.broker.topics if name not in self.steps]:
            records = self._take(name, 0, batch or MAX_RECORDS)
            if records:
                outcome = self.ingest.handle(records)
                inputs, outcome.in_place = outcome.in_place, []
                self.apply(outcome)
                now = [] if self.router is None else self.router.evaluate_now(inputs)
                if now:
                    self.apply(self.tenant_step.handle_in_place(now))
                self._commit(name)
                return True
        return False

    def _commit(self, topic: str) -> None:
        """The source's offset: past every record forwarded, up to the first evaluated in place that no
        written snapshot covers yet (as agents/source_consumer.py commits)."""
        position = self.position.get((topic, 0), 0)
        first = self.receipts.first(topic, 0)
        self.broker.committed[topic, 0] = position if first is None else min(first, position)

    def _take(self, topic: str, partition: int, n: int) -> list[Record]:
        records = self.broker.topics[topic][partition]
        start = self.position.get((topic, partition), 0)
        taken = records[start:start + n]
        self.position[topic, partition] = start + len(taken)
        return taken

    def flush_quiet(self) -> None:
        """Every tenant holding buffered events is quiet now: released, as at the end of a replay."""
        while (outcome := self.idle.handle(now=float("inf"))) is not None:
            self.apply(outcome)
            while self.step():
                pass

    def apply(self, outcome: Outcome) -> None:
        """Publish `outcome` the way agents/publisher.py does, to memory."""
        out, broker = self.out, self.broker
        out.dead += outcome.dead
        version = self.host.version
        out.matches += (outcome.matches if version is None else
                        [m if m.pattern_set_version is not None else replace(m, pattern_set_version=version)
                         for m in outcome.matches])
        out.switches += self.host.switches
        self.host.switches = []
        out.actions += (outcome.actions if version is None else
                        [a if a.pattern_set_version is not None else
                         a.model_copy(update={"pattern_set_version": version}) for a in outcome.actions])
        out.late += outcome.late
        for kb, value in outcome.engine_in:
            broker.append("engine-in", kb, value)
        for partition, value in outcome.barriers:
            broker.append("engine-in", None, value, partition)
        for kb, value in outcome.forwards:
            broker.append("keyed", kb, value)
        for partition, value in outcome.progress:
            broker.append("keyed", None, value, partition)
        for kb, value in outcome.verdicts:
            broker.append("verdicts", kb, value)
        host, tenant_state = self.host, broker.tables["tenant-state"]
        # keys first, as the publisher flushes them before the tenants' checkpoints
        for table, key, _, snapshot in sorted(outcome.snapshots, key=lambda s: s[0] is tenant_state):
            store = host.tenant_snapshots if table is tenant_state else host.key_snapshots
            if snapshot is None:
                store.remove(table, key)
            else:
                store.write(table, key, pack(snapshot))
        host.published(outcome.tenants)
        for record in outcome.acks:
            if isinstance(record, InPlaceInput):
                record.ack()
            else:
                broker.ack(record)
        for call in outcome.after:
            call()
        for name in [name for name in broker.topics if name not in self.steps]:
            self._commit(name)
