"""Decoding Kafka messages into events: one event or a JSON array of them per message.

Pure functions, so the dead-letter rules are tested without Kafka. Anything
that is not an event becomes a `DeadLetter` with the reason and where it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from goldrush.compiler.runtime import glob_matcher
from goldrush.events.codec import BadJSON, bounded_original, dumps_bytes_safe, loads_flagged
from goldrush.events.envelope import Event, InvalidEvent, decode

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
        out: dict[str, Any] = {"reason": self.reason, "code": self.code, "topic": self.topic,
                               "partition": self.partition, "offset": self.offset, "index": self.index}
        out.update(bounded_original(self.original))
        return out


def name_filter(globs: list[str] | None) -> Callable[[str], bool] | None:
    if not globs:
        return None
    matchers = [glob_matcher(g) for g in globs]
    return lambda name: any(m(name) for m in matchers)


def decode_message(value: bytes | None, topic: str, partition: int, offset: int,
                   keep: Callable[[str], bool] | None = None, future_limit: float | None = None
                   ) -> tuple[list[tuple[int, Event]], list[DeadLetter], int]:
    """((index in the message, event) pairs, dead letters, events filtered out by name) for one message.

    Never raises: whatever a message holds, it ends as events or dead letters (a poison message
    that raised was read again on every restart of the consumer, and its partition stalled)."""
    try:
        return _decode_message(value, topic, partition, offset, keep, future_limit)
    except Exception as exc:  # noqa: BLE001 - a decoder bug must cost one message, not the partition
        reason = f"the message could not be decoded: {type(exc).__name__}: {exc}"[:500]
        return [], [DeadLetter(reason, "decode_failed", topic, partition, offset, None, value or b"")], 0


def _decode_message(value: bytes | None, topic: str, partition: int, offset: int,
                    keep: Callable[[str], bool] | None, future_limit: float | None
                    ) -> tuple[list[tuple[int, Event]], list[DeadLetter], int]:
    raw = value or b""

    def dead(code: str, reason: str, index: int | None = None, original: bytes = raw) -> DeadLetter:
        return DeadLetter(reason, code, topic, partition, offset, index, original)

    if len(raw) > MAX_MESSAGE_BYTES:
        return [], [dead("too_large", f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")], 0
    try:
        payload, lenient = loads_flagged(raw)
    except (BadJSON, RecursionError) as exc:
        return [], [dead("invalid_json", f"not JSON: {exc}")], 0
    items = payload if isinstance(payload, list) else [payload]
    events: list[tuple[int, Event]] = []
    letters: list[DeadLetter] = []
    filtered = 0
    for i, item in enumerate(items):
        index = i if isinstance(payload, list) else None
        try:
            ev = decode(item, future_limit, lenient)
        except InvalidEvent as exc:
            letters.append(dead(exc.code, exc.message, index, dumps_bytes_safe(item) if index is not None else raw))
            continue
        if keep is not None and not keep(ev.name):
            filtered += 1
            continue
        events.append((i, ev))
    return events, letters, filtered
