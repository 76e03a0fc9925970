"""Patterns as data on the embedded broker: `goldrush patterns`, `PatternStore`, and workers that
switch pattern sets without a restart (agents/pattern_watch.py), as replay over the history says."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from goldrush.client import PatternStore
from goldrush.engine.versions import replay_versions
from goldrush.events.topics import ACTIONS, DEADLETTER, LATE, MATCHES
from goldrush.kafka.client import EventProducer
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from tests.support.switching import v2_docs
from tests.support.worker import collect, http_get, prometheus, start_worker, stop, wait_ready


def _v2() -> list[dict]:
    return v2_docs()


def _bad() -> list[dict]:
    docs = [p.to_dict() for p in ALL]
    docs[0]["clauses"][0]["op"] = "no_such_operator"
    return docs


def goldrush(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goldrush", *args], capture_output=True, text=True, timeout=120)


def metric(worker, name):
    return prometheus(http_get(worker.web_port, "/metrics")[1]).get(name, 0)


def wait_for(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


async def push(bootstrap: str, docs: list, message: str, check: bool = True) -> dict:
    async with PatternStore(bootstrap) as store:
        return await store.push(docs, message, check=check)


async def send(bootstrap: str, events: list[dict]) -> None:
    async with EventProducer(bootstrap, batch=50) as producer:
        await producer.send_many(events)


async def history(bootstrap: str) -> dict:
    async with PatternStore(bootstrap) as store:
        return await store.history()


def switched(bootstrap: str, version: int) -> dict[str, float | None]:
    """Tenant → its recorded switch point to `version`."""
    return {s["tenant"]: s["after"] for s in asyncio.run(history(bootstrap))["switches"] if s["version"] == version}


def test_the_patterns_command(fresh_broker, tmp_path):
    b = ["--broker", fresh_broker.bootstrap]
    v1, v2 = tmp_path / "v1.json", tmp_path / "v2.json"
    v1.write_text(json.dumps([p.to_dict() for p in ALL]))
    v2.write_text(json.dumps(_v2()))
    assert "no pattern set pushed yet" in goldrush("patterns", "list", *b).stdout
    pushed = goldrush("patterns", "push", str(v1), "-m", "the built-ins", *b)
    assert pushed.returncode == 0 and "pushed version 1 (13 patterns)" in pushed.stderr
    diff = goldrush("patterns", "diff", str(v2), "--json", *b)
    assert diff.returncode == 1
    assert {k: v for k, v in json.loads(diff.stdout).items() if k != "unchanged"} == {
        "added": ["failure_burst"], "removed": ["low_utilization"], "edited": ["algedonic_signal_frequency"],
        "retuned": []}
    assert goldrush("patterns", "diff", str(v1), *b).returncode == 0  # nothing would change
    assert goldrush("patterns", "push", str(v2), "-m", "algedonic 10 → 4", *b).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_bad()))
    refused = goldrush("patterns", "push", str(bad), *b)
    assert refused.returncode == 2 and "no_such_operator" in refused.stderr  # checked before it is pushed
    assert goldrush("patterns", "remove", "failure_burst", *b).returncode == 0
    assert goldrush("patterns", "remove", "failure_burst", *b).returncode == 2  # not there any more
    listed = goldrush("patterns", "list", *b).stdout
    assert listed.startswith("version 3") and "remove failure_burst" in listed and "failure_burst" not in \
        listed.split("\n", 1)[1]
    history = json.loads(goldrush("patterns", "history", "--json", *b).stdout)
    assert [(v["version"], v["message"]) for v in history["versions"]] == [
        (1, "the built-ins"), (2, "algedonic 10 → 4"), (3, "remove failure_burst")]
    assert all(v["time"] > 0 for v in history["versions"])


def test_workers_switch_mid_stream_as_replay_over_the_history_says(fresh_broker, tmp_path):
    """Two workers follow the topic; a push mid-stream is switched to by both without a restart;
    a bad push is rejected while the running set stays; the matches and actions are replay over
    the recorded history, nothing lost or doubled; a restarted worker comes back on the latest."""
    bootstrap = fresh_broker.bootstrap
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    half = len(events) // 2

    asyncio.run(push(bootstrap, [p.to_dict() for p in ALL], "start"))
    workers = [start_worker(bootstrap, tmp_path, "gr-ps"), start_worker(bootstrap, tmp_path, "gr-ps")]

    try:
        asyncio.run(wait_ready(*workers))
        assert all(metric(w, "goldrush_pattern_set_version") == 1 for w in workers)

        asyncio.run(send(bootstrap, events[:half]))
        wait_for(lambda: sum(metric(w, "goldrush_events_evaluated_total") for w in workers) >= half,
                 "the first half was not evaluated")
        asyncio.run(push(bootstrap, _v2(), "algedonic 10 → 4"))
        wait_for(lambda: all(metric(w, "goldrush_pattern_set_version") == 2 for w in workers),
                 "the workers did not switch to version 2")
        assert all(metric(w, "goldrush_pattern_set_switches_total") == 1 for w in workers)
        assert all(metric(w, "goldrush_patterns_started_fresh_total") == 2 for w in workers)
        # A set that does not compile: refused by every worker, recorded, and version 2 runs on.
        asyncio.run(push(bootstrap, _bad(), "broken", check=False))
        wait_for(lambda: all(metric(w, "goldrush_pattern_sets_rejected_total") == 1 for w in workers),
                 "the bad set was not rejected")
        assert all(metric(w, "goldrush_pattern_set_version") == 2 for w in workers)
        listed = goldrush("patterns", "list", "--broker", bootstrap).stdout
        assert "version 3 REJECTED" in listed and "no_such_operator" in listed
        asyncio.run(send(bootstrap, events[half:]))

        wait_for(lambda: sum(metric(w, "goldrush_events_in_total") for w in workers) >= len(events),
                 "not every event was read")
        # every tenant got its switch to version 2 recorded, at its clock then
        wait_for(lambda: len(switched(bootstrap, 2)) == 3,
                 "the switches were not recorded")
        recorded = asyncio.run(history(bootstrap))
        assert {r["version"] for r in recorded["rejected"]} == {3}
        # Streaming is replay modulo late events (a pause between the halves flushes the buffers).
        time.sleep(5)
        late = {r["event"]["id"] for r in asyncio.run(collect(bootstrap, (LATE,), 10**9, timeout=5))}
        kept = [e for e in events if e["id"] not in late]
        expected = replay_versions(recorded, kept)  # the history as stored: version 3 is left out
        assert {m.pattern_set_version for m in expected} == {1, 2}
        assert {m.pattern_set_version for m in expected.actions} == {1, 2}
        matches = asyncio.run(collect(bootstrap, (MATCHES,), 0, ids={m.match_id for m in expected}))
        actions = asyncio.run(collect(bootstrap, tuple(ACTIONS.values()), 0,
                                      ids={a.match_id for a in expected.actions}))
        assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected}
        assert {a["action_id"]: a for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}
    finally:
        for w in workers:
            stop(w)
    # A restarted worker comes back on the latest version that compiles.
    again = start_worker(bootstrap, tmp_path, "gr-ps")
    try:
        asyncio.run(wait_ready(again))
        assert metric(again, "goldrush_pattern_set_version") == 2
    finally:
        stop(again)


def test_concurrent_pushes_never_share_a_version_number(fresh_broker):
    """Four clients push at once: each push gets its own version, and every reader (the history,
    `list`, the workers) agrees on which set each number is. Before, two of them could pick one
    number, and compaction kept only the later record, which a worker may not have run."""
    bootstrap = fresh_broker.bootstrap

    async def main():
        async with PatternStore(bootstrap):  # the topics exist before the race
            pass
        stores = [await PatternStore(bootstrap).start() for _ in range(4)]
        try:
            docs = [p.to_dict() for p in ALL]
            pushed = await asyncio.gather(*(s.push(docs, f"push {i}") for i, s in enumerate(stores)))
            return pushed, await stores[0].history()
        finally:
            for s in stores:
                await s.stop()

    pushed, history = asyncio.run(main())
    assert sorted(r["version"] for r in pushed) == [1, 2, 3, 4]
    assert [(v["version"], v["message"]) for v in history["versions"]] == sorted(
        (r["version"], r["message"]) for r in pushed)


def test_a_version_that_does_not_compile_at_start_is_recorded_once(fresh_broker):
    """A worker starting on a topic whose newest version does not compile runs the one before, and
    writes the rejection to goldrush.patterns.rejected, once for all starts."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from goldrush.agents.config import WorkerConfig
    from goldrush.agents.pattern_watch import initial_set
    from goldrush.kafka.pattern_store import REJECTED_TOPIC

    bootstrap = fresh_broker.bootstrap
    cfg = WorkerConfig(broker=bootstrap)

    async def main():
        async with PatternStore(bootstrap) as store:
            await store.push([p.to_dict() for p in ALL], "good")
            await store.push(_bad(), "broken", check=False)
        first = await initial_set(cfg)
        again = await initial_set(cfg)  # a restart: the rejection is on the topic already
        async with PatternStore(bootstrap) as store:
            rejected = await store.rejected()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await consumer.start()
        try:
            tp = TopicPartition(REJECTED_TOPIC, 0)
            written = (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()
        return first, again, rejected, written

    first, again, rejected, written = asyncio.run(main())
    assert first[1] == 1 and again[1] == 1
    assert [r["version"] for r in rejected] == [2] and "no_such_operator" in rejected[0]["error"]
    assert written == 1


def test_each_version_records_the_key_group_numbers_it_keeps(fresh_broker):
    """A push numbers the key groups from the version before: a `key_by` keeps its number while it
    is used, wherever it stands in the set, and a removed one's number is never given again. The
    history (`patterns history --json`, `replay --pattern-history`) carries the layouts."""
    bootstrap = fresh_broker.bootstrap
    by_subsystem = _finer_v2()[-1]
    tenant_only = [p.to_dict() for p in ALL if p.key_by == ("tenant",)]

    async def main():
        async with PatternStore(bootstrap) as store:
            await store.push([p.to_dict() for p in ALL], "start")
            await store.push([by_subsystem, *(p.to_dict() for p in ALL)], "a key_by first")
            await store.push([by_subsystem, *tenant_only], "the first key_by removed")
            await store.push(_bad(), "broken", check=False)
            await store.push([*tenant_only, by_subsystem, *(p.to_dict() for p in ALL if p.key_by != ("tenant",))],
                             "the source key back")
            return await store.history()

    history = asyncio.run(main())
    source, subsystem = ["tenant", "source"], ["tenant", "subsystem"]
    assert [v.get("layout") for v in history["versions"]] == [
        [source], [source, subsystem], [None, subsystem], [None, subsystem], [None, subsystem, source]]
    compiling = {**history, "versions": [v for v in history["versions"] if v["version"] != 4]}
    expected = replay_versions(compiling, list(simulate("mixed", tenants=1, rate=2, duration=60)))
    assert expected.events > 0  # a history with layouts still replays


def _finer_v2(*, first: bool = False) -> list[dict]:
    """Changes of patterns keyed finer than the tenant: one edited, one removed, one new whose
    key_by comes after the existing ones (`first`: before them, in the set)."""
    docs = [p.to_dict() for p in ALL if p.name != "variety_overload"]
    for d in docs:
        if d["name"] == "response_time_degradation":
            d["clauses"][0]["count"] = [">=", 2]
    base = next(d for d in docs if d["name"] == "response_time_degradation")
    new = {**base, "name": "slow_subsystem", "key_by": ["tenant", "subsystem"],
           "clauses": [{**base["clauses"][0], "count": [">=", 4]}],
           "actions": [{"type": "algedonic_alert", "severity": "medium"}]}
    return [new, *docs] if first else [*docs, new]


@pytest.mark.parametrize("first", [False, True], ids=["key_by-appended", "key_by-inserted-first"])
def test_workers_switch_finer_keyed_patterns_live_with_the_key_stage_on(fresh_broker, tmp_path, first):
    """Two workers, key stage on: a push that changes patterns keyed finer than the tenant is run
    by both without a restart (it was rejected before), and the matches and actions are replay over
    the recorded history: the key stage evaluated each forwarded event under the version the tenant
    stage stamped on it. A new key_by first in the set keeps the others' group numbers (the
    version's layout), so their keys keep their state."""
    bootstrap = fresh_broker.bootstrap
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    half = len(events) // 2

    asyncio.run(push(bootstrap, [p.to_dict() for p in ALL], "start"))
    workers = [start_worker(bootstrap, tmp_path, "gr-fine"), start_worker(bootstrap, tmp_path, "gr-fine")]

    try:
        asyncio.run(wait_ready(*workers))
        asyncio.run(send(bootstrap, events[:half]))
        wait_for(lambda: sum(metric(w, "goldrush_events_evaluated_total") for w in workers) >= half,
                 "the first half was not evaluated")
        asyncio.run(push(bootstrap, _finer_v2(first=first), "finer keyed"))
        wait_for(lambda: all(metric(w, "goldrush_pattern_set_version") == 2 for w in workers),
                 "the workers did not switch to version 2")
        assert all(metric(w, "goldrush_pattern_sets_rejected_total") == 0 for w in workers)
        asyncio.run(send(bootstrap, events[half:]))
        wait_for(lambda: sum(metric(w, "goldrush_events_in_total") for w in workers) >= len(events),
                 "not every event was read")
        wait_for(lambda: len(switched(bootstrap, 2)) == 3,
                 "the switches were not recorded")
        time.sleep(5)
        recorded = asyncio.run(history(bootstrap))
        assert recorded["rejected"] == []
        late = {r["event"]["id"] for r in asyncio.run(collect(bootstrap, (LATE,), 10**9, timeout=5))}
        kept = [e for e in events if e["id"] not in late]
        expected = replay_versions(recorded, kept)
        assert {m.pattern_set_version for m in expected if m.pattern == "slow_subsystem"} == {2}
        matches = asyncio.run(collect(bootstrap, (MATCHES,), 0, ids={m.match_id for m in expected}))
        actions = asyncio.run(collect(bootstrap, tuple(ACTIONS.values()), 0,
                                      ids={a.match_id for a in expected.actions}))
        assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected}
        assert {a["action_id"]: a for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}
        dead = asyncio.run(collect(bootstrap, (DEADLETTER,), 10**9, timeout=3))
        assert [d for d in dead if d.get("code") in ("unknown_pattern_set", "unknown_key_by")] == []
        # the (tenant, source) group kept its number, so its keys kept their Kafka keys and their state
        numbers = asyncio.run(keyed_group_numbers(bootstrap, "gr-fine-keyed"))
        assert numbers[("tenant", "source")] == {0} and numbers[("tenant", "subsystem")] == {1}
    finally:
        for w in workers:
            stop(w)


