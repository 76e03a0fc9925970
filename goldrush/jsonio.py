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
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first:
        try:
            return json.loads(data)
        except (ValueError, RecursionError, TypeError):
            raise BadJSON(str(first)) from None


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def dumps_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)


def dumps_exact(obj: Any) -> bytes:
    """JSON that reads back equal, NaN and ±Infinity included: for the worker's own topics and tables.

    orjson writes a non-finite float as `null`, and `exists()`, `isin` and `==` tell
    NaN from null (SEMANTICS §2), so a value must not change on its way between
    stages. Only output that has a `null` can have lost one; only then is the
    object searched, and only if it has one is it written by the stdlib
    (`NaN`/`Infinity` tokens, which `loads` reads back).
    """
    out = orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)
    if b"null" in out and _has_nonfinite(obj):
        return json.dumps(obj, default=str, separators=(",", ":"), allow_nan=True).encode()
    return out


def _has_nonfinite(obj: Any) -> bool:
    if type(obj) is float:
        return obj - obj != 0
    if isinstance(obj, dict):
        return any(_has_nonfinite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return any(_has_nonfinite(v) for v in obj)
    return False
