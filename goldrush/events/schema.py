"""`goldrush schema events`: the JSON schema of what producers may send (SEMANTICS §1).

`Envelope`'s own schema describes the decoded form (timestamp a float, name a string); a
producer may also send an ISO 8601 timestamp, a name as a list of parts, a null tenant, or
the seed's event-sourcing form. This schema says so, so that it accepts what the decoder does.
"""

from __future__ import annotations

from typing import Any

from goldrush.events.envelope import Envelope

TIMESTAMP = {
    "description": "event time: seconds since the epoch (a number, not a boolean), or an ISO 8601 "
                   "string ('T' or a space between date and time; no offset means UTC)",
    "anyOf": [
        {"type": "number", "examples": [1767225604.95]},
        {"type": "string", "examples": ["2026-01-01T00:00:04.950Z", "2026-01-01 00:00:04"]},
    ],
}
NAME = {
    "description": "dotted event name, e.g. vsm_core.variety.calculated; a list of strings is joined with '.'",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
}
SEED_FORM = {
    "title": "seed event-sourcing form",
    "description": "name = type, timestamp = metadata.timestamp (top-level name, timestamp, tenant and id win)",
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": {"type": "string", "examples": ["AlgedonicSignalEmitted"]},
        "subsystem": {"type": "string"},
        "data": {"type": "object"},
        "metadata": {"type": "object", "required": ["timestamp"], "properties": {"timestamp": TIMESTAMP}},
    },
}


def event_input_schema() -> dict[str, Any]:
    doc = Envelope.model_json_schema()
    props = doc["properties"]
    props["timestamp"] = {"title": "Timestamp", **TIMESTAMP}
    props["name"] = {"title": "Name", **NAME}
    props["tenant"] = {"title": "Tenant", "default": "default", "anyOf": [{"type": "string"}, {"type": "null"}],
                       "description": "owner of the event; null means 'default'"}
    props["data"]["description"] = "the event's fields (an object; nested objects allowed)"
    envelope = {key: doc[key] for key in ("properties", "required", "type") if key in doc}
    envelope["title"] = "goldrush event"
    return {
        "title": "goldrush event (as producers send it)",
        "description": "One JSON object per event, or a JSON array of them per Kafka message. Unknown "
                       "top-level keys are ignored.",
        "anyOf": [envelope, SEED_FORM],
    }
