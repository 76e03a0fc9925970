"""A match: the fact that a pattern held for a key at an event (SEMANTICS §6)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from goldrush.events.envelope import canonical_json


def match_id(pattern: str, key: dict[str, Any], timestamp: float, event_ids: list[str]) -> str:
    """Deterministic: the same input gives the same id on any worker, after any restart."""
    text = canonical_json([pattern, key, repr(float(timestamp)), event_ids])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Match:
    pattern: str
    tenant: str
    key: dict[str, Any]
    timestamp: float
    event_ids: list[str]
    match_id: str = field(default="")
    #: the pattern-set version that produced the match (docs/semantics.md, "Changing the pattern set");
    #: None when patterns come from a file. Not part of `match_id`: the same match under two versions is one.
    pattern_set_version: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.match_id:
            object.__setattr__(self, "match_id",
                               match_id(self.pattern, self.key, self.timestamp, self.event_ids))

    def to_dict(self) -> dict[str, Any]:
        d = {
            "pattern": self.pattern,
            "tenant": self.tenant,
            "key": dict(self.key),
            "timestamp": self.timestamp,
            "event_ids": list(self.event_ids),
            "match_id": self.match_id,
        }
        if self.pattern_set_version is not None:
            d["pattern_set_version"] = self.pattern_set_version
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Match:
        return cls(d["pattern"], d["tenant"], dict(d["key"]), float(d["timestamp"]),
                   list(d["event_ids"]), d.get("match_id", ""), d.get("pattern_set_version"))


def match_schema() -> dict[str, Any]:
    """JSON schema of `Match.to_dict()` (records on goldrush.matches)."""
    return {
        "title": "goldrush match",
        "type": "object",
        "required": ["pattern", "tenant", "key", "timestamp", "event_ids", "match_id"],
        "properties": {
            "pattern": {"type": "string"},
            "tenant": {"type": "string"},
            "key": {"type": "object", "description": "tenant and the pattern's key_by fields"},
            "timestamp": {"type": "number", "description": "event time of the match, epoch seconds"},
            "event_ids": {"type": "array", "items": {"type": "string"},
                          "description": "the sequence occurrence's ids in order, else the triggering event"},
            "match_id": {"type": "string", "description": "deterministic: same input, same id"},
            "pattern_set_version": {"type": "integer", "description": (
                "the pattern-set version that produced it (workers following goldrush.patterns)")},
        },
    }
