"""Three-valued primitives (TRUE/FALSE/UNKNOWN as True/False/None), JSON-typed.

Used by generated code for the uncommon shapes (field vs field, arithmetic,
membership) and by constant folding; the common field-vs-constant comparison is
inlined by `codegen`.
"""

from __future__ import annotations

import operator
from typing import Any

MISSING = object()  # a field that is not there: distinct from JSON null

try:  # numpy scalars reach us from users' Python dicts; they are numbers too
    import numpy as _np

    NUMBER_TYPES = frozenset({int, float, _np.float64, _np.float32, _np.int64, _np.int32})
except ImportError:  # pragma: no cover
    NUMBER_TYPES = frozenset({int, float})

CMP = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def cmp3(op: str, a: Any, b: Any) -> bool | None:
    ta, tb = type(a), type(b)
    if ta in NUMBER_TYPES and tb in NUMBER_TYPES:
        if a != a or b != b:  # NaN
            return None
        return bool(CMP[op](a, b))
    if ta is str and tb is str:
        return CMP[op](a, b)
    if ta is bool and tb is bool and op in ("==", "!="):
        return CMP[op](a, b)
    return None


def arith3(op: str, a: Any, b: Any) -> Any:
    """A number, or MISSING when the arithmetic is UNKNOWN."""
    if type(a) not in NUMBER_TYPES or type(b) not in NUMBER_TYPES:
        return MISSING
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            return MISSING
        return a / b
    except (OverflowError, ZeroDivisionError):
        return MISSING


def _json_equal(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta in NUMBER_TYPES and tb in NUMBER_TYPES:
        return bool(a == b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    return ta is tb and a == b


def isin3(value: Any, members: tuple) -> bool | None:
    if value is MISSING or value is None:
        return None
    return any(_json_equal(value, m) for m in members)
