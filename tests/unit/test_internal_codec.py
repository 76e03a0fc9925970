"""The worker's internal encoding gives back exactly what went in."""

from __future__ import annotations

import math

from goldrush.events.codec import pack, unpack


def test_non_finite_floats_and_nested_values_come_back():
    obj = {"data": {"x": math.nan, "y": [math.inf, -math.inf, None, 1.5, True, "s"], "n": {"k": 0}}, "key": ("t", 1)}
    back = unpack(pack(obj))
    assert math.isnan(back["data"]["x"]) and back["data"]["y"][:2] == [math.inf, -math.inf]
    assert back["data"]["y"][2:] == [None, 1.5, True, "s"] and back["data"]["n"] == {"k": 0}
    assert back["key"] == ["t", 1]  # tuples come back as lists, as with JSON


def test_integers_beyond_64_bits_fall_back_to_json():
    big = {"data": {"x": 2**70, "y": math.nan}, "masks": b"\x00\x03"}
    raw = pack(big)
    assert raw.startswith(b"{")
    back = unpack(raw)
    assert back["data"]["x"] == 2**70 and math.isnan(back["data"]["y"])
    assert back["masks"] == [0, 3]  # bytes as a list of ints: the sequencer reads either


def test_json_written_by_earlier_versions_is_read():
    assert unpack(b'{"events": [{"name": "a"}], "positions": [["t", 0, 1, null]]}')["events"] == [{"name": "a"}]
    assert unpack(b"[1, 2]") == [1, 2]
