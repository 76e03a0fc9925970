"""The decoder against arbitrary bytes and arbitrary JSON: it never raises, accounts for every
item, and everything it lets through can travel the worker's internal hops (issue #16)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldrush.agents.ingest import decode_message
from goldrush.events.codec import dumps_bytes, pack, to_row
from goldrush.events.envelope import InvalidEvent, decode

MAX_LETTER = 1_000_000  # the producer's limit

scalars = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30), st.text(max_size=20),
    st.sampled_from(["\ud800", "x\udfff", "buffered\x00t", "é" * 70, "1767225600", "2026-01-01T00:00:00"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
envelope_keys = st.sampled_from(["name", "timestamp", "tenant", "source", "subsystem", "id", "data", "type",
                                 "metadata"])
envelopes = st.dictionaries(envelope_keys, values, max_size=8)


def check_message(raw: bytes) -> None:
    events, letters, filtered = decode_message(raw, "vsm.events", 0, 7, future_limit=2e9)
    for _, ev in events:
        pack([ev.tenant, to_row(ev)])  # the engine-in hop
        dumps_bytes(ev.to_dict())  # a late event or a dead letter of it
        assert len(ev.tenant.encode()) <= 256
    for letter in letters:
        assert len(dumps_bytes(letter.to_dict())) < MAX_LETTER
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        assert not events and len(letters) == 1
        return
    items = len(payload) if isinstance(payload, list) else 1
    assert len(events) + len(letters) + filtered == items or (len(letters) == 1 and letters[0].index is None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw):
    check_message(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(envelopes, st.lists(envelopes, max_size=5), values))
def test_arbitrary_json_never_raises_and_every_item_is_accounted_for(obj):
    check_message(json.dumps(obj).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes)
def test_decode_raises_only_invalid_event(obj):
    try:
        decode(obj, 2e9, True)
    except InvalidEvent as exc:
        assert exc.code and exc.message
