"""The rules that let the tenant stage take events where they are read (agents/in_place.py):
barriers per generation, waiting inputs, source records held until a snapshot covers them,
and a rewind of the sources when state they built is dropped."""

from __future__ import annotations

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from goldrush.agents.config import WorkerConfig
from goldrush.agents.in_place import InPlaceInput, Receipts, Router, Where, in_place_holds
from goldrush.agents.messages import read_engine_in
from goldrush.agents.source_consumer import SourceConsumer
from goldrush.events.envelope import decode


def _input(router: Router, receipts: Receipts, tenant: str, offset: int) -> InPlaceInput:
    ev = decode({"name": "a", "timestamp": 1.0, "tenant": tenant})
    held = receipts.hold([("src", 0, offset)])
    return InPlaceInput(tenant, Where("engine-in", router.partition(tenant), None), [ev], [["src", 0, offset, [0]]],
                        held, receipts)


def test_a_partition_goes_in_place_only_when_this_generations_barrier_passes():
    owned = {0, 1}
    router = Router(2, lambda: owned)
    barriers = dict(router.refresh())
    assert sorted(barriers) == [0, 1] and router.ready == set()
    token = read_engine_in(barriers[0]).barrier
    assert router.refresh() == []  # pending: not sent twice
    router.reset()  # a rebalance between sending and reading it
    assert router.passed(0, token) == [] and router.ready == set()
    again = dict(router.refresh())
    router.passed(0, read_engine_in(again[0]).barrier)
    assert router.ready == {0}
    owned = {1}  # partition 0 moved away: nothing is in place until a new barrier passes
    router.refresh()
    assert router.ready == set()


def test_inputs_wait_for_their_barrier_and_come_out_behind_it_in_order():
    router, receipts = Router(1, lambda: {0}), Receipts()
    barrier = read_engine_in(router.refresh()[0][1]).barrier
    assert router.here("t")  # pending: handed on in place, to wait
    first, second = _input(router, receipts, "t", 0), _input(router, receipts, "t", 1)
    assert router.evaluate_now([first]) == [] and router.evaluate_now([second]) == []
    assert router.passed(0, barrier) == [first, second]
    third = _input(router, receipts, "t", 2)
    assert router.evaluate_now([third]) == [third]


def test_inputs_waiting_when_the_assignment_changes_are_dropped_to_be_read_again():
    router, receipts = Router(1, lambda: {0}), Receipts()
    router.refresh()
    waiting = _input(router, receipts, "t", 7)
    router.evaluate_now([waiting])
    router.reset()
    assert router.take_dropped() == [waiting] and router.take_dropped() == []
    assert in_place_holds([waiting, object()]) == [("src", 0, 7, 0)]


def test_a_source_record_is_held_until_every_input_carrying_it_is_acked():
    receipts = Receipts()
    a = receipts.hold([("src", 0, 5), ("src", 0, 6)])
    b = receipts.hold([("src", 0, 6)])
    assert receipts.first("src", 0) == 5
    receipts.release(a)
    assert receipts.first("src", 0) == 6  # b still holds offset 6
    receipts.release(b)
    assert receipts.first("src", 0) is None


@given(st.lists(st.one_of(st.tuples(st.just("hold"), st.lists(st.integers(0, 30), max_size=4)),
                          st.tuples(st.just("release"), st.integers(0, 50)),
                          st.tuples(st.just("drop"), st.none())), max_size=60))
def test_the_first_held_record_is_the_lowest_offset_any_holder_still_holds(steps):
    """Any order of holds (one record carries several tenants: offsets come back), releases and drops."""
    receipts = Receipts()
    made: list = []  # per hold: what it holds now in the model (emptied once released or dropped)
    handles: list = []
    for op, arg in steps:
        if op == "hold":
            handles.append(receipts.hold([("src", 0, offset) for offset in arg]))
            made.append(list(arg))
        elif op == "release" and handles:
            index = arg % len(handles)
            receipts.release(handles[index])
            handles[index], made[index] = [], []  # an input is acked once
        elif op == "drop":
            receipts.drop([("src", 0)])
            made = [[] for _ in made]  # voided: a later release of them releases nothing
        assert receipts.first("src", 0) == min((o for offsets in made for o in offsets), default=None)


