"""Events (SEMANTICS §1): the fast decoder for the hot path and the pydantic envelope.

`decode` turns one input object into an `Event` or raises `InvalidEvent` with a
short `code` (for counting) and a precise message (for people). `Envelope` is the
same contract as a pydantic model, for the edges (clients, schemas).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldrush.dsl.durations import to_seconds

MAX_FIELD_BYTES = 256  # tenant, name, source, subsystem, id: UTF-8 bytes (docs/semantics.md §1.1)
# Integers must fit 64 bits (signed, or unsigned when positive), as orjson parses and writes them.
INT64_MIN, INT64_MAX = -(2**63), 2**64 - 1
DEFAULT_MAX_FUTURE = "1d"  # how far ahead of the wall clock an event time may be (clock skew, time zones)
_SHORT = MAX_FIELD_BYTES // 4  # a string of at most this many characters cannot pass the byte limit


class InvalidEvent(ValueError):
    """An input that is not an event; never escapes the engine, always reported."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


DERIVED = object()  # `Event._raw` once the id was derived from the input (not given by it)


class Event:
    """One decoded event. Plain slots: it lives in the hot loop.

    The id is derived lazily from the input object, because most events never
    appear in a match and hashing canonical JSON costs as much as parsing it.
    """

    __slots__ = ("name", "timestamp", "tenant", "source", "subsystem", "data", "_id", "_raw")

    def __init__(
        self,
        name: str,
        timestamp: float,
        tenant: str = "default",
        source: str | None = None,
        subsystem: str | None = None,
        data: dict[str, Any] | None = None,
        id: str | None = None,
        raw: Any = None,
    ):
        self.name = name
        self.timestamp = timestamp
        self.tenant = tenant
        self.source = source
        self.subsystem = subsystem
        self.data = {} if data is None else data
        self._id = id
        self._raw = raw

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = derive_id(self._raw if self._raw is not None else self.to_dict(False))
            self._raw = DERIVED
        return self._id

    @property
    def explicit_id(self) -> str | None:
        """The id the input carried (None when it was derived): what de-duplication compares."""
        return self._id if self._raw is None else None

    def to_dict(self, with_id: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "timestamp": self.timestamp, "tenant": self.tenant}
        if self.source is not None:
            out["source"] = self.source
        if self.subsystem is not None:
            out["subsystem"] = self.subsystem
        if with_id:
            out["id"] = self.id
        out["data"] = self.data
        return out

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {self.timestamp!r}, tenant={self.tenant!r}, data={self.data!r})"


