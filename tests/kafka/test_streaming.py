"""The streaming worker on the embedded broker gives the same matches and actions as replay."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from itertools import zip_longest

import pytest
from aiokafka import AIOKafkaConsumer

from goldrush import replay
from goldrush.events.topics import ACTIONS, DEADLETTER, MATCHES
from goldrush.kafka.broker import EmbeddedBroker
from goldrush.kafka.client import EventProducer
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from tests.support.worker import (
    assert_at_least_once,
    collect,
    collect_replay_matches,
    http_get,
    prometheus,
    send_events,
    send_raw,
    start_worker,
    stop,
    wait_ready,
)


@pytest.mark.parametrize(("key_stage", "in_place", "in_place_keys"),
                         [("on", "on", "on"), ("on", "on", "off"), ("off", "off", "on")])
def test_worker_equals_replay(fresh_broker, tmp_path, key_stage, in_place, in_place_keys):
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    expected = replay(ALL, events)
    assert len(expected) > 20 and len(expected.actions) > 5
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-test", "--key-stage", key_stage,
                          "--in-place", in_place, "--in-place-keys", in_place_keys)
    try:
        async def run():
            async with EventProducer(fresh_broker.bootstrap, batch=50) as producer:
                await producer.send_many(events)
            matches = await collect(fresh_broker.bootstrap, (MATCHES,), len(expected))
            actions = await collect(fresh_broker.bootstrap, tuple(ACTIONS.values()), len(expected.actions))
            return matches, actions

        matches, actions = asyncio.run(run())
        waiting_deadline = time.monotonic() + 120  # the key stage's last verdicts may still be on their way
        while prometheus(http_get(worker.web_port, "/metrics")[1])["goldrush_policy_waiting"] and \
                time.monotonic() < waiting_deadline:
            time.sleep(0.5)
        health = http_get(worker.web_port, "/health")
        ready = http_get(worker.web_port, "/ready")
        metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
        rates = json.loads(http_get(worker.web_port, "/rates")[1])
    finally:
        stop(worker)
    assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected}
    assert {a["action_id"]: a for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}
    # The web views report what happened.
    assert health[0] == 200 and ready[0] == 200 and json.loads(ready[1])["ready"] is True
    assert metrics["goldrush_events_in_total"] == len(events)
    for pattern, n in Counter(m.pattern for m in expected).items():
        assert metrics[f'goldrush_matches_total{{pattern="{pattern}"}}'] >= n  # at least once
    assert metrics["goldrush_state_keys"] > 0
    source_lag = {k: v for k, v in metrics.items() if k.startswith('goldrush_consumer_lag{partition="0",topic="vsm.events"')}
    assert list(source_lag.values()) == [0]  # the source consumer's partitions, all read
    engine_lag = [v for k, v in metrics.items() if k.startswith("goldrush_consumer_lag") and "gr-test-engine-in" in k]
    # Faust's, from the offsets handed to the streams; in place on a fresh start, engine-in carries nothing
    assert set(engine_lag) <= {0} and (engine_lag or in_place == "on")
    # The built-ins keyed by (tenant, source) ran in the key stage, or (off) where their tenant is.
    assert (metrics.get("goldrush_events_keyed_total", 0) > 0) == (key_stage == "on")
    # One worker owns every keyed partition, all read to the end at its start: the keys are evaluated
    # beside their tenants, and nothing takes the keyed topic (unless --in-place-keys off).
    in_place_keys_n = metrics.get("goldrush_events_keyed_in_place_total", 0)
    if key_stage == "on" and in_place_keys == "on":
        assert in_place_keys_n == metrics["goldrush_events_keyed_total"] > 0
        assert metrics.get("goldrush_events_forwarded_total", 0) == 0
    else:
        assert in_place_keys_n == 0
    assert metrics["goldrush_policy_waiting"] == 0  # every verdict came back
    # One worker owns every engine-in partition: in place, only what came before the barriers took the hop.
    in_place_n = metrics.get("goldrush_events_in_place_total", 0)
    assert (in_place_n > len(events) // 2) if in_place == "on" else in_place_n == 0
    assert {r["name"] for r in rates["events"]} == {e["name"] for e in events}


def test_bad_input_goes_to_the_dead_letter_topic(fresh_broker, tmp_path):
    bad = [b"\xff\xfe garbage", b"not json", b"[1, 2]", b'{"name": "x", "timestamp": "soon"}',
           b'{"name": "x", "timestamp": NaN}', b"[" * 5000 + b"]" * 5000, b'{"name": "x"}']
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-dead")
    try:
        async def run():
            good = [{"name": "vsm_core.system1.failure", "timestamp": t, "tenant": "ok",
                     "data": {"service": "db"}} for t in (0, 1, 2)]
            await send_raw(fresh_broker.bootstrap, [*bad, b"x" * 1_500_000, json.dumps(good).encode()])  # 1.5 MB: too large
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


def test_sigkill_and_restart_loses_nothing(fresh_broker, tmp_path):
    """At-least-once: every expected match appears after a SIGKILL mid-stream and a restart,
    and no two records with one match_id differ (state came back from the changelog)."""
    events = list(simulate("mixed", tenants=4, rate=5, duration=3600, disorder=0.5))
    half = len(events) // 2
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-kill")
    try:
        async def first_half():
            async with EventProducer(fresh_broker.bootstrap, batch=25) as producer:
                await producer.send_many(events[:half])
            return await collect(fresh_broker.bootstrap, (MATCHES,), 1, timeout=60)

        asyncio.run(first_half())  # the worker is processing
        worker.kill()  # SIGKILL: no shutdown, no commit
        worker.wait()
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-kill")

        async def second_half():
            async with EventProducer(fresh_broker.bootstrap, batch=25) as producer:
                await producer.send_many(events[half:])
            return await collect_replay_matches(fresh_broker.bootstrap, events)

        records, expected, late, actions, expected_actions = asyncio.run(second_half())
    finally:
        stop(worker)
    assert len(late) <= len(events) // 100  # only events near the gap: the test still means something
    assert_at_least_once(records, expected, "match_id")
    assert len(expected_actions) > 5
    assert_at_least_once(actions, expected_actions, "action_id")  # policy state came back too


def test_after_a_graceful_stop_the_keys_go_in_place(fresh_broker, tmp_path):
    """A worker that took the key-stage hop stops gracefully: every keyed record it read is committed
    (read to the end), so its successor evaluates the keys beside their tenants, and loses nothing."""
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    half = len(events) // 2

    def settled(worker: subprocess.Popen, evaluated: int) -> dict[str, float]:
        deadline = time.monotonic() + 120
        while True:
            m = prometheus(http_get(worker.web_port, "/metrics")[1])
            if (m.get("goldrush_events_evaluated_total", 0) >= evaluated and not m["goldrush_policy_waiting"]
                    and m.get("goldrush_events_keyed_total", 0) >= m.get("goldrush_events_forwarded_total", 0)) \
                    or time.monotonic() > deadline:
                return m
            time.sleep(0.3)

    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-settle", "--in-place-keys", "off")
    try:
        asyncio.run(wait_ready(worker))
        asyncio.run(send_events(fresh_broker.bootstrap, events[:half]))
        first = settled(worker, half)
        stop(worker)
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-settle")
        asyncio.run(wait_ready(worker))
        asyncio.run(send_events(fresh_broker.bootstrap, events[half:]))
        records, expected, late, actions, expected_actions = asyncio.run(
            collect_replay_matches(fresh_broker.bootstrap, events))
        second = settled(worker, 1)
    finally:
        stop(worker)
    assert first["goldrush_events_forwarded_total"] > 0 and "goldrush_events_keyed_in_place_total" not in first
    assert second["goldrush_events_keyed_in_place_total"] == second["goldrush_events_keyed_total"] > 0
    assert second.get("goldrush_events_forwarded_total", 0) == 0
    assert len(late) <= len(events) // 100
    assert_at_least_once(records, expected, "match_id")
    assert_at_least_once(actions, expected_actions, "action_id")


def test_two_workers_in_one_group_give_the_replay_matches(fresh_broker, tmp_path):
    """Scaling out: two workers share the partitions (a rebalance happens while events flow);
    every expected match_id appears at least once and duplicates are identical."""
    events = list(simulate("mixed", tenants=6, rate=10, duration=3600, disorder=0.5))
    cut = 2 * len(events) // 3
    first = start_worker(fresh_broker.bootstrap, tmp_path, "gr-pair")
    second = None
    try:
        async def run():
            nonlocal second
            async with EventProducer(fresh_broker.bootstrap, batch=25) as producer:
                await producer.send_many(events[:cut])
                await collect(fresh_broker.bootstrap, (MATCHES,), 1, timeout=60)
                # Joins while the first worker is still working through its backlog: the
                # rebalance happens mid-batch.
                second = start_worker(fresh_broker.bootstrap, tmp_path, "gr-pair")
                await wait_ready(second)
                await producer.send_many(events[cut:])
            return await collect_replay_matches(fresh_broker.bootstrap, events)

        records, expected, late, actions, expected_actions = asyncio.run(run())
        scraped = [prometheus(http_get(w.web_port, "/metrics")[1]) for w in (first, second)]
    finally:
        stop(first)
        if second is not None:
            stop(second)
    assert len(late) <= len(events) // 100
    assert_at_least_once(records, expected, "match_id")
    assert_at_least_once(actions, expected_actions, "action_id")
    evaluated = [m.get("goldrush_events_evaluated_total", 0) for m in scraped]
    keyed = [m.get("goldrush_events_keyed_total", 0) for m in scraped]
    assert all(n > 0 for n in evaluated), evaluated  # both workers did part of the tenant stage
    assert all(n > 0 for n in keyed), keyed  # and of the key stage


def test_simulate_produces_to_kafka_by_subsystem(fresh_broker):
    proc = subprocess.run(
        [sys.executable, "-m", "goldrush", "simulate", "--kafka", "--broker", fresh_broker.bootstrap,
         "--topic", "by-subsystem", "--scenario", "normal", "--tenants", "2", "--rate", "20", "--duration", "60s"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sent 1200 events" in proc.stderr

    async def read():
        consumer = AIOKafkaConsumer("vsm-system1-operations", "vsm-variety-measurements", "vsm-system5-policy",
                                    bootstrap_servers=fresh_broker.bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        names: Counter = Counter()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and sum(names.values()) < 10:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for r in records:
                        for ev in json.loads(r.value) if r.value.startswith(b"[") else [json.loads(r.value)]:
                            names[tp.topic, ev["name"]] += 1
        finally:
            await consumer.stop()
        return names

    names = asyncio.run(read())
    topics_of = {}
    for topic, name in names:
        topics_of.setdefault(name, set()).add(topic)
    assert topics_of["vsm_core.variety.calculated"] == {"vsm-variety-measurements"}
    assert topics_of["vsm_core.system1.operation"] == {"vsm-system1-operations"}


def test_sigterm_stops_the_worker_even_when_the_broker_is_gone(tmp_path):
    """Without a broker Faust's consumer thread dies in its own shutdown and the worker
    never exited; --stop-timeout bounds the graceful stop (agents/faust_worker.py)."""
    broker = EmbeddedBroker().start()
    worker = start_worker(broker.bootstrap, tmp_path, "gr-term", "--stop-timeout", "3")
    try:
        asyncio.run(wait_ready(worker))
    finally:
        broker.stop()
    worker.terminate()
    try:
        code = worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
        raise AssertionError("the worker ignored SIGTERM for 60 s") from None
    assert code in (0, 128 + signal.SIGTERM)


def test_tenants_are_isolated(fresh_broker, tmp_path):
    """One tenant's events never change another's matches: a noisy tenant whose clock runs a
    day ahead, with a failure cascade and a tail of stale (late) events, beside a quiet one."""
    quiet = list(simulate("mixed", tenants=1, rate=3, duration=1800, seed=3))
    noisy = [{**e, "tenant": "noisy", "id": f"noisy-{e['id']}"}
             for e in simulate("cascade", tenants=1, rate=10, duration=900, seed=4, start=1_767_225_600.0 + 86_400)]
    stale = [{**e, "timestamp": e["timestamp"] - 10_000, "id": f"{e['id']}-stale"} for e in noisy[-40:]]
    noisy += stale
    events = [e for pair in zip_longest(quiet, noisy) for e in pair if e is not None]
    alone = {m.match_id: m.to_dict() for m in [*replay(ALL, quiet), *replay(ALL, noisy)]}
    together = replay(ALL, events)
    assert {m.match_id: m.to_dict() for m in together} == alone
    assert {e.id for e in together.late} == {e["id"] for e in stale}
    quiet_alone = {k: m for k, m in alone.items() if m["tenant"] == "tenant-0000"}
    assert quiet_alone and len(quiet_alone) < len(alone)
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-iso")
    try:
        async def run():
            async with EventProducer(fresh_broker.bootstrap, batch=40) as producer:
                await producer.send_many(events)
            return await collect_replay_matches(fresh_broker.bootstrap, events)

        records, expected, late, _, _ = asyncio.run(run())
    finally:
        stop(worker)
    assert {e["id"] for e in stale} <= late and all(i.startswith("noisy-") for i in late)
    got = {r["match_id"]: r for r in records}
    assert set(got) == set(expected)
    assert {k: r for k, r in got.items() if r["tenant"] == "tenant-0000"} == quiet_alone


NAN_PATTERNS = '''
from goldrush import F, Pattern, event, sequence
from goldrush.actions import AlgedonicAlert

PATTERNS = [
    Pattern("x_present", sequence(event("probe", F.x.exists())), key_by=("tenant", "source"),
            action=AlgedonicAlert(signal="pain", severity="low", rate_limit=None)),
    Pattern("x_null", sequence(event("probe", ~F.x.exists()))),
]
'''


def test_non_finite_values_survive_the_internal_hops(fresh_broker, tmp_path):
    """NaN is a value, not null (SEMANTICS §2: `exists()` is TRUE for NaN): it must reach both
    stages unchanged. orjson, which Faust and the hot paths use, writes it as null."""
    from goldrush.loader import load_patterns

    (tmp_path / "nan_patterns.py").write_text(NAN_PATTERNS)
    spec = str(tmp_path / "nan_patterns.py")
    events = [{"name": "probe", "timestamp": 1_767_225_600 + i, "tenant": "n", "source": f"s{i % 2}", "id": f"p{i}",
               "data": {"x": [float("nan"), float("inf"), None][i % 3]}} for i in range(9)]
    expected = replay(load_patterns(spec), events, actions=True)
    assert {m.pattern for m in expected.matches} == {"x_present", "x_null"} and len(expected.actions) == 6
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-nan", "--patterns", spec)
    try:
        async def run():
            # Python's json writes NaN / Infinity tokens, as many producers do
            await send_raw(fresh_broker.bootstrap, [json.dumps(events).encode()], key=b"n")
            return (await collect(fresh_broker.bootstrap, (MATCHES,), len(expected.matches)),
                    await collect(fresh_broker.bootstrap, (ACTIONS["algedonic_alert"],), len(expected.actions)))

        matches, actions = asyncio.run(run())
    finally:
        stop(worker)
    assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected.matches}
    assert {a["action_id"] for a in actions} == {a.action_id for a in expected.actions}


def test_large_events_are_forwarded_or_dead_lettered_never_crash_the_worker(fresh_broker, tmp_path):
    """Two 600 kB events of one tenant in one batch would make a 1.2 MB internal message (the
    producer refuses it and the worker crashed on every retry); a 950 kB event cannot be
    forwarded at all and goes to the dead-letter topic."""
    def big(i: int, size: int) -> bytes:
        return json.dumps({"name": "vsm_core.system1.operation", "timestamp": 1_767_225_600 + i, "tenant": "big",
                           "id": f"big{i}", "data": {"blob": "x" * size}}).encode()

    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-big")
    try:
        async def run():
            cascade = [{"name": "vsm_core.system1.failure", "timestamp": 1_767_225_610 + t, "tenant": "big",
                        "data": {"service": "db"}} for t in (0, 1, 2)]
            await send_raw(fresh_broker.bootstrap, [big(0, 600_000), big(1, 600_000), big(2, 950_000),
                                                    json.dumps(cascade).encode()], key=b"big")
            return (await collect(fresh_broker.bootstrap, (DEADLETTER,), 1),
                    await collect(fresh_broker.bootstrap, (ACTIONS["algedonic_alert"],), 1))

        dead, alerts = asyncio.run(run())
        evaluated = prometheus(http_get(worker.web_port, "/metrics")[1])["goldrush_events_evaluated_total"]
        alive = worker.poll() is None
    finally:
        stop(worker)
    assert [d["code"] for d in dead] == ["too_large"] and "too large to forward" in dead[0]["reason"]
    assert dead[0]["offset"] == 2 and dead[0]["index"] == 0  # where it came from: the third message
    assert [a["pattern"] for a in alerts] == ["failure_cascade"]  # kept matching after the large events
    assert evaluated == 5 and alive  # both 600 kB events and the cascade were evaluated
