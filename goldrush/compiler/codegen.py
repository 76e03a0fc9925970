"""Generate Python code for predicates once (cf. glc_code), then call it per event.

A `where` is TRUE, FALSE or UNKNOWN, but an event is selected only by TRUE. So we
generate two-valued code for "is TRUE" and, for negations, "is FALSE": Kleene
logic then needs no third value at run time, and `&`/`|` short-circuit as plain
Python `and`/`or`. Field values are fetched once at the top of the function.
User strings enter the source only as `repr()` literals; everything else
(non-finite numbers, member lists) is passed in the function's namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING, NUMBER_TYPES, arith3, cmp3, isin3
from goldrush.dsl.expr import FLIPPED_CMP, Node

Predicate = Callable[[dict], bool]


class _Generator:
    def __init__(self) -> None:
        self.fields: dict[tuple[str, ...], str] = {}
        self.namespace: dict[str, Any] = {
            "M": MISSING, "_NUM": NUMBER_TYPES, "_path": get_path,
            "_arith": arith3, "_cmp3": cmp3, "_isin3": isin3,
        }
        self.temps = 0

    def _bind(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def literal(self, value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return repr(value)
        if isinstance(value, str):
            return repr(value)
        if type(value) in (int, float) and math.isfinite(value):
            return repr(value)
        return self._bind(value)

    def value(self, node: Node) -> str:
        kind = node[0]
        if kind == "field":
            if node[1] not in self.fields:
                self.fields[node[1]] = f"v{len(self.fields)}"
            return self.fields[node[1]]
        if kind == "const":
            return self.literal(node[1])
        if kind == "arith":
            return f"_arith({node[1]!r}, {self.value(node[2])}, {self.value(node[3])})"
        raise ValueError(f"not a value: {node!r}")

    def _temp(self, code: str) -> tuple[str, str]:
        """Evaluate `code` once: (first use, later uses)."""
        if code.isidentifier():
            return code, code
        self.temps += 1
        name = f"_t{self.temps}"
        return f"({name} := {code})", name

    def cmp(self, node: Node, want: bool) -> str:
        op, a, b = node[1], node[2], node[3]
        if a[0] == "const" and b[0] != "const":
            op, a, b = FLIPPED_CMP[op], b, a
        if b[0] == "const" and a[0] != "const":
            c = b[1]
            first, again = self._temp(self.value(a))
            lit = self.literal(c)
            if type(c) in (int, float):
                # NaN fails every ordering and ==, so only != and FALSE need the NaN guard.
                nan_guard = "" if want and op != "!=" else f" and {again} == {again}"
                guard = f"type({first}) in _NUM{nan_guard}"
                test = f"{again} {op} {lit}"
            elif isinstance(c, str):
                guard, test = f"type({first}) is str", f"{again} {op} {lit}"
            elif isinstance(c, bool):
                guard, test = f"type({first}) is bool", f"{again} {op} {lit}"
            else:
                return f"(_cmp3({op!r}, {first}, {lit}) is {want})"
            return f"({guard} and {test})" if want else f"({guard} and not ({test}))"
        return f"(_cmp3({op!r}, {self.value(a)}, {self.value(b)}) is {want})"

    def test(self, node: Node, want: bool) -> str:
        """Python code that is True exactly when `node` evaluates to `want` (TRUE/FALSE)."""
        kind = node[0]
        if kind == "const":
            return repr(node[1] is want)
        if kind == "not":
            return self.test(node[1], not want)
        if kind in ("and", "or"):
            joiner = " and " if (kind == "and") == want else " or "
            return "(" + joiner.join(self.test(n, want) for n in node[1]) + ")"
        if kind == "cmp":
            return self.cmp(node, want)
        if kind == "exists":
            v = self.value(node[1])
            if want:
                return f"({v} is not M and {v} is not None)"
            return f"({v} is M or {v} is None)"
        if kind == "isin":
            members = self._bind(tuple(node[2]))
            return f"(_isin3({self.value(node[1])}, {members}) is {want})"
        raise ValueError(f"not a condition: {node!r}")


def predicate_source(node: Node) -> tuple[str, dict[str, Any]]:
    """Source of `_pred(d)` (True iff `node` is TRUE for data `d`) and its namespace."""
    gen = _Generator()
    body = gen.test(node, True)
    lines = ["def _pred(d):"]
    for path, var in gen.fields.items():
        if len(path) == 1:
            lines.append(f"    {var} = d.get({path[0]!r}, M)")
        else:
            lines.append(f"    {var} = _path(d, {path!r})")
    lines.append(f"    return {body}")
    return "\n".join(lines) + "\n", gen.namespace


def compile_predicate(node: Node | None) -> Predicate | None:
    """A function of the event's data, or None when the condition is always TRUE."""
    if node is None or node == ("const", True):
        return None
    source, namespace = predicate_source(node)
    exec(compile(source, "<goldrush predicate>", "exec"), namespace)
    pred = namespace["_pred"]
    pred.source = source  # type: ignore[attr-defined]  # shown by `goldrush check`
    return pred
