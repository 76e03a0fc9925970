"""The JSON forms of a `where`: the seed's dict form and a prefix-list form.

Dict form (SEMANTICS §2): ``{"input_variety": (">", 8.0), "action": "adjust"}``.
Anything the dict form cannot say (or, not, arithmetic, two conditions on one field)
serialises as a prefix list: ``["or", [">", ["field", "x"], 1], ["exists", ["field", "y"]]]``.
Scalars are constants; fields are always ``["field", "path"]``.
"""

from __future__ import annotations

from typing import Any

from goldrush.dsl.expr import ARITH_OPS, CMP_OPS, Expr, Node, field_path
from goldrush.errors import PatternError

DICT_OPERATORS = (">", ">=", "<", "<=", "==", "!=", "in", "not_in", "exists")


def where_to_node(where: Any) -> Node | None:
    """A user's `where` (expression, dict form or prefix list) as a node; None if absent."""
    if where is None:
        return None
    if isinstance(where, Expr):
        return where.node
    if isinstance(where, dict):
        return dict_to_node(where)
    if isinstance(where, list):
        return json_to_node(where)
    raise PatternError(
        f"`where` must be an expression (F.x > 1), a dict like {{'x': ('>', 1)}} "
        f"or a serialised prefix list, got {type(where).__name__} {where!r}"
    )


def _is_operator(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and isinstance(value[0], str)
        and value[0] in DICT_OPERATORS
    )


def dict_to_node(form: dict) -> Node:
    terms: list[Node] = []
    for key, value in form.items():
        if not isinstance(key, str) or not key:
            raise PatternError(f"a where-dict key must be a field name, got {key!r}")
        fld = ("field", field_path(key))
        if _is_operator(value):
            op, arg = value
            if op in CMP_OPS:
                terms.append(("cmp", op, fld, ("const", arg)))
            elif op in ("in", "not_in"):
                if isinstance(arg, str | bytes | dict) or not isinstance(arg, list | tuple | set | frozenset):
                    raise PatternError(f"field {key!r}: ({op!r}, ...) takes a list of values, got {arg!r}")
                node = ("isin", fld, tuple(arg))
                terms.append(node if op == "in" else ("not", node))
            else:  # exists
                if not isinstance(arg, bool):
                    raise PatternError(f"field {key!r}: ('exists', ...) takes True or False, got {arg!r}")
                terms.append(("exists", fld) if arg else ("not", ("exists", fld)))
        elif isinstance(value, tuple | list) and len(value) == 2 and isinstance(value[0], str):
            raise PatternError(
                f"field {key!r}: unknown operator {value[0]!r}; use one of {', '.join(DICT_OPERATORS)}"
            )
        else:
            terms.append(("cmp", "==", fld, ("const", value)))
    if not terms:
        return ("const", True)
    return terms[0] if len(terms) == 1 else ("and", tuple(terms))


def json_to_node(form: Any) -> Node:
    """Prefix-list JSON → node. Scalars are constants."""
    if not isinstance(form, list):
        return ("const", form)
    if not form or not isinstance(form[0], str):
        raise PatternError(f"a serialised expression must start with an operator name, got {form!r}")
    op, args = form[0], form[1:]
    if op == "field":
        if len(args) != 1 or not isinstance(args[0], str):
            raise PatternError(f"['field', name] takes one field name, got {form!r}")
        return ("field", field_path(args[0]))
    if op in ("and", "or"):
        if not args:
            raise PatternError(f"[{op!r}, ...] needs at least one operand")
        return (op, tuple(json_to_node(a) for a in args))
    if op == "not" and len(args) == 1:
        return ("not", json_to_node(args[0]))
    if op == "exists" and len(args) == 1:
        return ("exists", json_to_node(args[0]))
    if op == "in" and len(args) == 2 and isinstance(args[1], list):
        return ("isin", json_to_node(args[0]), tuple(args[1]))
    if op in CMP_OPS and len(args) == 2:
        return ("cmp", op, json_to_node(args[0]), json_to_node(args[1]))
    if op in ARITH_OPS and len(args) == 2:
        return ("arith", op, json_to_node(args[0]), json_to_node(args[1]))
    raise PatternError(f"cannot read serialised expression {form!r}: unknown operator or arity")


def node_to_json(node: Node) -> Any:
    """Node → the dict form when it can say it exactly, else the prefix list."""
    as_dict = _node_to_dict(node)
    return as_dict if as_dict is not None else _node_to_list(node)


def _leaf_to_dict(node: Node) -> tuple[str, Any] | None:
    kind = node[0]
    if kind == "cmp" and node[2][0] == "field" and node[3][0] == "const":
        value = node[3][1]
        if node[1] == "==" and not isinstance(value, list | tuple | dict):
            return ".".join(node[2][1]), value
        return ".".join(node[2][1]), [node[1], value]
    if kind == "isin" and node[1][0] == "field":
        return ".".join(node[1][1]), ["in", list(node[2])]
    if kind == "exists" and node[1][0] == "field":
        return ".".join(node[1][1]), ["exists", True]
    if kind == "not":
        inner = node[1]
        if inner[0] == "isin" and inner[1][0] == "field":
            return ".".join(inner[1][1]), ["not_in", list(inner[2])]
        if inner[0] == "exists" and inner[1][0] == "field":
            return ".".join(inner[1][1]), ["exists", False]
    return None


def _node_to_dict(node: Node) -> dict | None:
    terms = node[1] if node[0] == "and" else (node,)
    out: dict[str, Any] = {}
    for term in terms:
        leaf = _leaf_to_dict(term)
        if leaf is None or leaf[0] in out:
            return None
        out[leaf[0]] = leaf[1]
    return out


def _node_to_list(node: Node) -> Any:
    kind = node[0]
    if kind == "field":
        return ["field", ".".join(node[1])]
    if kind == "const":
        return node[1]
    if kind in ("cmp", "arith"):
        return [node[1], _node_to_list(node[2]), _node_to_list(node[3])]
    if kind in ("and", "or"):
        return [kind, *(_node_to_list(n) for n in node[1])]
    if kind in ("not", "exists"):
        return [kind, _node_to_list(node[1])]
    if kind == "isin":
        return ["in", _node_to_list(node[1]), list(node[2])]
    raise ValueError(f"unknown expression node {node!r}")
