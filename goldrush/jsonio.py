"""JSON in and out: orjson (2–3× faster to parse) with the stdlib as the lenient fallback.

Producers written in Python often emit `NaN`/`Infinity` tokens, which orjson
refuses; such text is retried with the stdlib parser so the event is judged on
its content (SEMANTICS §1), not thrown away for its spelling.
"""

from __future__ import annotations

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
