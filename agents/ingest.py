"""Decoding Kafka messages into events: one event or a JSON array of them per message.

Pure functions, so the dead-letter rules are tested without Kafka. Anything
that is not an event becomes a `DeadLetter` with the reason and where it came from.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goldrush.codegen import glob_matcher
from goldrush.events import Event, InvalidEvent, decode
from goldrush.jsonio import BadJSON, loads

MAX_MESSAGE_BYTES = 1_000_000  # larger messages are dead letters, not parsed


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    code: str
    topic: str
    partition: int
    offset: int
    index: int | None
    original: bytes

    def to_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.original.decode("utf-8")
            encoded = None
        except UnicodeDecodeError:
            text, encoded = None, base64.b64encode(self.original).decode()
        out: dict[str, Any] = {"reason": self.reason, "code": self.code, "topic": self.topic,
                               "partition": self.partition, "offset": self.offset, "index": self.index}
        if text is not None:
            out["original"] = text[:100_000]
        else:
            out["original_base64"] = encoded
        return out


def name_filter(globs: list[str] | None) -> Callable[[str], bool] | None:
    if not globs:
        return None
    matchers = [glob_matcher(g) for g in globs]
    return lambda name: any(m(name) for m in matchers)


def decode_message(value: bytes | None, topic: str, partition: int, offset: int,
                   keep: Callable[[str], bool] | None = None
                   ) -> tuple[list[tuple[int, Event]], list[DeadLetter], int]:
    """((index in the message, event) pairs, dead letters, events filtered out by name) for one message."""
    raw = value or b""

    def dead(code: str, reason: str, index: int | None = None, original: bytes = raw) -> DeadLetter:
        return DeadLetter(reason, code, topic, partition, offset, index, original)

    if len(raw) > MAX_MESSAGE_BYTES:
        return [], [dead("too_large", f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")], 0
    try:
        payload = loads(raw)
    except (BadJSON, RecursionError) as exc:
        return [], [dead("invalid_json", f"not JSON: {exc}")], 0
    items = payload if isinstance(payload, list) else [payload]
    events: list[tuple[int, Event]] = []
    letters: list[DeadLetter] = []
    filtered = 0
    for i, item in enumerate(items):
        index = i if isinstance(payload, list) else None
        try:
            ev = decode(item)
        except InvalidEvent as exc:
            from goldrush.jsonio import dumps_bytes

            letters.append(dead(exc.code, exc.message, index, dumps_bytes(item) if index is not None else raw))
            continue
        if keep is not None and not keep(ev.name):
            filtered += 1
            continue
        events.append((i, ev))
    return events, letters, filtered
