"""Patterns as data: the pattern set in a compacted topic, versioned (README, "Changing patterns
without a restart").

    async with PatternStore("localhost:9092") as store:
        v = await store.push("my_patterns.py", message="algedonic threshold 10 → 6")
        print(await store.list())          # the current version's patterns
        print(await store.diff("my_patterns.py"))

Topics (one partition each, compacted, so a topic is read from its start in order):

- `goldrush.patterns`: one record per version, key `v000000007-<push id>`, value
  `{"version", "time", "message", "patterns": [Pattern.to_dict(), ...], "layout"}`. The highest
  version is the current set. Removing a pattern pushes a new version without it. `layout` numbers
  the key groups (`goldrush.compiler.keygroups.next_layout`, from the version before): a `key_by`
  keeps its number while it is used, so that a live switch keeps its keys' state. A record
  without it (written before layouts) numbers them by order.
- `goldrush.patterns.rejected`: a version the workers would not run, and why (key: the version).
- `goldrush.patterns.applied`: per tenant and version, the event time after which that version
  evaluated the tenant's events (key `tenant` NUL `version`): with the versions, what
  `goldrush replay --pattern-history` needs to reproduce a run (docs/semantics.md).

Version numbers are unique, also when two clients push at the same moment. Kafka has no
compare-and-set, so the topic's order decides: a record counts only if its version is above every
version written before it (`winning`, which every reader applies). Two pushes that pick one
number both get written; the first one keeps it, and the second pusher, reading the topic up to
its own record, sees that it lost and pushes again under the next number. Each push has its own
key, so compaction never drops the winner for the loser (with the key `v000000007` alone, as
before, the later record replaced the earlier one, which workers may already have run).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from goldrush.compiler.keygroups import Layout, finer_key_bys, layout_json, next_layout, read_layout
from goldrush.compiler.pattern_sets import PatternSetRejected, compile_set, diff_sets
from goldrush.dsl import Pattern
from goldrush.events.codec import dumps_bytes, loads
from goldrush.events.topics import default_broker
from goldrush.loader import load_patterns

PATTERNS_TOPIC = "goldrush.patterns"
REJECTED_TOPIC = "goldrush.patterns.rejected"
APPLIED_TOPIC = "goldrush.patterns.applied"
TOPICS = (PATTERNS_TOPIC, REJECTED_TOPIC, APPLIED_TOPIC)


PUSH_ATTEMPTS = 20  # pushes that lose a version number to a concurrent one are retried this often


def version_key(version: int) -> bytes:
    return f"v{version:09d}".encode()


def winning(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The version records that count, of `records` in the order they were written: each one's
    version is above every version that counts before it. Concurrent pushes may write one number
    twice; the first written keeps it (see the module's docstring)."""
    out: list[dict[str, Any]] = []
    top = None
    for record in records:
        version = record.get("version") if isinstance(record, dict) else None
        if type(version) is int and (top is None or version > top):
            out.append(record)
            top = version
    return out


def record_layout(record: dict[str, Any]) -> Layout | None:
    """A version record's key-group layout; None when it has none (numbered by order)."""
    return read_layout(record.get("layout"))


def layout_after(previous: dict[str, Any] | None, docs: list[Any]) -> Layout | None:
    """The layout of a version of `docs` pushed after the record `previous` (None: the first). A set
    that does not compile keeps the previous layout: the workers reject it and run on with the
    one before, whose numbers the next version must keep."""
    before = None
    if previous is not None:
        before = record_layout(previous)
        if before is None:  # written before layouts: numbered by order
            try:
                before = list(finer_key_bys(compile_set(previous["patterns"])))
            except PatternSetRejected:
                before = []
    try:
        patterns = compile_set(docs)
    except PatternSetRejected:
        return before
    return next_layout(before, patterns)


def as_patterns(source: str | Path | list[Any]) -> list[Pattern]:
    """A pattern file (.py, .json) or module, or a list of patterns or their JSON form; checked."""
    if isinstance(source, str | Path):
        return compile_set(load_patterns(str(source)))
    return compile_set(list(source))