def test_an_ack_from_before_a_drop_releases_nothing_held_since():
    receipts = Receipts()
    old = receipts.hold([("src", 0, 5)])
    receipts.drop([("src", 0)])  # rebalance: the offsets are read again and held anew
    receipts.hold([("src", 0, 5)])
    receipts.release(old)
    assert receipts.first("src", 0) == 5


class FakeConsumer:
    def __init__(self, assigned):
        self.assigned, self.seeks = assigned, {}

    def assignment(self):
        return self.assigned

    def seek(self, tp, offset):
        self.seeks[tp] = offset


def test_rewind_reads_a_partition_again_from_its_first_uncovered_record():
    sources = SourceConsumer(WorkerConfig())
    tp, other = TopicPartition("src", 0), TopicPartition("src", 1)
    sources.consumer = FakeConsumer({tp})
    holds = sources.receipts.hold([("src", 0, 9), ("src", 0, 4), ("src", 1, 3)])
    stale = [("src", 0, 1, 99)]  # from an earlier epoch: ignored
    sources.rewind(holds + stale)
    assert sources.consumer.seeks == {tp: 4}  # partition 1 is no longer assigned here: its new owner reads it
    assert other not in sources.consumer.seeks
    assert sources.receipts.first("src", 0) is None and sources.receipts.first("src", 1) is None


def test_ingest_stops_reading_while_too_many_events_wait_for_a_barrier(monkeypatch):
    import asyncio

    from goldrush.agents import source_batches
    from goldrush.agents.metrics import Metrics
    from goldrush.agents.source_batches import SourceBatches
    from goldrush.agents.stages.outcome import Outcome

    monkeypatch.setattr(source_batches, "MAX_WAITING", 1)
    router, receipts = Router(1, lambda: {0}), Receipts()
    barrier = read_engine_in(router.refresh()[0][1]).barrier
    inputs = [_input(router, receipts, "t", 0), _input(router, receipts, "t", 1)]

    class Ingest:
        def handle(self, pieces):
            out = Outcome()
            out.in_place = list(inputs)
            return out

    class Publisher:
        async def forward(self, outcome):
            pass

    async def run():
        call = asyncio.create_task(SourceBatches(Ingest(), None, Publisher(), router, Metrics(), lambda holds: None)([]))
        await asyncio.sleep(0.05)
        blocked = not call.done()
        assert router.passed(0, barrier) == inputs  # the tenant stage read the barrier
        await asyncio.wait_for(call, 1)
        return blocked

    assert asyncio.run(run())


def test_partitions_read_to_the_end_go_in_place_at_once_the_others_wait_for_a_barrier():
    import asyncio

    owned = {0, 1}
    router = Router(2, lambda: owned)
    asked = []

    async def drained(partitions):
        asked.append(set(partitions))
        return {0}  # partition 1 still has engine-in records to read

    asyncio.run(router.follow(drained))
    assert router.ready == {0}
    assert [p for p, _ in router.refresh()] == [1]  # a barrier for the other only
    asyncio.run(router.follow(drained))
    assert asked == [{0, 1}]  # the same assignment is not asked about again
    router.reset()  # a rebalance: asked afresh
    asyncio.run(router.follow(drained))
    assert asked == [{0, 1}, {0, 1}] and router.ready == {0}


def test_the_first_batch_of_an_assignment_is_not_dropped_and_read_again():
    """The router follows a new assignment inside ingest's `handle`: its inputs belong to the
    generation that starts there, not to the one before (all sources were read twice)."""
    import asyncio

    from goldrush.agents.metrics import Metrics
    from goldrush.agents.source_batches import SourceBatches
    from goldrush.agents.stages.outcome import Outcome

    router, receipts = Router(1, lambda: {0}), Receipts()
    rewound = []

    class Ingest:
        def handle(self, pieces):
            out = Outcome()
            out.barriers = router.refresh()
            out.in_place = [_input(router, receipts, "t", 0)]
            return out

    class Publisher:
        async def forward(self, outcome):
            pass

    asyncio.run(SourceBatches(Ingest(), None, Publisher(), router, Metrics(), rewound.append)([]))
    assert rewound == [] and router.waiting_events == 1  # waits for its barrier, not read again
