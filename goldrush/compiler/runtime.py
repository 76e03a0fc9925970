"""Run-time field access, shared by generated predicates, the engine, keys, policies and models.

One home for reading an event: `get_path` walks a dotted path into `data` and
`glob_matcher` matches event names, both with the semantics of SEMANTICS §2–§3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from goldrush.compiler.threevalued import MISSING


def get_path(data: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path into nested objects, or MISSING (lists are not indexed)."""
    for key in path:
        if type(data) is not dict:
            return MISSING
        data = data.get(key, MISSING)
        if data is MISSING:
            return MISSING
    return data


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """Case-sensitive glob on event names; `*` crosses dots, `?` is one character."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.__eq__
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    matcher = re.compile(regex, re.DOTALL).fullmatch
    return lambda name: matcher(name) is not None
