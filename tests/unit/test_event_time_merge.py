"""The source consumer's merge by event time (agents/event_time_merge.py), without a broker."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from goldrush.agents.event_time_merge import INF, NEG_INF, EventTimeMerge


def _items(partition, times, tenant="t"):
    return [(t, tenant, (partition, tenant, i, t)) for i, t in enumerate(times)]


def _times(released):
    return [item[3] for _, item in released]


def test_a_partition_ahead_waits_for_a_backlogged_one():
    merge = EventTimeMerge()
    merge.add("a", _items("a", [10, 11, 12, 13]))
    # "b" has a backlog and was not read yet: it may carry any tenant, nothing may go.
    assert merge.release({"a", "b"}) == []
    assert merge.held == 4 and merge.waited_for == {"b"}
    merge.add("b", _items("b", [1, 2, 11.5]))
    released = merge.release({"a", "b"})  # bound: b's newest, 11.5
    assert _times(released) == [1, 2, 10, 11, 11.5]
    assert merge.held == 2 and merge.heads("a") == [("a", "t", 2, 12)] and merge.holding("a") == 2
    assert merge.all_heads() == {"a": [("a", "t", 2, 12)]}
    assert merge.release({"b"}) == []  # "a" read to its end; "b" still has a backlog, newest 11.5
    assert merge.waited_for == {"b"}
    assert _times(merge.release(set())) == [12, 13]  # nothing backlogged: all of it
    assert merge.held == 0 and merge.heads("a") == [] and merge.holding("a") == 0


def test_an_idle_partition_holds_nothing_back():
    merge = EventTimeMerge()
    merge.add("a", _items("a", [5, 6]))
    # "c" never got data: it is not backlogged, so it is not waited for.
    assert _times(merge.release(set())) == [5, 6]
    assert merge.bound("t", set()) == INF
    assert merge.bound("t", {"c"}) == NEG_INF  # one with a backlog that was never read holds everything


def test_a_partition_with_a_single_old_event():
    merge = EventTimeMerge()
    merge.add("a", _items("a", [100, 101, 102]))
    assert merge.release({"a", "old"}) == []  # its backlog: one event, not read yet
    merge.add("old", _items("old", [3]))  # read: now it has no backlog left
    assert _times(merge.release({"a"})) == [3, 100, 101, 102]


def test_each_tenant_waits_for_each_partition_as_far_as_that_partition_carried_it():
    merge = EventTimeMerge()
    # The producer batches per tenant: partition "a" gives x's next events, then y's older ones.
    merge.add("a", _items("a", [50, 51], "x") + _items("a", [10, 11], "y"))
    merge.add("b", _items("b", [20], "y") + _items("b", [60], "x"))
    # Both still have a backlog. x: min(51, 60); y: min(11, 20). A partition-wide bound, min(51, 60),
    # would release b's y at 20 while "a" has y's events before 20 still to give.
    assert sorted(_times(merge.release({"a", "b"}))) == [10, 11, 50, 51]
    assert sorted(merge.heads("b")) == [("b", "x", 0, 60), ("b", "y", 0, 20)] and merge.waited_for == {"a"}
    merge.add("a", _items("a", [15], "y"))
    assert _times(merge.release({"a", "b"})) == [15]
    assert sorted(_times(merge.release(set()))) == [20, 60]


def test_a_partition_that_has_not_shown_a_tenant_holds_it_back_as_far_as_it_has_read():
    merge = EventTimeMerge()
    merge.add("a", _items("a", [50], "x"))
    merge.add("b", _items("b", [20], "y"))
    assert _times(merge.release({"a", "b"})) == [20]  # y: min(a read up to 50, 20); x: min(50, b read up to 20)
    assert merge.bound("x", {"a", "b"}) == 20
    merge.add("b", _items("b", [30], "x"))
    assert merge.bound("x", {"a", "b"}) == 30


def test_in_a_topic_partitioned_by_tenant_a_tenant_waits_for_its_own_partition_only():
    # Each tenant lives in one partition: "a" carries x, "b" carries y (as the keys hash).
    merge = EventTimeMerge(carries=lambda p, tenant: {"a": "x", "b": "y"}[p] == tenant)
    merge.add("a", _items("a", [50, 51], "x"))
    merge.add("b", _items("b", [5], "y"))
    # x does not wait for "b", which will never give x; nothing of "b" waits for "a".
    assert sorted(_times(merge.release({"a", "b"}))) == [5, 50, 51]
    # A partition that carries y but has not shown it yet: y waits until it does (its batch comes last).
    merge = EventTimeMerge(carries=lambda p, tenant: p == "a" or tenant == "y")
    merge.add("a", _items("a", [50, 51], "x"))  # "a" carries y too, further on
    merge.add("b", _items("b", [5, 60], "y"))
    assert _times(merge.release({"a", "b"})) == [50, 51]
    assert merge.waited_for == {"a"}
    merge.add("a", _items("a", [3, 4], "y"))
    assert _times(merge.release({"a", "b"})) == [3, 4]  # y's bound: min(4, 60)
    assert _times(merge.release(set())) == [5, 60]


def test_an_item_without_a_time_goes_at_once():
    merge = EventTimeMerge()
    merge.add("a", [(5, "t", "e5"), (None, None, "letter"), (7, "t", "e7")])
    merge.add("b", [(6, "t", "e6")])
    assert sorted(item for _, item in merge.release({"a", "b", "c"})) == ["letter"]  # "c" unread: events wait
    assert [item for _, item in merge.release({"a", "b"})] == ["e5", "e6"]  # bound 6
    assert merge.heads("a") == ["e7"]


def test_ties_between_partitions_keep_a_fixed_order_and_each_lane_keeps_its_own():
    merge = EventTimeMerge()
    merge.add("a", [(1, "t", "a1"), (1, "t", "a2")])
    merge.add("b", [(1, "t", "b1")])
    assert [item for _, item in merge.release(set())] == ["a1", "a2", "b1"]


def test_dropped_partitions_release_nothing_and_stop_holding_others_back():
    merge = EventTimeMerge()
    merge.add("a", _items("a", [1, 2, 3]))
    merge.add("b", _items("b", [10]))
    assert _times(merge.release({"a", "b"})) == [1, 2, 3]
    assert merge.drop(["b"]) == 1
    assert merge.held == 0 and merge.holding("b") == 0 and merge.release(set()) == []
    assert merge.bound("t", {"b"}) == NEG_INF  # reassigned later: waited for again until read


@st.composite
def reads(draw, disorder=0, whole_partitions=False, known=False):
    """Partition streams of (time, tenant, item), and the order in which chunks of them are read.

    whole_partitions: each partition has disorder ≤ `disorder` as a whole, its events spread over
    the tenants at random (Flink's assumption). Else each lane (partition, tenant) has, the lanes of
    a partition are interleaved in any order (as a producer batching per tenant does), and either the
    first read of a partition holds the first event of every tenant it carries, or (known) which
    partitions carry which tenants is known beforehand."""
    partitions = draw(st.integers(1, 4))
    tenants = draw(st.integers(1, 3))

    def timeline(n):
        steps = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
        jitter = draw(st.lists(st.integers(0, disorder), min_size=n, max_size=n))
        clock, times = 0, []
        for step, back in zip(steps, jitter, strict=True):
            clock += step
            times.append(clock - back)
        return times

    streams, firsts = [], []
    for p in range(partitions):
        if whole_partitions:
            times = timeline(draw(st.integers(0, 30)))
            owners = draw(st.lists(st.integers(0, tenants - 1), min_size=len(times), max_size=len(times)))
            lanes = [[t for t, o in zip(times, owners, strict=True) if o == k] for k in range(tenants)]
            order = owners
        else:
            lanes = [timeline(draw(st.integers(0, 12))) if draw(st.booleans()) or not known else []
                     for _ in range(tenants)]
            order = draw(st.permutations([k for k, lane in enumerate(lanes) for _ in lane]))
        at = [0] * tenants
        stream = []
        for k in order:
            t = lanes[k][at[k]]
            stream.append((t, k, (p, k, at[k], t)))
            at[k] += 1
        streams.append(stream)
        firsts.append(max((order.index(k) for k in set(order)), default=-1) + 1)
    left = [len(s) for s in streams]
    plan = []
    while any(left):
        p = draw(st.sampled_from([i for i, n in enumerate(left) if n]))
        least = 1 if whole_partitions or known or left[p] < len(streams[p]) else max(1, firsts[p])
        k = draw(st.integers(least, left[p]))
        plan.append((p, k))
        left[p] -= k
    carried = {(p, k) for p, stream in enumerate(streams) for _, k, _ in stream} if known else None
    return streams, plan, carried


def _run(streams, plan, carried=None):
    merge = EventTimeMerge(None if carried is None else lambda p, k: (p, k) in carried)
    read = [0] * len(streams)
    out = []
    for p, k in plan:
        merge.add(p, streams[p][read[p]:read[p] + k])
        read[p] += k
        backlogged = {q for q, s in enumerate(streams) if read[q] < len(s)}
        out += merge.release(backlogged)
    out += merge.release(set())
    assert merge.held == 0
    return [item for _, item in out]


@settings(max_examples=300, deadline=None)
@given(st.one_of(reads(), reads(known=True)))
def test_any_interleaving_of_time_ordered_lanes_is_released_in_time_order_per_tenant(case):
    """The issue's property, per tenant: lanes in time order, read in any order, come out in time order."""
    streams, plan, carried = case
    released = _run(streams, plan, carried)
    assert sorted(released) == sorted(item for s in streams for _, _, item in s)  # each exactly once
    for tenant in {item[1] for item in released}:
        times = [t for _, k, _, t in released if k == tenant]
        assert times == sorted(times)
        for p in range(len(streams)):  # and each lane in its own order
            assert [i for q, k, i, _ in released if (q, k) == (p, tenant)] == sorted(
                i for q, k, i, _ in released if (q, k) == (p, tenant))


@settings(max_examples=300, deadline=None)
@given(st.one_of(reads(disorder=3), reads(disorder=3, known=True), reads(disorder=3, whole_partitions=True)))
def test_lanes_with_disorder_d_give_each_tenant_a_stream_with_disorder_d(case):
    """What the reorder buffer needs: with d ≤ the allowed lateness, no event is late."""
    streams, plan, carried = case
    newest: dict = {}
    for _, tenant, _, t in _run(streams, plan, carried):
        assert t >= newest.get(tenant, NEG_INF) - 3
        newest[tenant] = max(newest.get(tenant, NEG_INF), t)


@settings(max_examples=200, deadline=None)
@given(reads(disorder=0, whole_partitions=True))
def test_time_ordered_partitions_give_each_tenant_a_time_ordered_stream(case):
    streams, plan, _ = case
    released = _run(streams, plan)
    for tenant in {item[1] for item in released}:
        times = [t for _, k, _, t in released if k == tenant]
        assert times == sorted(times)
