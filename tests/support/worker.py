"""Real workers in tests: start one on a broker, wait until it is ready, read what it wrote."""


from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from goldrush import replay
from goldrush.events.topics import ACTIONS, LATE, MATCHES
from goldrush.kafka.broker import free_port, stop_process
from goldrush.kafka.client import EventProducer
from goldrush.patterns import ALL


def start_worker(bootstrap: str, tmp_path, app_id: str = "gr-test", *extra: str) -> subprocess.Popen:
    n = len(list(tmp_path.glob(f"{app_id}*.log")))
    log = open(tmp_path / f"{app_id}{'-' + str(n) if n else ''}.log", "w")  # noqa: SIM115 - lives with the worker
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "goldrush", "worker", "--broker", bootstrap, "--partitions", "2",
         "--web-port", str(port), "--app-id", app_id, *extra],
        stdout=log, stderr=subprocess.STDOUT)
    proc.web_port = port  # type: ignore[attr-defined]
    return proc


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def send_raw(bootstrap: str, values: list[bytes], key: bytes | None = None) -> None:
    """Produce bytes as they are, in order, to vsm.events: input `EventProducer` would refuse or re-encode."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4_000_000)
    await producer.start()
    try:
        for value in values:  # back to back, so that a worker takes them in one batch
            await producer.send("vsm.events", value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def send_events(bootstrap: str, events: list[dict], batch: int = 25) -> None:
    """Produce events with the client, `batch` per message, to vsm.events."""
    async with EventProducer(bootstrap, batch=batch) as producer:
        await producer.send_many(events)


async def wait_ready(*workers: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(http_get(w.web_port, "/ready")[0] == 200 for w in workers):
                return
        except OSError:
            pass  # not listening yet
        await asyncio.sleep(0.5)
    raise AssertionError("workers not ready")


def prometheus(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def stop(proc: subprocess.Popen) -> None:
    stop_process(proc, 20)


async def collect(bootstrap: str, topics: tuple[str, ...], want: int, timeout: float = 240,
                  ids: set[str] | None = None, until: Any = None) -> list[dict]:
    """Records until `want` arrived (or, with `ids`, until every one of them did; with `until`,
    until `until(records)` is true), or `timeout` passed."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[dict] = []
    deadline = time.monotonic() + timeout

    def done() -> bool:
        if until is not None:
            return bool(until(out))
        if ids is not None:
            return ids <= {r["match_id"] for r in out}
        return len(out) >= want

    try:
        while time.monotonic() < deadline and not done():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [json.loads(r.value) for r in records]
    finally:
        await consumer.stop()
    return out


async def collect_replay_matches(bootstrap: str, events: list[dict], timeout: float = 240,
                                 quiet: float = 3.0) -> tuple[list[dict], dict[str, dict], set[str], list[dict],
                                                             dict[str, dict]]:
    """Matches and actions until they cover `replay` of the events that were not late, and
    nothing came for `quiet` s.

    The streaming result equals replay *modulo late events* (SEMANTICS §4): a tenant
    idle for `lateness` of wall-clock time — a gap between two bursts, a restart — has
    its buffer flushed, and events of the next burst older than what was released are
    late. They are on the late topic, so the oracle is replay without them.
    Returns (match records, expected matches by id, late event ids, action records,
    expected actions by id).
    """
    consumer = AIOKafkaConsumer(MATCHES, LATE, *ACTIONS.values(), bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    records: list[dict] = []
    actions: list[dict] = []
    late: set[str] = set()

    def oracle(kept: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
        result = replay(ALL, kept, actions=True)
        return ({m.match_id: m.to_dict() for m in result.matches},
                {a.action_id: a.to_dict() for a in result.actions})

    expected, expected_actions = oracle(events)
    deadline = time.monotonic() + timeout
    last_news = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            news = False
            for tp, rs in batch.items():
                for r in rs:
                    doc = json.loads(r.value)
                    news = True
                    if tp.topic == LATE:
                        late.add(doc["event"]["id"])
                    elif tp.topic == MATCHES:
                        records.append(doc)
                    else:
                        actions.append(doc)
            if news:
                last_news = time.monotonic()
                if late and any(tp.topic == LATE for tp in batch):
                    expected, expected_actions = oracle([e for e in events if e["id"] not in late])
            seen = {r["match_id"] for r in records}
            acted = {a["action_id"] for a in actions}
            if set(expected) <= seen and set(expected_actions) <= acted and time.monotonic() - last_news >= quiet:
                break
    finally:
        await consumer.stop()
    return records, expected, late, actions, expected_actions


async def changelog_state(bootstrap: str, topic: str, partitions: dict[str, int] | None = None) -> dict[str, bytes]:
    """A changelog read to its end (a table's keys are JSON strings there): key → last value,
    without the keys whose last record is a tombstone. `partitions`, if given, gets every key's
    partition (tombstoned keys too)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    state: dict[str, bytes] = {}
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 2:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                quiet_since = time.monotonic()
                for r in records:
                    key = json.loads(r.key)
                    if partitions is not None:
                        partitions[key] = r.partition
                    if r.value is None:
                        state.pop(key, None)
                    else:
                        state[key] = r.value
    finally:
        await consumer.stop()
    return state


def assert_at_least_once(records: list[dict], expected: dict[str, dict], id_field: str) -> None:
    """Every expected record at least once, nothing else, and duplicates identical."""
    by_id: dict[str, dict] = {}
    for r in records:
        assert by_id.setdefault(r[id_field], r) == r  # a duplicate is identical
    assert set(by_id) == set(expected)
    assert by_id == expected
