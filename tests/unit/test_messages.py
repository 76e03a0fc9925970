"""Internal messages: typed, versioned, read by version number; what is not one is refused clearly."""

from __future__ import annotations

import pytest

from goldrush.agents.messages import (
    VERSION,
    EngineIn,
    Keyed,
    Progress,
    UnreadableMessage,
    Verdicts,
    read_engine_in,
    read_keyed,
    read_verdicts,
)
from goldrush.events.codec import pack, unpack


def test_each_message_comes_back_as_it_went_and_carries_its_version():
    messages = [(EngineIn([["r"]], [["t", 0, 1, [0]]]), read_engine_in),
                (Keyed(["service"], ["t1", "svc"], [[3, ["r"]]]), read_keyed),
                (Progress("t1", 7, 12.5), read_keyed),
                (Verdicts("t1", ["service"], [[3, []]]), read_verdicts)]
    for message, read in messages:
        data = message.to_bytes()
        assert unpack(data)["v"] == VERSION
        back = read(data)
        assert type(back) is type(message)
        assert back == type(message)(*[list(f) if isinstance(f, tuple) else f for f in
                                       (getattr(message, n) for n in message.__slots__)])


def test_version_1_messages_are_read_by_the_version_1_reader():
    assert read_engine_in(pack({"rows": [["r"]], "runs": [["t", 0, 1, [0]]]})) == EngineIn([["r"]], [["t", 0, 1, [0]]])
    first = read_engine_in(pack({"events": [{"name": "a"}], "positions": [["t", 0, 5, 2]]}))
    assert first.runs == [["t", 0, 5, [2]]]
    progress = {"key_by": [], "key": ["t1"], "events": [], "progress": [4, 1.5]}
    assert read_keyed(pack(progress)) == Progress("t1", 4, 1.5)
    assert read_keyed(pack({"key_by": ["s"], "key": ["t1", "x"], "events": []})) == Keyed(["s"], ["t1", "x"], [])
    assert read_verdicts(pack({"tenant": "t1", "key_by": ["s"], "done": []})) == Verdicts("t1", ["s"], [])


def test_a_version_2_progress_note_still_reads_as_an_empty_keyed_message_in_version_1s_shape():
    msg = unpack(Progress("t1", 4, 1.5).to_bytes())  # what a worker of the previous release reads
    assert msg["key_by"] == [] and msg["events"] == [] and "progress" in msg


@pytest.mark.parametrize("data, words", [
    (pack({"v": VERSION + 1, "type": "engine_in", "rows": [], "runs": []}), "newer"),
    (pack({"v": "2", "rows": [], "runs": []}), "version"),
    (pack([1, 2]), "not a map"),
    (b"\xc1garbage", "MessagePack"),
    (pack({"v": 2, "type": "keyed", "rows": [], "runs": []}), "'engine_in'"),
    (pack({"v": 2, "type": "engine_in", "rows": "x", "runs": []}), "'rows'"),
])
def test_what_is_not_a_readable_engine_in_message_is_refused_with_the_reason(data, words):
    with pytest.raises(UnreadableMessage, match=words):
        read_engine_in(data)


def test_verdicts_need_a_tenant_name():
    with pytest.raises(UnreadableMessage, match="tenant"):
        read_verdicts(pack({"v": 2, "type": "verdicts", "tenant": 5, "key_by": [], "done": []}))


def test_a_keyed_message_carries_its_pattern_set_version_within_format_version_2():
    """Optional, so no new format version: a reader of the previous release (which knows version 2)
    reads the message by its fields and ignores it; one without it reads as version None here."""
    stamped = Keyed(["source"], ["t1", "svc"], [[3, ["r"]]], 7)
    msg = unpack(stamped.to_bytes())
    assert msg["v"] == VERSION == 2 and msg["type"] == "keyed" and msg["pattern_set"] == 7
    assert {k: msg[k] for k in ("key_by", "key", "events")} == {"key_by": ["source"], "key": ["t1", "svc"],
                                                               "events": [[3, ["r"]]]}
    assert read_keyed(stamped.to_bytes()).version == 7
    assert "pattern_set" not in unpack(Keyed(["source"], ["t1"], []).to_bytes())
    assert read_keyed(Keyed(["source"], ["t1"], []).to_bytes()).version is None
    with pytest.raises(UnreadableMessage, match="pattern_set"):
        read_keyed(pack({**msg, "pattern_set": "7"}))
