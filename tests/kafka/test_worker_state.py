"""The worker's state on the broker: snapshots, restarts, upgrades, idle keys, edited patterns."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from goldrush import replay
from goldrush.agents.key_expiry import key_partition
from goldrush.agents.table_keys import tenant_key
from goldrush.events.topics import ACTIONS, DEADLETTER, MATCHES
from goldrush.kafka.broker import free_port
from goldrush.kafka.client import EventProducer
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from tests.support.worker import (
    assert_at_least_once,
    changelog_state,
    collect,
    collect_replay_matches,
    http_get,
    prometheus,
    send_events,
    start_worker,
    stop,
    wait_ready,
)


def test_a_hot_tenants_snapshot_larger_than_a_record_survives_sigkill(fresh_broker, tmp_path):
    """A tenant at 5,000 events/s holds 12,000 events in a 10-minute reorder buffer: a snapshot of
    about 2 MB, over the producer's 1 MB limit (the worker crashed on it after every restart).
    It is stored in pieces; after a SIGKILL the restarted worker rebuilds it, and the buffered
    events (a failure cascade among them) give replay's matches and actions."""
    start = 1_767_225_600
    hot = [{"name": "vsm_core.system1.operation", "timestamp": start + i / 5000, "tenant": "hot", "id": f"h{i}",
            "source": f"svc{i % 6}", "data": {"response_time_ms": 100 + i % 50, "route": "/x"}} for i in range(12_000)]
    cascade = [{"name": "vsm_core.system1.failure", "timestamp": start + 2 + t / 10, "tenant": "hot", "id": f"f{t}",
                "data": {"service": "db"}} for t in range(3)]
    later = {"name": "vsm_core.system1.operation", "timestamp": start + 3600, "tenant": "hot", "id": "late-enough",
             "data": {"response_time_ms": 100}}
    events = sorted([*hot, *cascade], key=lambda e: e["timestamp"])
    changelog = "gr-hot-tenant-state-changelog"
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-hot", "--lateness", "10m")
    try:
        async def first():
            await wait_ready(worker)  # reading the changelog before the worker made it would create it wrong
            async with EventProducer(fresh_broker.bootstrap, batch=100) as producer:
                await producer.send_many(events)
            # Until the tenant's snapshot is on the changelog as a header naming its pieces.
            consumer = AIOKafkaConsumer(changelog, bootstrap_servers=fresh_broker.bootstrap,
                                        auto_offset_reset="earliest")
            await consumer.start()
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        for r in records:
                            if r.key == json.dumps(tenant_key("hot")).encode() and r.value and r.value.startswith(b"\xc1"):
                                snapshot_seen = prometheus(http_get(worker.web_port, "/metrics")[1])
                                if snapshot_seen["goldrush_events_evaluated_total"] == len(events):
                                    return True
                return False
            finally:
                await consumer.stop()

        assert asyncio.run(first()), "no snapshot in pieces after every event was evaluated"
        worker.kill()
        worker.wait()
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-hot", "--lateness", "10m")

        async def second():
            async with EventProducer(fresh_broker.bootstrap) as producer:
                await producer.send_many([later])  # releases the restored buffer
            return await collect_replay_matches(fresh_broker.bootstrap, [*events, later])

        records, expected, late, actions, expected_actions = asyncio.run(second())
    finally:
        stop(worker)
    logs = "".join(p.read_text() for p in tmp_path.glob("gr-hot*.log"))
    assert "MessageSizeTooLarge" not in logs
    assert not late
    assert "failure_cascade" in {m["pattern"] for m in expected.values()}
    assert_at_least_once(records, expected, "match_id")
    assert_at_least_once(actions, expected_actions, "action_id")


