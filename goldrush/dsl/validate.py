"""Reject, at definition time, expressions that can never mean anything.

Comparing with null, ordering booleans, non-scalar constants, a value used as a
condition: `check` raises a `PatternError` so that `Pattern(...)` fails where the user
wrote the mistake instead of when the compiler meets it.
"""

from __future__ import annotations

import math
from typing import Any

from goldrush.dsl.expr import BOOLEAN_KINDS, Node, render
from goldrush.errors import PatternError


def _scalar(value: Any, where: str) -> None:
    if value is None:
        raise PatternError(f"{where}: comparing with None is always UNKNOWN; use .exists()")
    if isinstance(value, float) and math.isnan(value):
        raise PatternError(f"{where}: comparing with NaN is always UNKNOWN")
    if not isinstance(value, str | int | float | bool):
        raise PatternError(
            f"{where}: constants must be numbers, strings or booleans, got {type(value).__name__} {value!r}"
        )


def check(node: Node, *, condition: bool = True) -> None:
    """Raise `PatternError` for a node that cannot be compiled."""
    kind = node[0]
    if condition and kind not in BOOLEAN_KINDS and kind != "const":
        raise PatternError(f"`where` needs a condition, got the value {render(node)}: compare it, e.g. {render(node)} > 0")
    if kind == "const":
        if condition and not isinstance(node[1], bool):
            raise PatternError(f"`where` needs a condition, got the constant {node[1]!r}")
    elif kind == "field":
        if not node[1] or any(not p for p in node[1]):
            raise PatternError(f"empty field name in {'.'.join(node[1])!r}")
    elif kind in ("and", "or"):
        for n in node[1]:
            check(n, condition=True)
    elif kind == "not":
        check(node[1], condition=True)
    elif kind == "exists":
        check(node[1], condition=False)
    elif kind == "isin":
        check(node[1], condition=False)
        for m in node[2]:
            _scalar(m, f"{render(node)}")
    elif kind == "cmp":
        op, a, b = node[1], node[2], node[3]
        for side in (a, b):
            if side[0] in BOOLEAN_KINDS:
                raise PatternError(f"{render(node)}: cannot compare a condition; combine conditions with & | ~")
            check(side, condition=False)
            if side[0] == "const":
                _scalar(side[1], render(node))
                if isinstance(side[1], bool) and op not in ("==", "!="):
                    raise PatternError(f"{render(node)}: booleans compare only with == and !=")
    elif kind == "arith":
        for side in (node[2], node[3]):
            if side[0] in BOOLEAN_KINDS:
                raise PatternError(f"{render(node)}: arithmetic needs numbers, not a condition")
            check(side, condition=False)
            if side[0] == "const" and (
                isinstance(side[1], bool) or not isinstance(side[1], int | float)
            ):
                raise PatternError(f"{render(node)}: arithmetic takes numbers only, got {side[1]!r}")
    else:
        raise PatternError(f"unknown expression node {node!r}")
