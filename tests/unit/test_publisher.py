"""The publisher's order: outputs on the broker, then the snapshots, then the acknowledgements."""

from __future__ import annotations

import asyncio

import pytest

from goldrush.agents.config import WorkerConfig
from goldrush.agents.host import EngineHost
from goldrush.agents.metrics import Metrics
from goldrush.agents.publisher import Publisher
from goldrush.agents.stages.outcome import Outcome
from goldrush.events.envelope import decode
from goldrush.events.topics import DEADLETTER, LATE


class Producer:
    def __init__(self, log, fail_on=None):
        self.log, self.fail_on = log, fail_on

    async def send(self, topic, key, value, partition, timestamp, headers):
        if topic == self.fail_on:
            raise ValueError("refused")
        self.log.append(("send", topic))

    async def flush(self):
        self.log.append(("flush",))


class Table(dict):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def __setitem__(self, key, value):
        self.log.append(("write", key))
        super().__setitem__(key, value)


class Record:  # a stream record: the changelog partition follows it
    def __init__(self, name):
        self.name = name


def _publisher(log, applied=None, **kw):
    host = EngineHost(WorkerConfig())
    table = Table(log)
    return Publisher(lambda: Producer(log, **kw), host, Metrics(), engine_in="in", keyed="keyed",
                     verdicts="verdicts", state=table, rates={}, ack=lambda r: log.append(("ack", r.name)),
                     applied=applied), table


def test_snapshots_follow_the_outputs_and_acknowledgements_follow_the_snapshots():
    log: list = []
    publisher, table = _publisher(log)
    out = Outcome()
    out.late.append(decode({"name": "x", "timestamp": 1, "tenant": "t"}))
    out.forwards.append((b"k", b"v"))
    out.snapshots.append((table, "tenant\x00t", Record("r1"), {"offset": 3}))
    out.acks += [Record("r1"), Record("r2")]
    asyncio.run(publisher.publish(out))
    assert log == [("send", LATE), ("send", "keyed"), ("flush",), ("write", "tenant\x00t"), ("flush",),
                   ("ack", "r1"), ("ack", "r2")]


def test_an_outcome_without_snapshots_is_acknowledged_after_its_outputs_with_one_flush():
    log: list = []
    publisher, _ = _publisher(log)
    out = Outcome()
    out.dead.append((b"t", b"{}"))
    out.acks.append(Record("r"))
    asyncio.run(publisher.publish(out))
    assert log == [("send", DEADLETTER), ("flush",), ("ack", "r")]


def test_an_output_that_cannot_be_sent_is_dead_lettered_and_the_rest_goes_on():
    log: list = []
    publisher, _ = _publisher(log, fail_on=LATE)
    out = Outcome()
    out.late += [decode({"name": "x", "timestamp": 1, "tenant": "t"})]
    out.forwards.append((b"k", b"v"))
    asyncio.run(publisher.publish(out))
    assert log == [("send", DEADLETTER), ("send", "keyed"), ("flush",)]
    assert publisher.metrics.get("goldrush_rejected_total", reason="unpublishable") == 1


def test_switch_records_are_on_the_broker_before_the_outputs_evaluated_after_the_switch():
    """A worker killed right after publishing new-version outputs must leave their switch point
    recorded: its restart resumes on the old version up to it (docs/semantics.md §7)."""
    log: list = []
    publisher, _ = _publisher(log, applied="applied")
    publisher.host.switches.append({"tenant": "t", "version": 2, "after": 5.0})
    out = Outcome()
    out.late.append(decode({"name": "x", "timestamp": 6, "tenant": "t"}))
    asyncio.run(publisher.publish(out))
    assert log == [("send", "applied"), ("flush",), ("send", LATE), ("flush",)]
    assert publisher.host.switches == []


def test_switch_records_that_could_not_be_sent_are_kept_for_the_next_try():
    log: list = []
    publisher, _ = _publisher(log, applied="applied", fail_on="applied")
    publisher.host.switches.append({"tenant": "t", "version": 2, "after": 5.0})
    with pytest.raises(ValueError):
        asyncio.run(publisher.publish(Outcome()))
    assert publisher.host.switches == [{"tenant": "t", "version": 2, "after": 5.0}]


class BufferedTable(Table):
    """Like a snapshot table of the worker (agents/faust_app.py `DeliveredTable`): each write's
    changelog record is sent later, and the producer's flush may return before it is."""

    def __init__(self, log, name):
        super().__init__(log)
        self.name, self.sent = name, []

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        fut = asyncio.get_running_loop().create_future()
        self.sent.append(fut)

        async def deliver():
            await asyncio.sleep(0.05)
            self.log.append(("delivered", self.name, key))
            fut.set_result(None)

        asyncio.get_running_loop().create_task(deliver())

    def take_sent(self):
        sent, self.sent = self.sent, []
        return sent


def test_keys_checkpointed_with_their_tenants_are_on_the_broker_before_them_and_acks_wait_for_both():
    """Keys evaluated beside their tenants (agents/keys_in_place.py): a key is never behind its tenant,
    even when the producer's flush returns before a buffered changelog record is sent."""
    log: list = []
    host = EngineHost(WorkerConfig())
    state, keys = BufferedTable(log, "tenant"), BufferedTable(log, "key")
    publisher = Publisher(lambda: Producer(log), host, Metrics(), engine_in="in", keyed="keyed",
                          verdicts="verdicts", state=state, rates={}, ack=lambda r: log.append(("ack", r.name)))
    out = Outcome()
    out.snapshots += [(keys, '[0,"t","s"]', Record("k"), {"last": 3}), (state, "tenant\x00t", Record("r"), {"offset": 3})]
    out.acks.append(Record("r"))

    async def run():
        await publisher.publish(out)

    asyncio.run(run())
    order = [entry for entry in log if entry[0] != "flush"]
    assert order == [("write", '[0,"t","s"]'), ("delivered", "key", '[0,"t","s"]'), ("write", "tenant\x00t"),
                     ("delivered", "tenant", "tenant\x00t"), ("ack", "r")]
