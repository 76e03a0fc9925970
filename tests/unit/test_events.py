"""SEMANTICS §1: decoding envelopes, and rejecting what is not an event."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from goldrush import Envelope, InvalidEvent, decode, replay
from goldrush.events.envelope import derive_id


def test_minimal_envelope_gets_defaults():
    ev = decode({"name": "vsm_core.variety.calculated", "timestamp": 10})
    assert (ev.name, ev.timestamp, ev.tenant, ev.source, ev.subsystem, ev.data) == (
        "vsm_core.variety.calculated", 10.0, "default", None, None, {})
    assert isinstance(ev.timestamp, float)


def test_name_list_is_joined_with_dots():
    assert decode({"name": ["vsm_core", "variety", "calculated"], "timestamp": 1}).name == (
        "vsm_core.variety.calculated")


@pytest.mark.parametrize("text, expected", [
    ("2024-01-01T00:00:00", 1704067200.0),
    ("2024-01-01 00:00:00", 1704067200.0),
    ("2024-01-01T00:00:00Z", 1704067200.0),
    ("2024-01-01T01:00:00+01:00", 1704067200.0),
    ("2024-01-01T00:00:00.250", 1704067200.25),
])
def test_iso_timestamps_no_offset_means_utc(text, expected):
    assert decode({"name": "x", "timestamp": text}).timestamp == expected


def test_tenant_defaults_also_for_null():
    assert decode({"name": "x", "timestamp": 1, "tenant": None}).tenant == "default"


@pytest.mark.parametrize("obj, code", [
    ([1, 2], "not_object"),
    ("text", "not_object"),
    (None, "not_object"),
    ({"timestamp": 1}, "missing_name"),
    ({"name": "", "timestamp": 1}, "bad_name"),
    ({"name": 5, "timestamp": 1}, "bad_name"),
    ({"name": ["a", 1], "timestamp": 1}, "bad_name"),
    ({"name": "x"}, "missing_timestamp"),
    ({"name": "x", "timestamp": True}, "bad_timestamp"),
    ({"name": "x", "timestamp": "yesterday"}, "bad_timestamp"),
    ({"name": "x", "timestamp": math.nan}, "bad_timestamp"),
    ({"name": "x", "timestamp": math.inf}, "bad_timestamp"),
    ({"name": "x", "timestamp": [1]}, "bad_timestamp"),
    ({"name": "x", "timestamp": 1, "data": [1]}, "bad_data"),
    ({"name": "x", "timestamp": 1, "data": "s"}, "bad_data"),
    ({"name": "x", "timestamp": 1, "data": None}, "bad_data"),
    ({"name": "x", "timestamp": 1, "tenant": 7}, "bad_tenant"),
])
def test_rejections_carry_a_code_and_a_reason(obj, code):
    with pytest.raises(InvalidEvent) as err:
        decode(obj)
    assert err.value.code == code
    assert err.value.message


def test_reason_names_the_field():
    with pytest.raises(InvalidEvent, match="'data' must be an object, got array"):
        decode({"name": "x", "timestamp": 1, "data": []})
    with pytest.raises(InvalidEvent, match="'timestamp'"):
        decode({"name": "x", "timestamp": "soon"})


def test_event_sourcing_form():
    ev = decode({"type": "AlgedonicSignalEmitted", "subsystem": "algedonic_channel",
                 "data": {"severity": "high"}, "metadata": {"timestamp": 5, "version": 1}})
    assert (ev.name, ev.timestamp, ev.subsystem, ev.data) == (
        "AlgedonicSignalEmitted", 5.0, "algedonic_channel", {"severity": "high"})


def test_top_level_keys_win_over_event_sourcing_keys():
    ev = decode({"type": "T", "name": "N", "timestamp": 9, "tenant": "a", "id": "i1",
                 "metadata": {"timestamp": 1, "tenant": "b", "id": "i2"}})
    assert (ev.name, ev.timestamp, ev.tenant, ev.id) == ("N", 9.0, "a", "i1")
    ev = decode({"type": "T", "metadata": {"timestamp": 1, "tenant": "b", "id": "i2"}})
    assert (ev.name, ev.timestamp, ev.tenant, ev.id) == ("T", 1.0, "b", "i2")


def test_unknown_top_level_keys_are_ignored():
    assert decode({"name": "x", "timestamp": 1, "whatever": {"deep": 1}}).name == "x"


def test_derived_id_is_deterministic_and_key_order_free():
    a = decode({"name": "x", "timestamp": 1, "data": {"a": 1, "b": 2}})
    b = decode({"data": {"b": 2, "a": 1}, "timestamp": 1, "name": "x"})
    assert a.id == b.id
    assert a.id == derive_id({"name": "x", "timestamp": 1, "data": {"a": 1, "b": 2}})
    assert decode({"name": "x", "timestamp": 2}).id != decode({"name": "x", "timestamp": 1}).id


def test_given_id_is_kept():
    assert decode({"name": "x", "timestamp": 1, "id": "abc"}).id == "abc"


def test_pydantic_envelope_follows_the_same_contract():
    env = Envelope.model_validate({"type": "T", "metadata": {"timestamp": "2024-01-01T00:00:00"}})
    assert env.name == "T" and env.timestamp == 1704067200.0 and env.tenant == "default"
    with pytest.raises(ValidationError, match="'data' must be an object"):
        Envelope.model_validate({"name": "x", "timestamp": 1, "data": 3})
    assert env.to_event().name == "T"


def test_replay_reports_rejections_and_never_raises():
    result = replay([], [{"name": "x", "timestamp": 1}, 17, {"name": "x"}, {"name": "y", "timestamp": "z"}])
    assert [(r.index, r.code) for r in result.rejected] == [
        (1, "not_object"), (2, "missing_timestamp"), (3, "bad_timestamp")]
    assert result.events == 4
    assert result.rejected[1].input == {"name": "x"}


def test_replay_accepts_envelope_models():
    from goldrush import Pattern, recent

    env = Envelope(name="x", timestamp=1, id="e1")
    (m,) = replay([Pattern("p", recent("x"))], [env])
    assert m.event_ids == ["e1"]