def test_keyed_events_for_an_unknown_key_by_are_dead_lettered_and_answered(fresh_broker, tmp_path):
    """Workers of one group with different pattern sets (a rolling upgrade): a key stage that
    has no pattern for a message's `key_by` keeps its events in the dead-letter topic and
    answers "no matches", so the tenant stage that sent them does not wait forever."""
    from goldrush.events.codec import pack, unpack

    rows = [["vsm_core.system1.operation", 1_767_225_600.0 + i, "svc", None, f"u{i}", {"x": i}] for i in range(2)]
    message = pack({"key_by": ["tenant", "build"], "key": ["t9", "b1"], "events": [[7, rows[0]], [8, rows[1]]]})
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-unknown")
    try:
        async def run():
            await wait_ready(worker)
            producer = AIOKafkaProducer(bootstrap_servers=fresh_broker.bootstrap)
            await producer.start()
            try:
                await producer.send_and_wait("gr-unknown-keyed", message, key=b"t9|b1")
            finally:
                await producer.stop()
            dead = await collect(fresh_broker.bootstrap, (DEADLETTER,), 2)
            consumer = AIOKafkaConsumer("gr-unknown-verdicts", bootstrap_servers=fresh_broker.bootstrap,
                                        auto_offset_reset="earliest")
            await consumer.start()
            try:
                answers = []
                while not answers:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        answers += [unpack(r.value) for r in records]
            finally:
                await consumer.stop()
            cascade = [{"name": "vsm_core.system1.failure", "timestamp": 1_767_225_610 + t, "tenant": "t9",
                        "data": {"service": "db"}} for t in (0, 1, 2)]
            async with EventProducer(fresh_broker.bootstrap) as events:
                await events.send_many(cascade)
            return dead, answers, await collect(fresh_broker.bootstrap, (ACTIONS["algedonic_alert"],), 1)

        dead, answers, alerts = asyncio.run(asyncio.wait_for(run(), 240))
        metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
    finally:
        stop(worker)
    assert [d["code"] for d in dead] == ["unknown_key_by"] * 2 and "['tenant', 'build']" in dead[0]["reason"]
    assert [json.loads(d["original"])["id"] for d in dead] == ["u0", "u1"]
    assert [(d["topic"], d["index"]) for d in dead] == [("gr-unknown-keyed", 0), ("gr-unknown-keyed", 1)]
    assert answers == [{"v": 2, "type": "verdicts", "tenant": "t9", "key_by": ["tenant", "build"],
                        "done": [[7, []], [8, []]]}]
    assert metrics["goldrush_keyed_dropped_total"] == 2
    assert metrics['goldrush_rejected_total{reason="unknown_key_by"}'] == 2
    assert [a["pattern"] for a in alerts] == ["failure_cascade"]  # still matching


def test_an_upgraded_worker_starts_where_the_earlier_version_stopped(fresh_broker, tmp_path):
    """Earlier versions read the sources with a Faust agent in the group `<app-id>`; the source
    consumer's own group starts at that group's offsets instead of reading everything again."""
    from aiokafka.structs import OffsetAndMetadata

    def failures(tenant: str, at: int) -> list[dict]:
        return [{"name": "vsm_core.system1.failure", "timestamp": 1_767_225_600 + at + t, "tenant": tenant,
                 "data": {"service": "db"}} for t in (0, 1, 2)]

    async def before_upgrade():
        async with EventProducer(fresh_broker.bootstrap) as producer:
            await producer.send_many(failures("old", 0))  # applied by the earlier version
        # The earlier version read them and committed its position (read, not asked: the embedded
        # broker reports end offsets per record batch, not per record).
        consumer = AIOKafkaConsumer(bootstrap_servers=fresh_broker.bootstrap, group_id="gr-upgrade",
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition("vsm.events", p) for p in consumer.partitions_for_topic("vsm.events")])
            read: dict = {}
            while sum(len(rs) for rs in read.values()) < 3:
                for tp, rs in (await consumer.getmany(timeout_ms=500)).items():
                    read.setdefault(tp, []).extend(rs)
            await consumer.commit({tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in read.items()})
        finally:
            await consumer.stop()

    asyncio.run(before_upgrade())
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-upgrade")
    try:
        async def after_upgrade():
            async with EventProducer(fresh_broker.bootstrap) as producer:
                await producer.send_many(failures("new", 100))
            return await collect(fresh_broker.bootstrap, (ACTIONS["algedonic_alert"],), 1)

        alerts = asyncio.run(after_upgrade())
        metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
    finally:
        stop(worker)
    assert [(a["tenant"], a["pattern"]) for a in alerts] == [("new", "failure_cascade")]
    assert metrics["goldrush_events_in_total"] == 3  # the three before the upgrade were not read again


