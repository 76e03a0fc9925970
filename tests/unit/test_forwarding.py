"""Internal messages between the stages: rows, runs of source positions, chunking, re-delivery."""

from __future__ import annotations

import math

from goldrush.agents.config import WorkerConfig
from goldrush.agents.forwarding import MAX_INTERNAL_BYTES, engine_in_message, packed_chunks
from goldrush.agents.host import EngineHost
from goldrush.agents.messages import read_engine_in
from goldrush.events.codec import from_row, pack, to_row, unpack
from goldrush.events.envelope import decode


def _event(i: int, **data):
    return decode({"name": "vsm_core.system1.operation", "timestamp": float(i), "tenant": "t1",
                   "source": f"svc{i % 2}", "data": {"i": i, **data}})


def _sourced(events, topic="vsm.events", partition=0, offset=7):
    return [(to_row(ev), topic, partition, offset, index) for index, ev in enumerate(events)]


def test_a_row_gives_back_the_event_with_its_derived_id_and_exact_values():
    ev = _event(1, x=math.nan, y=math.inf)
    back = from_row("t1", unpack(pack(to_row(ev))))
    assert back.id == ev.id  # derived once, from the input, and carried
    assert (back.name, back.timestamp, back.tenant, back.source, back.subsystem) == \
        (ev.name, ev.timestamp, ev.tenant, ev.source, ev.subsystem)
    assert math.isnan(back.data["x"]) and back.data["y"] == math.inf and back.data["i"] == 1


def test_an_envelope_dict_from_an_earlier_version_is_decoded():
    ev = _event(2)
    back = from_row("ignored", ev.to_dict())
    assert back.to_dict() == ev.to_dict()


def test_runs_group_consecutive_events_of_one_source_message():
    a, b = _sourced([_event(0), _event(1)], offset=3), _sourced([_event(2)], offset=4)
    other = _sourced([_event(3)], topic="vsm-system1-operations", offset=3)
    message = engine_in_message([*a, *other, *b])
    assert message.runs == [["vsm.events", 0, 3, [0, 1]], ["vsm-system1-operations", 0, 3, [0]],
                               ["vsm.events", 0, 4, [0]]]
    assert len(message.rows) == 4


def test_fresh_skips_exactly_what_was_applied_before():
    host = EngineHost(WorkerConfig())
    events = [_event(i) for i in range(6)]
    first = read_engine_in(engine_in_message(_sourced(events[:4], offset=10)).to_bytes())
    assert [e.id for e in host.fresh("t1", first)] == [e.id for e in events[:4]]
    assert host.fresh("t1", first) == []  # re-delivered after a restart
    # The same source message again, now with two more of its events (indexes 4, 5) after two seen ones.
    overlap = engine_in_message(_sourced(events, offset=10)[2:])
    assert [e.id for e in host.fresh("t1", read_engine_in(overlap.to_bytes()))] == [e.id for e in events[4:]]
    # Another partition of the source has positions of its own.
    elsewhere = engine_in_message(_sourced(events[:1], partition=1, offset=0))
    assert [e.id for e in host.fresh("t1", elsewhere)] == [events[0].id]


def test_fresh_reads_the_per_event_positions_of_an_earlier_version():
    host = EngineHost(WorkerConfig())
    events = [_event(i) for i in range(3)]
    old = {"events": [e.to_dict() for e in events], "positions": [["vsm.events", 0, 5, i] for i in range(3)]}
    assert [e.id for e in host.fresh("t1", read_engine_in(pack(old)))] == [e.id for e in events]
    assert host.fresh("t1", engine_in_message(_sourced(events, offset=5))) == []


def test_chunks_are_cut_by_size_so_that_the_producer_accepts_them():
    big = [_event(i, blob="x" * 400_000) for i in range(4)]
    chunks = packed_chunks(_sourced(big), engine_in_message)
    assert [len(chunk) for chunk, _ in chunks] == [2, 2]
    assert all(len(data) <= MAX_INTERNAL_BYTES for _, data in chunks)
    assert [row for chunk, _ in chunks for row, *_ in chunk] == [to_row(e) for e in big]