async def keyed_group_numbers(bootstrap: str, topic: str) -> dict[tuple[str, ...], set[int]]:
    """key_by → the group numbers of the Kafka keys its keyed messages were sent under."""
    from aiokafka import AIOKafkaConsumer

    from goldrush.agents.messages import Keyed, read_keyed

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: dict[tuple[str, ...], set[int]] = {}
    try:
        quiet = 0
        while quiet < 4:
            batch = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for r in records:
                    msg = read_keyed(r.value)
                    if isinstance(msg, Keyed):
                        out.setdefault(tuple(msg.key_by), set()).add(json.loads(r.key)[0])
    finally:
        await consumer.stop()
    return out


def test_a_worker_killed_after_a_switch_resumes_on_the_old_version_until_the_recorded_switch(fresh_broker, tmp_path):
    """SIGKILL after a live switch of finer-keyed patterns, before any snapshot after it (checkpoints
    every 10 minutes: the snapshots are the tenants' first ones). The restarted worker reads every
    engine-in record again; each tenant resumes on version 1 and switches at its recorded point, so
    the records on goldrush.patterns.applied stay as they were and every match and action published,
    before and after the kill, is replay over that history (at least once)."""
    from tests.support.worker import assert_at_least_once

    bootstrap = fresh_broker.bootstrap
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    half = len(events) // 2

    asyncio.run(push(bootstrap, [p.to_dict() for p in ALL], "start"))
    worker = start_worker(bootstrap, tmp_path, "gr-back", "--checkpoint-every", "10m")
    try:
        asyncio.run(wait_ready(worker))
        asyncio.run(send(bootstrap, events[:half]))
        wait_for(lambda: metric(worker, "goldrush_events_evaluated_total") >= half,
                 "the first half was not evaluated")
        asyncio.run(push(bootstrap, _finer_v2(), "finer keyed"))
        wait_for(lambda: len(switched(bootstrap, 2)) == 3,
                 "the switches were not recorded")
        points = switched(bootstrap, 2)
        asyncio.run(send(bootstrap, events[half:half + 6000]))
        wait_for(lambda: metric(worker, "goldrush_events_evaluated_total") >= half + 5000,
                 "the events after the switch were not evaluated")
        worker.kill()  # SIGKILL: the snapshots on the broker are from before the switch
        worker.wait()
        worker = start_worker(bootstrap, tmp_path, "gr-back", "--checkpoint-every", "10m")
        asyncio.run(wait_ready(worker))
        asyncio.run(send(bootstrap, events[half + 6000:]))
        wait_for(lambda: metric(worker, "goldrush_events_in_total") >= len(events) - half - 6000,
                 "not every event was read")
        time.sleep(8)
        recorded = asyncio.run(history(bootstrap))
        assert {s["tenant"]: s["after"] for s in recorded["switches"] if s["version"] == 2} == points
        late = {r["event"]["id"] for r in asyncio.run(collect(bootstrap, (LATE,), 10**9, timeout=5))}
        kept = [e for e in events if e["id"] not in late]
        expected = replay_versions(recorded, kept)
        matches = asyncio.run(collect(bootstrap, (MATCHES,), 0, ids={m.match_id for m in expected}))
        actions = asyncio.run(collect(bootstrap, tuple(ACTIONS.values()), 0,
                                      ids={a.match_id for a in expected.actions}))
        assert_at_least_once(matches, {m.match_id: m.to_dict() for m in expected}, "match_id")
        assert_at_least_once(actions, {a.action_id: a.to_dict() for a in expected.actions}, "action_id")
    finally:
        stop(worker)