def test_the_readme_demo_shows_matches_and_actions(tmp_path):
    """The README's first command, shortened: it must show patterns firing and actions published."""
    proc = subprocess.run(
        [sys.executable, "-m", "goldrush", "demo", "--duration", "20m", "--web-port", str(free_port())],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stderr[-2000:]
    events, matches, actions = (int(n.replace(",", "")) for n in
                                re.findall(r"(\d[\d,]*) (?:events|matches|actions)", summary))
    assert events == 6000 and matches > 0 and actions > 0, summary
    assert "matches by pattern" in proc.stdout and "latest 8 actions" in proc.stdout  # the dashboard's last frame


def test_idle_keys_are_let_go_and_a_let_go_key_starts_fresh(fresh_broker, tmp_path):
    """Forty services report once and go away; one stays. The key stage lets the forty go
    (their snapshots deleted: a restarted worker does not restore them), and a service seen
    again later is evaluated as a new one: the worker still equals replay."""
    def op(source: str, t: float, n: int, ms: float) -> dict:
        return {"name": "vsm_core.system1.operation", "timestamp": t, "id": f"{source}-{n}", "tenant": "t",
                "source": source, "data": {"response_time_ms": ms}}

    gone = [op(f"pod-{i}", 1000 + i, 0, 100.0) for i in range(40)]
    later = [op("live", 100_000 + 30 * k, k, 100.0) for k in range(6)]  # past every window and model memory
    back = [op("pod-0", 100_200 + k, 1 + k, 2000.0) for k in range(3)]  # three slow operations: a match
    events = [op("live", 999, 100, 100.0), *gone, *later, *back]

    def metric(worker: subprocess.Popen, name: str) -> float:
        return prometheus(http_get(worker.web_port, "/metrics")[1]).get(name, 0.0)

    def wait_for(worker: subprocess.Popen, name: str, check, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while not check(value := metric(worker, name)) and time.monotonic() < deadline:
            time.sleep(0.3)
        return value

    def send(batch: list[dict]) -> None:
        asyncio.run(send_events(fresh_broker.bootstrap, batch, batch=100))

    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-expiry", "--key-expiry", "0.5")
    try:
        asyncio.run(wait_ready(worker))
        send(events[:41])
        assert wait_for(worker, "goldrush_keys_indexed", lambda v: v >= 41) == 41
        for ev in later:  # progress moves on in steps; the notes follow
            send([ev])
            time.sleep(0.7)
        assert wait_for(worker, "goldrush_keys_forgotten_total", lambda v: v >= 40) == 40
        assert metric(worker, "goldrush_keys_indexed") == 1  # only "live"
        stop(worker)
        written: dict[str, int] = {}
        stored = asyncio.run(changelog_state(fresh_broker.bootstrap, "gr-expiry-key-state-changelog", written))
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-expiry", "--key-expiry", "0.5")
        asyncio.run(wait_ready(worker))
        send(back)
        records, expected, late, actions, expected_actions = asyncio.run(
            collect_replay_matches(fresh_broker.bootstrap, events))
    finally:
        stop(worker)
    # What a restarted worker restores: "live" and the floor of the tenant's partitions, the forty deleted.
    assert {k for k in stored if k.startswith("[")} == {'[0,"t","live"]'}
    # Where a restarted worker indexes a restored key (agents/key_expiry.py): its changelog partition.
    keys = [k for k in written if k.startswith("[")]
    assert len(keys) == 41 and all(written[k] == key_partition(k, 2) for k in keys)
    assert any(k.startswith("floor") for k in stored)
    assert not late
    assert any(m["key"] == {"tenant": "t", "source": "pod-0"} for m in expected.values())
    assert_at_least_once(records, expected, "match_id")
    assert_at_least_once(actions, expected_actions, "action_id")


def test_a_restart_does_not_hold_back_a_quiet_tenants_buffered_events(fresh_broker, tmp_path):
    """A tenant's last events wait in its reorder buffer until it has been quiet for the lateness
    (SEMANTICS §4). A worker stopped before that (a deploy) keeps them in the tenant's snapshot; the
    restarted worker must still release them while the tenant stays quiet, not wait for its next event."""
    t0 = time.time()
    cascade = [{"name": "vsm_core.system1.failure", "timestamp": t0 + i / 10, "tenant": "quiet", "source": svc,
                "id": f"quiet-{i}", "data": {"service": svc}} for i, svc in enumerate(("db", "api", "web"))]
    expected = {m.match_id for m in replay(ALL, cascade)}
    assert expected
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-quiet", "--lateness", "8s")
    try:
        asyncio.run(wait_ready(worker))

        async def send():
            async with EventProducer(fresh_broker.bootstrap) as producer:
                await producer.send_many(cascade)

        asyncio.run(send())
        deadline = time.monotonic() + 30
        while prometheus(http_get(worker.web_port, "/metrics")[1]).get("goldrush_events_evaluated_total", 0) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)  # the batch's snapshot is written right after it is evaluated
        stop(worker)  # graceful: its offsets are committed, so nothing of the tenant is read again
        assert not asyncio.run(collect(fresh_broker.bootstrap, (MATCHES,), 1, timeout=2))  # still buffered
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-quiet", "--lateness", "8s")
        records = asyncio.run(collect(fresh_broker.bootstrap, (MATCHES,), 0, timeout=60, ids=expected))
    finally:
        stop(worker)
    assert expected <= {r["match_id"] for r in records}


EDITED_PATTERNS = '''
from goldrush import Pattern, event, frequency, sequence

PATTERNS = [
    Pattern("burst", {burst}),
    Pattern("steady", frequency(event("y"), count=(">=", 2), within="10m")),
]
'''


def test_a_pattern_edited_between_restarts_starts_fresh_and_the_others_keep_their_state(fresh_broker, tmp_path):
    """Editing a pattern and restarting the worker is routine. The changelog still holds the old
    definition's state under the pattern's name: it must not be loaded into the new operators (the
    tenant stage failed on every restore), while unchanged patterns resume where they were."""
    from goldrush.loader import load_patterns

    old, new = tmp_path / "patterns_v1.py", tmp_path / "patterns_v2.py"
    old.write_text(EDITED_PATTERNS.format(burst='frequency(event("x"), count=(">=", 3), within="1m")'))
    new.write_text(EDITED_PATTERNS.format(burst='sequence(event("x"), event("z"), within="1m")'))
    t0 = time.time()

    def events(*names_at: tuple[str, float]) -> list[dict]:
        return [{"name": n, "timestamp": t0 + t, "tenant": "ed", "id": f"ed-{t}"} for n, t in names_at]

    before, after = events(("x", 0), ("x", 1), ("y", 2)), events(("y", 3), ("x", 4), ("z", 5))
    # steady counts the y from before the restart; burst, edited, sees only what came after it
    expected = ({m.match_id for m in replay(load_patterns(str(old)), before + after) if m.pattern == "steady"}
                | {m.match_id for m in replay(load_patterns(str(new)), after) if m.pattern == "burst"})
    assert len(expected) == 2

    async def send(batch: list[dict]) -> None:
        async with EventProducer(fresh_broker.bootstrap) as producer:
            await producer.send_many(batch)

    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-edit", "--lateness", "0s", "--patterns", str(old))
    try:
        asyncio.run(wait_ready(worker))
        asyncio.run(send(before))
        deadline = time.monotonic() + 30
        while prometheus(http_get(worker.web_port, "/metrics")[1]).get("goldrush_events_evaluated_total", 0) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1.0)  # the batch's snapshot is written right after it is evaluated
        stop(worker)
        worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-edit", "--lateness", "0s", "--patterns", str(new))
        asyncio.run(wait_ready(worker))
        asyncio.run(send(after))
        records = asyncio.run(collect(fresh_broker.bootstrap, (MATCHES,), 0, timeout=60, ids=expected))
        metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
    finally:
        stop(worker)
    assert {r["match_id"] for r in records} == expected
    assert metrics.get('goldrush_states_reset_total{pattern="burst"}') == 1
    assert "pattern 'burst' changed since its state was saved" in (tmp_path / "gr-edit-1.log").read_text()


