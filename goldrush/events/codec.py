"""Every encoding goldrush reads or writes, in one place.

JSON in and out (users' events, matches, actions): orjson (2–3× faster to parse) with the stdlib as the lenient fallback.

Producers written in Python often emit `NaN`/`Infinity` tokens, which orjson
refuses; such text is retried with the stdlib parser so the event is judged on
its content (SEMANTICS §1), not thrown away for its spelling.

The worker's own topics and snapshot tables (`pack`/`unpack`): exact, and as fast as orjson.

Values must come back equal after a trip between stages: SEMANTICS §2 tells NaN
from null (`exists()`, `isin`, `==`), and snapshots must restore what was saved.
JSON cannot carry NaN or ±Infinity, and orjson (which Faust uses too) writes
them as `null`; a sample snapshot took 230 µs with orjson, 1.6 ms to search it
for such values, 3.1 ms with the stdlib. MessagePack keeps every float exactly
in 250 µs. Integers beyond 64 bits (JSON allows them) fall back to stdlib JSON
with `NaN`/`Infinity` tokens, which `unpack` also reads, as it reads the plain
JSON earlier versions wrote.

Events on the worker's internal topics (`to_row`/`from_row`): positional rows, rebuilt without validating again.

The ingest agent has validated every event before it forwards it, so the stages
only need the fields back. A row `[name, timestamp, source, subsystem, id, data]`
(the tenant travels once per message, as its key) packs and unpacks in about
half the time of the envelope dict, whose six key strings would otherwise be
written and read again for every event at every hop. Envelope dicts, which
earlier versions forwarded, are still read (and validated) as such.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import msgpack
import orjson

from goldrush.events.envelope import DERIVED, Event, decode


class BadJSON(ValueError):
    """Text that is not JSON at all (or nested too deeply to parse safely)."""


def loads(data: bytes | str) -> Any:
    return loads_flagged(data)[0]


def loads_flagged(data: bytes | str) -> tuple[Any, bool]:
    """(the parsed value, True if the lenient parser read it).

    What orjson parses holds only int64-range integers and valid Unicode; the stdlib
    parser also takes 400-digit integers and lone surrogates, so its results need the
    checks of `goldrush.events.check_values`."""
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError as first:
        try:
            return json.loads(data), True
        except (ValueError, RecursionError, TypeError):
            raise BadJSON(str(first)) from None


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def dumps_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)


def dumps_bytes_safe(obj: Any) -> bytes:
    """`dumps_bytes`, or for values orjson refuses (integers beyond 64 bits, lone surrogates)
    the stdlib's ASCII JSON, which escapes them: a report about bad input must not fail on it."""
    try:
        return dumps_bytes(obj)
    except (TypeError, ValueError):
        return json.dumps(obj, default=str, ensure_ascii=True).encode()


ORIGINAL_BYTES = 64 * 1024  # of a rejected input kept in a report (a dead letter, a --rejected line)


def bounded_original(original: bytes, field: str = "original") -> dict[str, Any]:
    """What a report keeps of its input: all of it up to ORIGINAL_BYTES, else a prefix with the
    size and SHA-256 of the whole, so that a report never exceeds what a producer may send
    (a 2 MB message's base64 dead letter did, and its partition stalled on the retries)."""
    out: dict[str, Any] = {}
    kept = original
    if len(original) > ORIGINAL_BYTES:
        kept = original[:ORIGINAL_BYTES]
        out[f"{field}_bytes"] = len(original)
        out[f"{field}_sha256"] = hashlib.sha256(original).hexdigest()
        out[f"{field}_truncated"] = True
    try:
        out[field] = kept.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(original) > ORIGINAL_BYTES and exc.start >= len(kept) - 3:  # cut inside a character
            out[field] = kept[:exc.start].decode("utf-8", "replace")
        else:
            out[f"{field}_base64"] = base64.b64encode(kept).decode()
    return out


# -- internal topics and snapshots (MessagePack) --

_JSON_STARTS = (ord("{"), ord("["))  # never the first byte of a packed map or array


def pack(obj: Any) -> bytes:
    try:
        return msgpack.packb(obj, use_bin_type=True)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(obj, default=_json_default, separators=(",", ":"), allow_nan=True).encode()


def unpack(data: bytes) -> Any:
    if data[:1] and data[0] in _JSON_STARTS:
        return loads(data)
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _json_default(value: Any) -> Any:
    """Bytes (a snapshot's packed masks) become a list of ints; anything else its text."""
    return list(value) if isinstance(value, bytes | bytearray) else str(value)


# -- event rows on the internal topics --

def to_row(ev: Event) -> list[Any]:
    """The event without its tenant; the id is fixed here (derived once, at ingest, if absent).
    A derived id travels as `[id]`: only ids the input carried are de-duplicated (goldrush/engine/reorder.py)."""
    event_id = ev.id
    return [ev.name, ev.timestamp, ev.source, ev.subsystem, event_id if ev._raw is None else [event_id], ev.data]


def from_row(tenant: str, row: list[Any] | dict[str, Any]) -> Event:
    """The event `to_row` wrote, for `tenant`; an envelope dict is decoded as input."""
    if type(row) is dict:
        return decode(row)
    name, timestamp, source, subsystem, event_id, data = row
    if type(event_id) is list:
        return Event(name, timestamp, tenant, source, subsystem, data, event_id[0], DERIVED)
    return Event(name, timestamp, tenant, source, subsystem, data, event_id)
