"""Why an event's `where` was not TRUE: the first condition that was FALSE or UNKNOWN, and why.

Whether an event was selected is never decided here: that is the compiled predicate's
answer, which the explainer takes from the engine. This module only names the reason
for an event the predicate did not select (which field was missing, null, NaN or of the
wrong type; which comparison was FALSE and with what value), following SEMANTICS §2.
A property test holds its verdict to the compiled predicate's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING, NUMBER_TYPES, arith3, cmp3, isin3
from goldrush.dsl.expr import NEGATED_CMP, Node, render

from ..catalogue import json_kind


@dataclass(frozen=True)
class Reason:
    """FALSE: `condition` compared `value`; UNKNOWN: `field` had `problem`."""

    verdict: bool | None  # False or None (UNKNOWN); True only when nothing is wrong
    condition: str
    field: str | None = None
    problem: str | None = None  # missing, null, NaN, "a string" …
    value: Any = None
    op: str | None = None
    bound: Any = None


def problem_of(value: Any, wanted: str) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return f"is a {json_kind(value)} ({value!r}), not a {wanted}"


def _value(node: Node, data: dict) -> tuple[Any, Reason | None]:
    """A value node's value, or MISSING with the reason it is UNKNOWN."""
    kind = node[0]
    if kind == "const":
        return node[1], None
    if kind == "field":
        return get_path(data, node[1]), None
    a, ra = _value(node[2], data)
    if ra is not None:
        return MISSING, ra
    b, rb = _value(node[3], data)
    if rb is not None:
        return MISSING, rb
    out = arith3(node[1], a, b)
    if out is MISSING:
        bad = node[2] if type(a) not in NUMBER_TYPES else node[3]
        value = a if bad is node[2] else b
        name = render(bad)
        problem = "is 0 (division)" if type(value) in NUMBER_TYPES else problem_of(value, "number")
        return MISSING, Reason(None, render(node), name, problem)
    return out, None


def _cmp(node: Node, data: dict) -> Reason:
    op, a_node, b_node = node[1], node[2], node[3]
    a, ra = _value(a_node, data)
    if ra is not None:
        return ra
    b, rb = _value(b_node, data)
    if rb is not None:
        return rb
    verdict = cmp3(op, a, b)
    field_node, value, other = (a_node, a, b) if a_node[0] != "const" else (b_node, b, a)
    name = render(field_node)
    if verdict is None:
        wanted = json_kind(other) if other is not MISSING else "value"
        if json_kind(value) == "boolean" and json_kind(other) == "boolean":
            problem = f"is a boolean: booleans compare only with == and != ({op} was used)"
        else:
            problem = problem_of(value, wanted)
        return Reason(None, render(node), name, problem)
    bound = b if a_node is field_node else a
    return Reason(verdict, render(node), name, value=value, op=op if a_node is field_node else NEGATED_CMP.get(op),
                  bound=bound)


def diagnose(node: Node, data: dict) -> Reason:
    """The three-valued verdict of `node` for this event's data, with the condition that decided it."""
    kind = node[0]
    if kind == "const":
        return Reason(node[1] if isinstance(node[1], bool) else None, render(node))
    if kind == "cmp":
        return _cmp(node, data)
    if kind == "not":
        inner = diagnose(node[1], data)
        flipped = None if inner.verdict is None else not inner.verdict
        condition = inner.condition if inner.verdict is None else render(node)
        return Reason(flipped, condition, inner.field, inner.problem, inner.value, inner.op, inner.bound)
    if kind in ("and", "or"):
        deciding = kind == "or"  # TRUE decides an `|`, FALSE an `&`
        unknown: Reason | None = None
        first: Reason | None = None
        for part in node[1]:
            r = diagnose(part, data)
            if r.verdict is deciding:
                return r
            if r.verdict is None and unknown is None:
                unknown = r
            first = first or r
        if unknown is not None:
            return unknown
        if deciding and first is not None:  # an `|` of FALSE parts: the first one, with its value
            return first
        return Reason(not deciding, render(node))
    if kind == "exists":
        v, r = _value(node[1], data)
        present = r is None and v is not MISSING and v is not None
        return Reason(present, render(node), render(node[1]), None if present else problem_of(v, "value"))
    if kind == "isin":
        v, r = _value(node[1], data)
        if r is not None:
            return r
        verdict = isin3(v, node[2])
        if verdict is None:
            return Reason(None, render(node), render(node[1]), problem_of(v, "value"))
        return Reason(verdict, render(node), render(node[1]), value=v)
    raise ValueError(f"not a condition: {node!r}")