def test_the_snapshot_changelogs_end_where_their_records_do_on_the_embedded_broker(fresh_broker, tmp_path):
    """tansu reports a partition's latest offset counting record batches, not records (10 records in one
    batch: latest offset 1), and Faust recovers a changelog only up to that offset: after a SIGKILL the
    restarted worker restored some keys fresh, and matched again what replay does not (the flaky
    `test_sigkill_and_restart_loses_nothing`). On the embedded broker the worker now delivers each
    snapshot write alone, so each snapshot changelog's latest offset is its length."""
    events = list(simulate("mixed", tenants=4, rate=5, duration=1800, disorder=0.5))
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-hw")
    try:
        asyncio.run(wait_ready(worker))
        asyncio.run(send_events(fresh_broker.bootstrap, events, batch=25))
        deadline = time.monotonic() + 60
        while prometheus(http_get(worker.web_port, "/metrics")[1]).get(
                "goldrush_events_evaluated_total", 0) < len(events) - 200 and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        worker.kill()  # snapshots of the first checkpoints, written many to a batch without the fix
        worker.wait()

    async def ends_and_lengths(topic: str) -> tuple[list[int], list[int]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=fresh_broker.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in (0, 1)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            last = {tp: -1 for tp in tps}
            while True:
                batch = await consumer.getmany(*tps, timeout_ms=1000)
                if not batch:
                    break
                for tp, records in batch.items():
                    last[tp] = max(last[tp], records[-1].offset)
            return [ends[tp] for tp in tps], [last[tp] + 1 for tp in tps]
        finally:
            await consumer.stop()

    for table in ("key-state", "tenant-state"):
        ends, lengths = asyncio.run(ends_and_lengths(f"gr-hw-{table}-changelog"))
        assert sum(lengths) >= 8 and ends == lengths, (table, ends, lengths)
