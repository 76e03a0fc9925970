"""The source consumer's side of the merge, without a broker: decoding into the merge, pieces, keyed topics."""

from __future__ import annotations

import json
from collections import namedtuple

from aiokafka import TopicPartition
from aiokafka.partitioner import murmur2

from goldrush.agents.config import WorkerConfig
from goldrush.agents.source_consumer import SourceConsumer

Record = namedtuple("Record", "topic partition offset key value")


class _Metadata:
    def partitions_for_topic(self, topic):
        return {0, 1}


def _partition_of(tenant: str) -> int:
    return (murmur2(tenant.encode()) & 0x7FFFFFFF) % 2


def _record(partition, offset, events, key=None):
    return Record("t", partition, offset, key, json.dumps(events).encode())


def _source() -> SourceConsumer:
    source = SourceConsumer(WorkerConfig(broker="127.0.0.1:1", max_future=None))
    source.consumer = _Metadata()  # type: ignore[assignment]
    return source


def test_a_record_is_handed_on_in_pieces_with_its_dead_letters_first():
    source = _source()
    record = _record(0, 7, [{"name": "a", "timestamp": 1}, {"nope": 1}, {"name": "b", "timestamp": 5, "tenant": "u"}])
    tp = TopicPartition("t", 0)
    source.merge.add(tp, source._decoded([record], None))
    pieces = source._pieces(source.merge.release(set()))
    # Released together: one piece, with the record's dead letter and both tenants' events.
    assert [(p.offset, sorted(i for i, _ in p.decoded[0]), [d.index for d in p.decoded[1]]) for p in pieces] == \
        [(7, [0, 2], [1])]
    assert source.merge.heads(tp) == []


def test_a_record_released_in_two_merges_comes_as_two_pieces():
    source = _source()
    tp, other = TopicPartition("t", 0), TopicPartition("t", 1)
    record = _record(0, 7, [{"name": "a", "timestamp": 1, "tenant": "x"}, {"name": "a", "timestamp": 9, "tenant": "x"}])
    source.merge.add(tp, source._decoded([record], None))
    source.merge.add(other, source._decoded([_record(1, 0, [{"name": "a", "timestamp": 5, "tenant": "x"}])], None))
    first = source._pieces(source.merge.release({other}))
    assert [(p.partition, [i for i, _ in p.decoded[0]]) for p in first] == [(0, [0]), (1, [0])]
    assert [item[0].offset for item in source.merge.heads(tp)] == [7]  # not committed past: 9 is held
    second = source._pieces(source.merge.release(set()))
    assert [(p.partition, p.offset, [i for i, _ in p.decoded[0]]) for p in second] == [(0, 7, [1])]


def test_held_records_are_not_committed_past():
    source = _source()
    tp = TopicPartition("t", 0)
    source.merge.add(tp, source._decoded([_record(0, 3, [{"name": "a", "timestamp": 1, "tenant": "x"}]),
                                          _record(0, 4, [{"name": "a", "timestamp": 9, "tenant": "y"}])], None))
    other = TopicPartition("t", 1)
    source.merge.add(other, source._decoded([_record(1, 0, [{"name": "a", "timestamp": 5, "tenant": "y"}])], None))
    released = source.merge.release({other})  # "t"/1 still has a backlog: y's 9 waits, x's 1 does not
    assert [p.offset for p in source._pieces(released)] == [3, 0]
    assert [item[0].offset for item in source.merge.heads(tp)] == [4]  # the offset to commit for tp


def test_a_topic_keyed_by_tenant_tells_which_partition_carries_a_tenant():
    source = _source()
    tenants = [f"tenant-{i:04d}" for i in range(8)]
    first = next(t for t in tenants if _partition_of(t) == 0)
    other = next(t for t in tenants if _partition_of(t) == 1)
    source._decoded([_record(0, 0, [{"name": "a", "timestamp": 1, "tenant": first}], key=first.encode())], None)
    assert source._carries(TopicPartition("t", 0), first) is True
    assert source._carries(TopicPartition("t", 0), other) is False
    assert source._carries(TopicPartition("t", 1), other) is True
    # One record keyed otherwise (here: by nothing) and the topic is not known to be partitioned by tenant.
    source._decoded([_record(1, 0, [{"name": "a", "timestamp": 1, "tenant": other}])], None)
    assert source._carries(TopicPartition("t", 1), other) is None
    source._decoded([_record(0, 1, [{"name": "a", "timestamp": 1, "tenant": first}], key=first.encode())], None)
    assert source._carries(TopicPartition("t", 0), first) is None  # for good


def test_a_record_in_the_wrong_partition_for_its_key_means_another_partitioner():
    source = _source()
    tenant = "tenant-0000"
    wrong = 1 - _partition_of(tenant)
    source._decoded([_record(wrong, 0, [{"name": "a", "timestamp": 1, "tenant": tenant}], key=tenant.encode())], None)
    assert source._carries(TopicPartition("t", wrong), tenant) is None
