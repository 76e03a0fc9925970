"""The streaming worker on the embedded broker gives the same matches and actions as replay."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer

from goldrush import replay
from goldrush.broker import free_port
from goldrush.client import EventProducer
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from goldrush.topics import ACTIONS, DEADLETTER, MATCHES


def start_worker(bootstrap: str, tmp_path, app_id: str = "gr-test") -> subprocess.Popen:
    log = open(tmp_path / f"{app_id}.log", "w")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(
        [sys.executable, "-m", "goldrush.cli", "worker", "--broker", bootstrap, "--partitions", "2",
         "--web-port", str(free_port()), "--app-id", app_id],
        stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def collect(bootstrap: str, topics: tuple[str, ...], want: int, timeout: float = 90) -> list[dict]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < want:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [json.loads(r.value) for r in records]
    finally:
        await consumer.stop()
    return out


def test_worker_equals_replay(fresh_broker, tmp_path):
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    expected = replay(ALL, events)
    assert len(expected) > 20 and len(expected.actions) > 5
    worker = start_worker(fresh_broker.bootstrap, tmp_path)
    try:
        async def run():
            async with EventProducer(fresh_broker.bootstrap, batch=50) as producer:
                await producer.send_many(events)
            matches = await collect(fresh_broker.bootstrap, (MATCHES,), len(expected))
            actions = await collect(fresh_broker.bootstrap, tuple(ACTIONS.values()), len(expected.actions))
            return matches, actions

        matches, actions = asyncio.run(run())
    finally:
        stop(worker)
    assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a["action_id"]: a for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}


def test_bad_input_goes_to_the_dead_letter_topic(fresh_broker, tmp_path):
    from aiokafka import AIOKafkaProducer

    bad = [b"\xff\xfe garbage", b"not json", b"[1, 2]", b'{"name": "x", "timestamp": "soon"}',
           b'{"name": "x", "timestamp": NaN}', b"[" * 5000 + b"]" * 5000, b'{"name": "x"}']
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-dead")
    try:
        async def run():
            producer = AIOKafkaProducer(bootstrap_servers=fresh_broker.bootstrap, max_request_size=4_000_000)
            await producer.start()
            try:
                for value in bad:
                    await producer.send_and_wait("vsm.events", value)
                await producer.send_and_wait("vsm.events", b"x" * 1_500_000)  # too large
                good = [{"name": "vsm_core.system1.failure", "timestamp": t, "tenant": "ok",
                         "data": {"service": "db"}} for t in (0, 1, 2)]
                await producer.send_and_wait("vsm.events", json.dumps(good).encode())
            finally:
                await producer.stop()
            dead = await collect(fresh_broker.bootstrap, (DEADLETTER,), 9)
            alerts = await collect(fresh_broker.bootstrap, (ACTIONS["algedonic_alert"],), 1)
            return dead, alerts

        dead, alerts = asyncio.run(run())
    finally:
        stop(worker)
    codes = sorted(d["code"] for d in dead)
    assert codes == sorted(["invalid_json", "invalid_json", "not_object", "not_object", "bad_timestamp",
                            "bad_timestamp", "invalid_json", "missing_timestamp", "too_large"])
    assert all({"reason", "topic", "partition", "offset"} <= set(d) for d in dead)
    assert [a["pattern"] for a in alerts] == ["failure_cascade"]  # the worker kept matching