def canonical_json(obj: Any) -> str:
    """Sorted keys, compact separators: the same object always gives the same text."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except TypeError:  # keys of mixed types cannot be sorted: compare them as strings
        return json.dumps(_stringify_keys(obj), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, default=str)


def _stringify_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _stringify_keys(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_stringify_keys(v) for v in obj]
    return obj


def derive_id(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_timestamp(value: Any, where: str = "timestamp") -> float:
    """Float epoch seconds from a number or an ISO 8601 string (no offset means UTC)."""
    kind = type(value)
    if kind is float:
        ts = value
    elif kind is int:
        ts = _int_seconds(value, where)
    elif kind is str:
        try:
            dt = datetime.fromisoformat(value.strip())
        except (ValueError, UnicodeEncodeError):
            raise InvalidEvent(
                "bad_timestamp", f"'{where}' is not an ISO 8601 time or epoch seconds: {value[:64]!r}"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ts = dt.timestamp()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        ts = _int_seconds(int(value), where) if isinstance(value, int) else float(value)
    else:
        raise InvalidEvent(
            "bad_timestamp", f"'{where}' must be epoch seconds or an ISO 8601 string, got {_kind(value)}"
        )
    if not math.isfinite(ts):
        raise InvalidEvent("bad_timestamp", f"'{where}' must be finite, got {value!r}")
    return ts


def future_limit(max_future: Any) -> float | None:
    """The latest event time accepted now: the wall clock plus `max_future` (a duration; None: no limit)."""
    if max_future is None:
        return None
    return time.time() + to_seconds(max_future, what="max_future", allow_zero=True)


def _int_seconds(value: int, where: str) -> float:
    if INT64_MIN <= value <= INT64_MAX:
        return float(value)
    raise InvalidEvent("bad_timestamp", f"'{where}' is an integer of {len(str(abs(value)))} digits, "
                       "outside the 64-bit range")


def checked_text(value: str, where: str) -> str:
    """`value` if it is valid Unicode of at most MAX_FIELD_BYTES UTF-8 bytes.

    Identifying fields become record keys, log lines and metric labels downstream:
    one 500 kB tenant name made changelog records larger than Kafka accepts, and a
    lone surrogate cannot be encoded at all."""
    if len(value) <= _SHORT and value.isascii():
        return value
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidEvent("bad_unicode", f"'{where}' is not valid Unicode (a lone surrogate "
                           f"{value[exc.start]!r} at character {exc.start})") from None
    if size > MAX_FIELD_BYTES:
        raise InvalidEvent("too_long", f"'{where}' is {size} bytes of UTF-8; at most {MAX_FIELD_BYTES} are allowed")
    return value


def check_values(data: dict, where: str = "data") -> None:
    """Every integer in `data` fits 64 bits and every string (keys included) is valid Unicode.

    orjson guarantees both for what it parses; inputs parsed leniently (NaN tokens) or
    handed over as Python objects are walked once here. The loop is flat for the usual
    event (scalar fields, ASCII text); anything else takes `_check_value`."""
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            if value.isascii() and (type(key) is not str or key.isascii()):
                continue
        elif kind is float or kind is bool or value is None:
            if type(key) is not str or key.isascii():
                continue
        elif kind is int and INT64_MIN <= value <= INT64_MAX and (type(key) is not str or key.isascii()):
            continue
        if type(key) is str:
            _encodable(key, f"{where} key")
        _check_value(value, f"{where}.{key}" if type(key) is str and len(where) < 200 else where)


def _check_value(value: Any, where: str) -> None:
    kind = type(value)
    if kind is dict:
        check_values(value, where)
    elif kind is list or kind is tuple:
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]" if len(where) < 200 else where)
    elif kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidEvent("number_out_of_range", f"'{where}' is an integer of {len(str(abs(value)))} digits, "
                               "outside the 64-bit range")
    elif kind is str and not value.isascii():
        _encodable(value, where)


def _encodable(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidEvent("bad_unicode", f"'{where}' is not valid Unicode (a lone surrogate at character "
                           f"{exc.start})") from None


def _name(value: Any) -> str:
    if type(value) is str:
        if value:
            return value
        raise InvalidEvent("bad_name", "'name' is empty")
    if isinstance(value, list | tuple):
        if value and all(type(p) is str and p for p in value):
            return ".".join(value)
        raise InvalidEvent("bad_name", "'name' as a list must hold one or more non-empty strings")
    raise InvalidEvent("bad_name", f"'name' must be a string or a list of strings, got {_kind(value)}")


def _text(value: Any, key: str) -> str:
    """An identifying field off the fast path: a string (else `bad_<key>`) within the limits."""
    if type(value) is not str:
        raise InvalidEvent(f"bad_{key}", f"'{key}' must be a string, got {_kind(value)}")
    return checked_text(value, key)


def decode(obj: Any, future_limit: float | None = None, untrusted: bool = False) -> Event:
    """One input object → `Event`, or `InvalidEvent` naming what is wrong.

    `future_limit`: event times above it (epoch seconds) are refused, at the door, so that
    one event stamped in the year 9999 cannot make every later event of its tenant late.
    `untrusted`: the input did not come from orjson (the lenient parser read it, or a caller
    built it), so every string is checked for valid Unicode and `data` for integers beyond
    64 bits (`check_values`); orjson guarantees both, and the hot path skips the checks."""
    if type(obj) is not dict:
        if isinstance(obj, Envelope):
            return obj.to_event()
        if not isinstance(obj, dict):
            raise InvalidEvent("not_object", f"an event must be a JSON object, got {_kind(obj)}")
        obj = dict(obj)
    get = obj.get
    meta = get("metadata")
    if meta is not None and type(meta) is not dict:
        meta = None
        if get("name") is None or get("timestamp") is None:
            raise InvalidEvent("bad_metadata", "'metadata' must be an object")

    name = get("name")
    if name is None:
        name = get("type")
        if name is None:
            raise InvalidEvent("missing_name", "missing 'name' (or the event-sourcing 'type')")
    name = name if type(name) is str and name else _name(name)
    if len(name) > _SHORT or untrusted and not name.isascii():
        checked_text(name, "name")

    ts = get("timestamp")
    where = "timestamp"
    if ts is None and meta is not None:
        ts = meta.get("timestamp")
        where = "metadata.timestamp"
    if ts is None:
        raise InvalidEvent("missing_timestamp", "missing 'timestamp' (or 'metadata.timestamp')")
    if type(ts) is not float or ts - ts != 0.0:
        ts = parse_timestamp(ts, where)
    if future_limit is not None and ts > future_limit:
        raise InvalidEvent("future_timestamp", f"'{where}' {_iso(ts)} is later than {_iso(future_limit)}: "
                           "the wall clock plus the lead allowed (max_future)")

    tenant = get("tenant")
    if tenant is None and meta is not None:
        tenant = meta.get("tenant")
    if tenant is None:
        tenant = "default"
    elif type(tenant) is not str or len(tenant) > _SHORT or untrusted and not tenant.isascii():
        tenant = _text(tenant, "tenant")

    event_id = get("id")
    if event_id is None and meta is not None:
        event_id = meta.get("id")
    if event_id is not None and (type(event_id) is not str or len(event_id) > _SHORT
                                 or untrusted and not event_id.isascii()):
        event_id = _text(str(event_id) if type(event_id) is int else event_id, "id")

    data = get("data")
    if data is None:
        if "data" in obj:
            raise InvalidEvent("bad_data", "'data' must be an object, got null")
        data = {}
    elif type(data) is not dict:
        raise InvalidEvent("bad_data", f"'data' must be an object, got {_kind(data)}")
    elif untrusted:
        check_values(data)

    source = get("source")
    if source is not None and (type(source) is not str or len(source) > _SHORT or untrusted and not source.isascii()):
        source = _text(source, "source")
    subsystem = get("subsystem")
    if subsystem is not None and (type(subsystem) is not str or len(subsystem) > _SHORT
                                  or untrusted and not subsystem.isascii()):
        subsystem = _text(subsystem, "subsystem")
    return Event(name, ts, tenant, source, subsystem, data, event_id, None if event_id else obj)


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return repr(ts)


class Envelope(BaseModel):
    """The event envelope at the edges (clients, schemas); validated by `decode`."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="dotted event name, e.g. vsm_core.variety.calculated")
    timestamp: float = Field(description="event time, epoch seconds")
    tenant: str = "default"
    source: str | None = None
    subsystem: str | None = None
    id: str | None = Field(default=None, description="unique id; derived from the content when absent")
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        if isinstance(value, Envelope):
            return value
        try:
            event = decode(value)
        except InvalidEvent as exc:
            raise ValueError(exc.message) from None
        return event.to_dict()

    def to_event(self) -> Event:
        return Event(self.name, self.timestamp, self.tenant, self.source, self.subsystem,
                     dict(self.data), self.id)
