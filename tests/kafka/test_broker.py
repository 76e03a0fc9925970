"""The embedded broker speaks Kafka to aiokafka (the client the runtime uses)."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from goldrush.kafka.broker import EmbeddedBroker, broker_binary


def test_produce_and_consume_round_trip(broker):
    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait("goldrush.test", json.dumps({"i": i}).encode(), key=b"t")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("goldrush.test", bootstrap_servers=broker.bootstrap,
                                    auto_offset_reset="earliest", group_id="g1")
        await consumer.start()
        try:
            got = []
            while len(got) < 5:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 20)
                for records in batch.values():
                    got += [json.loads(r.value)["i"] for r in records]
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_second_broker_gets_its_own_port_and_stops_cleanly(broker):
    assert broker_binary()
    with EmbeddedBroker() as other:
        assert other.port != broker.port and other.process.poll() is None
        proc = other.process
    assert proc.poll() is not None


def test_the_worker_tells_the_embedded_broker_by_its_cluster_id(broker):
    """Faust's consumer gets the short fetch wait only there (agents/compat.py, cap_fetch_wait)."""
    from goldrush.agents.worker import _cluster_id, is_embedded

    assert is_embedded(asyncio.run(_cluster_id(broker.bootstrap)))
    assert not is_embedded("MkU3OEVBNTcwNTJENDM2Qk")  # an Apache Kafka cluster id
    assert not is_embedded(None)


def test_a_picked_port_taken_before_the_broker_binds_it_is_replaced(monkeypatch):
    """Parallel test processes pick free ports independently: one may bind a port another picked."""
    import socket

    from goldrush.kafka import broker as broker_module

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))  # bound, not listening: the check before the start sees it free
    picks = iter([taken.getsockname()[1]])
    real = broker_module.free_port
    monkeypatch.setattr(broker_module, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
    try:
        with EmbeddedBroker() as other:
            assert other.port != taken.getsockname()[1] and other.process.poll() is None
    finally:
        taken.close()
