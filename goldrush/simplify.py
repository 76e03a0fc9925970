"""Check and reduce expression nodes before code is generated (cf. glc_lib:reduce).

`check` rejects what can never mean anything (comparing with null, ordering
booleans, non-scalar constants, a value used as a condition). `reduce` returns an
equivalent node under three-valued logic: nested `&`/`|` flattened, constants
folded, duplicate terms dropped, negations pushed down to the leaves.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import PatternError
from .expr import BOOLEAN_KINDS, NEGATED_CMP, Node, render
from .threevalued import arith3, cmp3, isin3

TRUE: Node = ("const", True)
FALSE: Node = ("const", False)
UNKNOWN: Node = ("const", None)


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


def reduce(node: Node) -> Node:
    """An equivalent, smaller node (three-valued logic is preserved exactly)."""
    kind = node[0]
    if kind in ("and", "or"):
        return _reduce_junction(kind, node[1])
    if kind == "not":
        return _negate(reduce(node[1]))
    if kind == "cmp":
        a, b = reduce(node[2]), reduce(node[3])
        if a[0] == "const" and b[0] == "const":
            return ("const", cmp3(node[1], a[1], b[1]))
        return ("cmp", node[1], a, b)
    if kind == "arith":
        a, b = reduce(node[2]), reduce(node[3])
        if a[0] == "const" and b[0] == "const":
            value = arith3(node[1], a[1], b[1])
            return UNKNOWN if value is None else ("const", value)
        return ("arith", node[1], a, b)
    if kind == "isin":
        a = reduce(node[1])
        if a[0] == "const":
            return ("const", isin3(a[1], node[2]))
        return ("isin", a, node[2])
    if kind == "exists":
        a = reduce(node[1])
        if a[0] == "const":
            return ("const", a[1] is not None)
        return ("exists", a)
    return node


def _negate(node: Node) -> Node:
    kind = node[0]
    if kind == "const":
        return node if node[1] is None else ("const", not node[1])
    if kind == "not":
        return node[1]
    if kind == "cmp":
        # In Kleene logic ~(a op b) == (a negop b): both are UNKNOWN on the same inputs.
        return ("cmp", NEGATED_CMP[node[1]], node[2], node[3])
    if kind in ("and", "or"):
        other = "or" if kind == "and" else "and"
        return _reduce_junction(other, tuple(_negate(n) for n in node[1]))
    return ("not", node)


def _reduce_junction(kind: str, items: tuple) -> Node:
    absorbing, neutral = (False, True) if kind == "and" else (True, False)
    terms: list[Node] = []
    for item in items:
        item = reduce(item)
        sub = item[1] if item[0] == kind else (item,)
        for term in sub:
            if term[0] == "const":
                if term[1] is absorbing:
                    return ("const", absorbing)
                if term[1] is neutral:
                    continue
            if term not in terms:
                terms.append(term)
    if not terms:
        return ("const", neutral)
    return terms[0] if len(terms) == 1 else (kind, tuple(terms))
