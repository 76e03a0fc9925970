"""JSON in and out: orjson (2–3× faster to parse) with the stdlib as the lenient fallback.

Producers written in Python often emit `NaN`/`Infinity` tokens, which orjson
refuses; such text is retried with the stdlib parser so the event is judged on
its content (SEMANTICS §1), not thrown away for its spelling.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import orjson


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
