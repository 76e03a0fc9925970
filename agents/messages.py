"""The messages the stages send each other: typed, versioned, read by their version number.

On the wire each is a MessagePack map (`goldrush.events.codec.pack`) with `"v"`, the
format version, and `"type"`. Version 1 carried neither; it is read by the one
reader of version 1 below, which is the only place that looks at a message's shape.
A version newer than this worker knows is refused with an error naming both
versions (the stage dead-letters it as `unreadable_internal`), never guessed at.

New messages keep version 1's field names, so that a worker of the previous release
still reads them during a rolling upgrade.

- engine-in, one tenant: `rows` (codec rows) and `runs`, `[topic, partition, offset,
  [index, ...]]`: which source message the next `len(indexes)` rows came from, so a
  restarted worker skips what it applied before. A *barrier* (agents/in_place.py) is one
  with no rows, no key and a `barrier` token; a reader that ignores the field sees an
  empty message, so a worker of the previous release passes over it.
- keyed, one key of one key group: `key_by`, `key`, `events` (`[seq, row]`), and, from a
  worker that follows goldrush.patterns, `pattern_set`: the pattern-set version the tenant
  stage evaluated these events under, which the key stage evaluates them under too
  (agents/key_versions.py). Optional, so added within version 2: a reader that does not know
  it reads the rest and evaluates with the set it runs, as every reader did before; a message
  without it is read that way here too. Or a tenant's `progress` (agents/key_expiry.py), sent
  to every keyed partition.
- verdicts, one tenant and key group: `done`, per event `[seq, [match dicts]]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goldrush.events.codec import pack, unpack

VERSION = 2


class UnreadableMessage(ValueError):
    """An internal message that is not one this worker can read."""


@dataclass(frozen=True, slots=True)
class EngineIn:
    rows: list
    runs: list
    barrier: str | None = None  # set on an empty message: see agents/in_place.py

    def to_bytes(self) -> bytes:
        msg = {"v": VERSION, "type": "engine_in", "rows": self.rows, "runs": self.runs}
        if self.barrier is not None:
            msg["barrier"] = self.barrier
        return pack(msg)


@dataclass(frozen=True, slots=True)
class Keyed:
    key_by: tuple | list
    key: Any
    events: list
    version: int | None = None  # the pattern-set version the events are evaluated under (None: unknown)

    def to_bytes(self) -> bytes:
        msg = {"v": VERSION, "type": "keyed", "key_by": self.key_by, "key": self.key, "events": self.events}
        if self.version is not None:
            msg["pattern_set"] = self.version
        return pack(msg)


@dataclass(frozen=True, slots=True)
class Progress:
    tenant: str
    seq: int
    clock: float

    def to_bytes(self) -> bytes:
        # key_by/key/events as in version 1: a worker of that version reads it as a keyed message
        # without events and answers nothing.
        return pack({"v": VERSION, "type": "progress", "key_by": [], "key": [self.tenant], "events": [],
                     "progress": [self.seq, self.clock]})


@dataclass(frozen=True, slots=True)
class Verdicts:
    tenant: str
    key_by: tuple | list
    done: list

    def to_bytes(self) -> bytes:
        return pack({"v": VERSION, "type": "verdicts", "tenant": self.tenant, "key_by": self.key_by,
                     "done": self.done})


def read_engine_in(data: bytes) -> EngineIn:
    msg, version = _open(data)
    if version == 1:
        if "runs" not in msg:  # the first format: one position per event
            return EngineIn(_list(msg, "events"), [[t, p, o, [i]] for t, p, o, i in _list(msg, "positions")])
        return EngineIn(_list(msg, "rows"), _list(msg, "runs"))
    _expect(msg, "engine_in")
    barrier = msg.get("barrier")
    return EngineIn(_list(msg, "rows"), _list(msg, "runs"), barrier if type(barrier) is str else None)


def read_keyed(data: bytes) -> Keyed | Progress:
    msg, version = _open(data)
    if (version == 1 and "progress" in msg) or (version > 1 and msg.get("type") == "progress"):
        seq, clock = _list(msg, "progress")
        return Progress(_list(msg, "key")[0], seq, clock)
    if version > 1:
        _expect(msg, "keyed")
    pattern_set = msg.get("pattern_set")
    if pattern_set is not None and type(pattern_set) is not int:
        raise UnreadableMessage(f"field 'pattern_set' is {type(pattern_set).__name__}, not a version number")
    return Keyed(_list(msg, "key_by"), _list(msg, "key"), _list(msg, "events"), pattern_set)


def read_verdicts(data: bytes) -> Verdicts:
    msg, version = _open(data)
    if version > 1:
        _expect(msg, "verdicts")
    tenant = msg.get("tenant")
    if type(tenant) is not str:
        raise UnreadableMessage(f"verdicts without a tenant name (tenant={tenant!r:.64})")
    return Verdicts(tenant, _list(msg, "key_by"), _list(msg, "done"))


def _open(data: bytes) -> tuple[dict[str, Any], int]:
    try:
        msg = unpack(data)
    except Exception as exc:  # noqa: BLE001 - any decoding failure is this message's
        raise UnreadableMessage(f"not MessagePack or JSON: {type(exc).__name__}: {exc}") from exc
    if type(msg) is not dict:
        raise UnreadableMessage(f"a {type(msg).__name__}, not a map")
    version = msg.get("v", 1)
    if type(version) is not int or not 1 <= version <= VERSION:
        raise UnreadableMessage(f"format version {version!r:.32} (this worker reads 1 to {VERSION}): "
                                "written by a newer worker?")
    return msg, version


def _expect(msg: dict[str, Any], kind: str) -> None:
    if msg.get("type") != kind:
        raise UnreadableMessage(f"a {msg.get('type')!r:.32} message where a {kind!r} one was expected")


def _list(msg: dict[str, Any], field: str) -> list:
    value = msg.get(field)
    if type(value) is not list:
        raise UnreadableMessage(f"field {field!r} is {type(value).__name__}, not a list")
    return value
