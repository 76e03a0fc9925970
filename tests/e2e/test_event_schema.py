"""`goldrush schema events` accepts what the decoder accepts: both timestamp forms, list names,
the seed's event-sourcing form (it said `timestamp` was a number only)."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from goldrush.events.envelope import InvalidEvent, decode

ACCEPTED = [
    {"name": "vsm.x", "timestamp": 1767225604.95},
    {"name": "vsm.x", "timestamp": "2026-01-01T00:00:04.950Z", "tenant": "acme"},
    {"name": "vsm.x", "timestamp": "2026-01-01 00:00:04", "tenant": None, "data": {"a": {"b": 1}}},
    {"name": ["vsm_core", "variety", "calculated"], "timestamp": 5},
    {"type": "AlgedonicSignalEmitted", "subsystem": "algedonic_channel", "data": {},
     "metadata": {"timestamp": "2026-01-01T00:00:00Z", "version": 1}},
]
REFUSED = [
    {"timestamp": 1},
    {"name": "vsm.x"},
    {"name": "vsm.x", "timestamp": True},
    {"name": "vsm.x", "timestamp": 1, "data": [1]},
]


@pytest.fixture(scope="module")
def schema() -> dict:
    out = subprocess.run([sys.executable, "-m", "goldrush", "schema", "events", "--json"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return json.loads(out)["envelope"]


@pytest.mark.parametrize("event", ACCEPTED)
def test_what_the_decoder_accepts_the_schema_accepts(schema, event):
    decode(event)
    jsonschema.validate(event, schema)


@pytest.mark.parametrize("event", REFUSED)
def test_what_the_schema_refuses_the_decoder_refuses(schema, event):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema)
    with pytest.raises(InvalidEvent):
        decode(event)