class PatternStore:
    """The pattern-set topics: push, list, diff, remove and the history, from Python.

    Every read takes the topic from its start (it is compacted: one record per version)."""

    def __init__(self, bootstrap: str | None = None, *, read_timeout: float = 10.0):
        self.bootstrap = bootstrap or default_broker()
        self.read_timeout = read_timeout
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> Self:
        await self.ensure_topics()
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        return self

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def ensure_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [NewTopic(t, 1, 1, topic_configs={"cleanup.policy": "compact"})
                       for t in TOPICS if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # another client was first
                    await admin.create_topics(missing)
        finally:
            await admin.close()

    # -- reading ---------------------------------------------------------------------------
    async def read(self, topic: str) -> dict[bytes, dict[str, Any]]:
        """The topic's latest record per key, in the order the keys were first written."""
        return await read_topic(self.bootstrap, topic, self.read_timeout)

    async def versions(self) -> list[dict[str, Any]]:
        """Every version, oldest first: {"version", "time", "message", "patterns", "layout" (absent from older records)}."""
        return winning((await self.read(PATTERNS_TOPIC)).values())  # in the order written: by version

    async def current(self) -> dict[str, Any] | None:
        versions = await self.versions()
        return versions[-1] if versions else None

    async def list(self) -> list[Pattern]:
        """The current version's patterns ([] when nothing was pushed)."""
        current = await self.current()
        return [] if current is None else [Pattern.from_dict(d) for d in current["patterns"]]

    async def rejected(self) -> list[dict[str, Any]]:
        """Versions the workers refused: {"version", "error", "worker", "time"}."""
        return sorted((await self.read(REJECTED_TOPIC)).values(), key=lambda v: v["version"])

    async def switches(self) -> list[dict[str, Any]]:
        """Per tenant and version, where that version took over: {"tenant", "version", "after"}."""
        return list((await self.read(APPLIED_TOPIC)).values())

    async def history(self) -> dict[str, Any]:
        """What `replay_versions` (and `goldrush replay --pattern-history`) takes, plus the rejections."""
        return {"versions": await self.versions(), "switches": await self.switches(),
                "rejected": await self.rejected()}

    async def diff(self, source: str | Path | list[Any]) -> dict[str, list[str]]:
        """What pushing `source` would change (see `goldrush.compiler.pattern_sets.diff_sets`)."""
        return diff_sets(await self.list(), as_patterns(source))

    # -- writing ---------------------------------------------------------------------------
    async def push(self, source: str | Path | list[Any], message: str = "", *,
                   check: bool = True) -> dict[str, Any]:
        """Record `source` as the next version; returns its record. `check=False` skips the
        compile check here (the workers still check, and reject a set that does not compile)."""
        if check:
            docs = [p.to_dict() for p in as_patterns(source)]
        elif isinstance(source, str | Path):
            docs = [p.to_dict() for p in load_patterns(str(source))]
        else:
            docs = [p.to_dict() if isinstance(p, Pattern) else p for p in source]
        for _ in range(PUSH_ATTEMPTS):
            current = await self.current()
            record = {"version": 1 if current is None else current["version"] + 1, "time": time.time(),
                      "message": message, "patterns": docs}
            layout = layout_after(current, docs)
            if layout is not None:
                record["layout"] = layout_json(layout)
            key = version_key(record["version"]) + f"-{uuid.uuid4().hex}".encode()
            offset = await self._send(PATTERNS_TOPIC, key, record)
            # Compare-and-set after the fact: does this record count, reading the topic up to it?
            written, _ = await read_from(self.bootstrap, PATTERNS_TOPIC, 0, self.read_timeout, stop=offset + 1)
            if key in written and any(r is written[key] for r in winning(written.values())):
                return record
        raise RuntimeError(f"pushing a pattern set lost the version number to a concurrent push "
                           f"{PUSH_ATTEMPTS} times in a row")

    async def remove(self, name: str, message: str | None = None) -> dict[str, Any]:
        """Push a new version without the pattern `name`."""
        current = await self.current()
        names = [] if current is None else [d["name"] for d in current["patterns"]]
        if name not in names:
            raise PatternSetRejected(f"no pattern named {name!r} in the current set"
                                     + ("" if current is None else f" (version {current['version']})"))
        kept = [d for d in current["patterns"] if d["name"] != name] if current else []
        return await self.push(kept, message if message is not None else f"remove {name}")

    async def reject(self, version: int, error: str, worker: str = "") -> None:
        await self._send(REJECTED_TOPIC, version_key(version),
                         {"version": version, "error": error, "worker": worker, "time": time.time()})

    async def record_switches(self, switches: list[dict[str, Any]]) -> None:
        for s in switches:
            await self._send(APPLIED_TOPIC, f"{s['tenant']}\0{s['version']}".encode(), s, flush=False)
        if self._producer is not None:
            await self._producer.flush()

    async def _send(self, topic: str, key: bytes, value: dict[str, Any], flush: bool = True) -> int | None:
        """The record's offset once it is written (None without `flush`)."""
        if self._producer is None:
            raise RuntimeError("PatternStore is not started: use `async with PatternStore(...)`")
        sent = await self._producer.send(topic, dumps_bytes(value), key=key, partition=0)
        if flush:
            await self._producer.flush()
            return (await sent).offset
        return None


async def read_topic(bootstrap: str, topic: str, timeout: float = 10.0,
                     start: int = 0) -> dict[bytes, dict[str, Any]]:
    """Partition 0 of `topic` from offset `start` to its end: the latest record per key."""
    out, _ = await read_from(bootstrap, topic, start, timeout)
    return out


async def read_from(bootstrap: str, topic: str, start: int = 0, timeout: float = 10.0,
                    stop: int | None = None) -> tuple[dict[bytes, dict[str, Any]], int]:
    """Records of partition 0 of `topic` from offset `start` up to its end now (or up to `stop`, not
    included, which must be written):
    (latest per key, in the order of those records, the offset to read from next time). An absent
    topic reads as empty."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: dict[bytes, dict[str, Any]] = {}
    try:
        if topic not in await consumer.topics():
            return out, start
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        # `stop` is an offset known to be written (the broker's end offset can lag a batch behind)
        end = (await consumer.end_offsets([tp]))[tp] if stop is None else stop
        if end <= start:
            return out, start
        consumer.seek(tp, start)
        at = start
        deadline = asyncio.get_running_loop().time() + timeout
        while at < end:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"reading {topic} took longer than {timeout:g} s")
            batch = await consumer.getmany(tp, timeout_ms=int(min(left, 1.0) * 1000))
            for record in batch.get(tp, []):
                if stop is not None and record.offset >= stop:  # not `end`: a whole batch is read past it
                    at = stop
                    break
                at = record.offset + 1
                if record.value is not None and record.key is not None:
                    out.pop(record.key, None)
                    out[record.key] = loads(record.value)
        return out, at
    finally:
        await consumer.stop()
