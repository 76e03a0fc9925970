"""Reduce expression nodes before code is generated (cf. glc_lib:reduce).

`reduce` returns an equivalent node under three-valued logic: nested `&`/`|`
flattened, constants folded, duplicate terms dropped, negations pushed down to the
leaves. (Nodes were checked when the pattern was defined: `goldrush.dsl.validate`.)
"""

from __future__ import annotations

from goldrush.compiler.threevalued import arith3, cmp3, isin3
from goldrush.dsl.expr import NEGATED_CMP, Node

TRUE: Node = ("const", True)
FALSE: Node = ("const", False)
UNKNOWN: Node = ("const", None)


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
