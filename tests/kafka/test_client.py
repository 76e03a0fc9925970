"""EventProducer and ActionConsumer against the embedded broker."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from goldrush import Envelope, InvalidEvent, Match, replay
from goldrush.events.topics import ACTIONS, MATCHES
from goldrush.kafka.client import ActionConsumer, EventProducer
from goldrush.patterns import ALL


async def consume_all(bootstrap, topic, n, timeout=20):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out = []
    try:
        async def loop():
            async for msg in consumer:
                out.append(msg)
                if len(out) >= n:
                    return
        await asyncio.wait_for(loop(), timeout)
    finally:
        await consumer.stop()
    return out


def test_producer_batches_per_tenant_and_validates(broker):
    topic = f"t-{uuid.uuid4().hex[:8]}"
    events = [{"name": "x", "timestamp": i, "tenant": "a" if i % 2 else "b"} for i in range(10)]

    async def run():
        async with EventProducer(broker.bootstrap, topic=topic, batch=3) as p:
            await p.send_many(events[:-1])
            await p.send(Envelope(name="x", timestamp=9, tenant="a"))
            with pytest.raises(InvalidEvent):
                await p.send({"name": "x"})
        return await consume_all(broker.bootstrap, topic, p.sent_messages), p

    msgs, producer = asyncio.run(run())
    assert producer.sent_events == 10 and producer.sent_messages == 4  # 5+5 events, batches of 3
    by_tenant: dict[str, list] = {}
    for m in msgs:
        batch = json.loads(m.value)
        assert isinstance(batch, list) and {e["tenant"] for e in batch} == {m.key.decode()}
        by_tenant.setdefault(m.key.decode(), []).extend(e["timestamp"] for e in batch)
    assert by_tenant == {"a": [1, 3, 5, 7, 9], "b": [0, 2, 4, 6, 8]}


def test_single_events_are_sent_as_objects(broker):
    topic = f"t-{uuid.uuid4().hex[:8]}"

    async def run():
        async with EventProducer(broker.bootstrap, topic=topic) as p:
            await p.send({"name": "x", "timestamp": 1, "id": "e1"})
        return await consume_all(broker.bootstrap, topic, 1)

    (msg,) = asyncio.run(run())
    assert json.loads(msg.value) == {"name": "x", "timestamp": 1.0, "tenant": "default", "id": "e1", "data": {}}


def test_action_consumer_types_and_deduplicates(fresh_broker):
    broker = fresh_broker  # its own topics: other tests publish actions on the session broker
    events = [{"name": "vsm_core.algedonic.signal", "timestamp": 10 * i, "tenant": "t"} for i in range(12)]
    result = replay(ALL, events, actions=True)
    (action,) = result
    (match,) = [m for m in result.matches if m.pattern == "algedonic_signal_frequency"]

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for _ in range(2):  # at-least-once: the same records twice
                await producer.send_and_wait(ACTIONS["autoscale"], json.dumps(action.to_dict()).encode())
                await producer.send_and_wait(MATCHES, json.dumps(match.to_dict()).encode())
        finally:
            await producer.stop()
        got = []
        async with ActionConsumer(broker.bootstrap, from_beginning=True) as consumer:
            async def loop():
                async for record in consumer:
                    got.append(record)

            task = asyncio.create_task(loop())
            for _ in range(200):  # until all four records were read (or 20 s)
                await asyncio.sleep(0.1)
                if len(got) + consumer.duplicates >= 4:
                    break
            task.cancel()
            return got, consumer

    got, consumer = asyncio.run(run())
    assert sorted(type(r).__name__ for r in got) == ["AutoScaleAction", "Match"]
    assert consumer.duplicates == 2
    assert [r for r in got if type(r).__name__ == "AutoScaleAction"][0] == action


def test_produce_and_tail_commands(broker, tmp_path, capsys):
    from goldrush.cli.main import main

    topic = f"t-{uuid.uuid4().hex[:8]}"
    f = tmp_path / "e.jsonl"
    f.write_text("".join(json.dumps({"name": "x", "timestamp": i, "tenant": "a"}) + "\n" for i in range(7))
                 + "not json\n")
    rejected = tmp_path / "bad.jsonl"
    code = main(["produce", str(f), "--topic", topic, "--batch", "3", "--broker", broker.bootstrap,
                 "--rejected", str(rejected), "--quiet"])
    assert code == 1  # one line was not an event
    err = capsys.readouterr().err
    assert "sent 7 events in 3 messages" in err and "rejected 1" in err
    assert json.loads(rejected.read_text())["line"] == 8
    assert main(["tail", "--topic", topic, "--json", "--max", "3", "--timeout", "20",
                 "--broker", broker.bootstrap]) == 0
    batches = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(b) for b in batches] == [3, 3, 1]


def test_the_readme_client_example_runs(broker):
    """The README's Python example, as written, against the broker: a match and an action come
    back and both print (the consumer yields matches as well as actions)."""
    import re
    import textwrap
    from pathlib import Path

    from goldrush import Match

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example, = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "ActionConsumer(" in b]
    code = "async def example(print):\n" + textwrap.indent(example.replace("localhost:9092", broker.bootstrap), "    ")
    namespace: dict = {}
    exec(compile(code, "README example", "exec"), namespace)
    match = Match("readme", "acme", {"tenant": "acme"}, 1767225600.0, ["e1"])
    action = {"action_id": "a-readme", "pattern": "readme", "tenant": "acme", "key": {"tenant": "acme"},
              "timestamp": 1767225600.0, "match_id": match.match_id, "event_ids": ["e1"], "type": "algedonic_alert",
              "params": {"signal": "pain", "severity": "high", "description": "d", "suppressed": None}}
    printed: list[tuple] = []

    class Seen(Exception):
        pass

    def ours(args: tuple) -> bool:
        return "readme" in args or any(getattr(a, "description", None) == "d" for a in args)

    def capture(*args):
        if ours(args):
            printed.append(args)
        if len(printed) == 2:  # our match and our action (in either order: two topics)
            raise Seen

    async def run():
        example = asyncio.create_task(asyncio.wait_for(namespace["example"](capture), 30))
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:  # the consumer reads what is published once it runs: publish until it has seen both
            while not example.done():
                await producer.send_and_wait(MATCHES, json.dumps(match.to_dict()).encode(), key=b"acme")
                await producer.send_and_wait(ACTIONS["algedonic_alert"], json.dumps(action).encode(), key=b"acme")
                await asyncio.sleep(0.5)
        finally:
            await producer.stop()
        with pytest.raises(Seen):
            await example

    asyncio.run(run())
    assert sorted(args[0] for args in printed) == ["algedonic_alert", "match"]


def test_the_action_consumer_starts_at_new_records_unless_asked_for_the_history(broker):
    """It read the whole history by default; and on the embedded broker, whose "latest" offset
    is one short, a consumer from "latest" got the last old record of each partition."""
    topic = f"gr-latest-{uuid.uuid4().hex[:8]}"

    def record(i: int) -> bytes:
        return json.dumps(Match("p", "acme", {"tenant": "acme"}, 1767225600.0 + i, [f"e{i}"]).to_dict()).encode()

    async def run(**options) -> list:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        got: list = []
        try:
            await producer.send_and_wait(topic, record(0), partition=0)
            async with ActionConsumer(broker.bootstrap, topics=[topic], **options) as consumer:
                consumer.parse = lambda t, v: Match.from_dict(json.loads(v))  # type: ignore[method-assign]

                async def loop():
                    async for r in consumer:
                        got.append(r.event_ids[0])

                task = asyncio.create_task(loop())
                for _ in range(100):  # publish until the new record came (or 20 s)
                    await producer.send_and_wait(topic, record(1), partition=0)
                    await asyncio.sleep(0.2)
                    if "e1" in got:
                        break
                await asyncio.sleep(0.5)
                task.cancel()
        finally:
            await producer.stop()
        return got

    assert set(asyncio.run(run())) == {"e1"}
    assert set(asyncio.run(run(from_beginning=True))) == {"e0", "e1"}
