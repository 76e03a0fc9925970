"""Immutable field expressions with three-valued logic (SEMANTICS §2).

An `Expr` wraps a plain tuple tree (the *node*), so expressions are cheap to
build, compare structurally, serialise and compile. Nothing here evaluates an
expression: `codegen` turns a node into Python code once.

Node shapes:
    ("field", path)                 path: tuple of keys into `data`
    ("const", value)                a JSON scalar
    ("arith", op, a, b)             op in + - * /
    ("cmp", op, a, b)               op in > >= < <= == !=
    ("and", (n1, n2, ...)) / ("or", (...)) / ("not", n)
    ("isin", a, (m1, m2, ...))      membership
    ("exists", a)

>>> from goldrush import F
>>> (F.response_time_ms > 800) & F.route.isin(["/checkout", "/pay"])
((F.response_time_ms > 800) & F.route.isin(['/checkout', '/pay']))
>>> F["a.b"] * 2 >= F.limit
((F['a.b'] * 2) >= F.limit)
"""

from __future__ import annotations

from typing import Any

CMP_OPS = (">", ">=", "<", "<=", "==", "!=")
ARITH_OPS = ("+", "-", "*", "/")
NEGATED_CMP = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "=="}
FLIPPED_CMP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
BOOLEAN_KINDS = frozenset({"cmp", "and", "or", "not", "isin", "exists"})

Node = tuple


def to_node(value: Any) -> Node:
    """An operand as a node: expressions as they are, anything else as a constant."""
    if isinstance(value, Expr):
        return value.node
    return ("const", value)


def field_path(name: str) -> tuple[str, ...]:
    """`"a.b"` is always a path into nested objects."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a field name must be a non-empty string, got {name!r}")
    return tuple(name.split("."))


class Expr:
    """An immutable expression over an event's `data`.

    Use `& | ~` for logic and `.isin()` for membership: Python's `and`, `or`,
    `not` and `in` cannot be overloaded, so they raise instead of silently
    evaluating the expression object's truthiness.
    """

    __slots__ = ("node",)

    def __init__(self, node: Node):
        object.__setattr__(self, "node", node)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("expressions are immutable")

    # comparisons -------------------------------------------------------------
    def _cmp(self, op: str, other: Any) -> Expr:
        return Expr(("cmp", op, self.node, to_node(other)))

    def __gt__(self, other: Any) -> Expr:
        return self._cmp(">", other)

    def __ge__(self, other: Any) -> Expr:
        return self._cmp(">=", other)

    def __lt__(self, other: Any) -> Expr:
        return self._cmp("<", other)

    def __le__(self, other: Any) -> Expr:
        return self._cmp("<=", other)

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._cmp("==", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._cmp("!=", other)

    __hash__ = None  # type: ignore[assignment]  # == builds an expression

    # arithmetic --------------------------------------------------------------
    def _arith(self, op: str, other: Any, reflected: bool = False) -> Expr:
        a, b = (to_node(other), self.node) if reflected else (self.node, to_node(other))
        return Expr(("arith", op, a, b))

    def __add__(self, other: Any) -> Expr:
        return self._arith("+", other)

    def __radd__(self, other: Any) -> Expr:
        return self._arith("+", other, True)

    def __sub__(self, other: Any) -> Expr:
        return self._arith("-", other)

    def __rsub__(self, other: Any) -> Expr:
        return self._arith("-", other, True)

    def __mul__(self, other: Any) -> Expr:
        return self._arith("*", other)

    def __rmul__(self, other: Any) -> Expr:
        return self._arith("*", other, True)

    def __truediv__(self, other: Any) -> Expr:
        return self._arith("/", other)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._arith("/", other, True)

    # logic -------------------------------------------------------------------
    def __and__(self, other: Any) -> Expr:
        return Expr(("and", (self.node, to_node(other))))

    def __rand__(self, other: Any) -> Expr:
        return Expr(("and", (to_node(other), self.node)))

    def __or__(self, other: Any) -> Expr:
        return Expr(("or", (self.node, to_node(other))))

    def __ror__(self, other: Any) -> Expr:
        return Expr(("or", (to_node(other), self.node)))

    def __invert__(self) -> Expr:
        return Expr(("not", self.node))

    def isin(self, values: Any) -> Expr:
        if isinstance(values, str | bytes | dict) or not hasattr(values, "__iter__"):
            raise TypeError(f".isin() takes a list of values, got {values!r}")
        if isinstance(values, set | frozenset):  # iteration order differs between processes
            values = sorted(values, key=lambda v: (type(v).__name__, repr(v)))
        return Expr(("isin", self.node, tuple(values)))

    def between(self, lo: Any, hi: Any) -> Expr:
        """`lo <= x <= hi`, both ends inclusive."""
        return (self >= lo) & (self <= hi)

    def exists(self) -> Expr:
        """TRUE when the field is present and not null; never UNKNOWN."""
        return Expr(("exists", self.node))

    # Python protocols that would silently do the wrong thing ------------------
    def __bool__(self) -> bool:
        raise TypeError(
            "the truth value of a goldrush expression is decided per event, not in Python: "
            "use `&` instead of `and`, `|` instead of `or`, `~` instead of `not`, "
            "and `.isin([...])` instead of `in` (and parenthesise comparisons: "
            "(F.a > 1) & (F.b < 2))"
        )

    def __contains__(self, item: Any) -> bool:
        raise TypeError("`in` cannot be used on a goldrush expression: use F.x.isin([...])")

    def __iter__(self):
        raise TypeError("a goldrush expression is not iterable: use F.x.isin([...]) for membership")

    def __repr__(self) -> str:
        return render(self.node)


class _Fields:
    """`F.x`, `F["x"]`, `F["a.b"]`: a reference to a field of the event's `data`."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Expr:
        if name.startswith("__"):
            raise AttributeError(name)
        return Expr(("field", field_path(name)))

    def __getitem__(self, name: str) -> Expr:
        return Expr(("field", field_path(name)))

    def __repr__(self) -> str:
        return "F"


F = _Fields()


def render(node: Node) -> str:
    """Readable text of a node, as a user would write it."""
    kind = node[0]
    if kind == "field":
        name = ".".join(node[1])
        return f"F.{name}" if name.isidentifier() else f"F[{name!r}]"
    if kind == "const":
        return repr(node[1])
    if kind in ("arith", "cmp"):
        return f"({render(node[2])} {node[1]} {render(node[3])})"
    if kind in ("and", "or"):
        sep = " & " if kind == "and" else " | "
        return "(" + sep.join(render(n) for n in node[1]) + ")"
    if kind == "not":
        return f"~{render(node[1])}"
    if kind == "isin":
        return f"{render(node[1])}.isin({list(node[2])!r})"
    if kind == "exists":
        return f"{render(node[1])}.exists()"
    return repr(node)
