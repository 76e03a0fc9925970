"""SEMANTICS §2: expressions, three-valued logic, the dict form."""

from __future__ import annotations

import ast
import math

import pytest

from goldrush import F, Pattern, PatternError, event, recent
from goldrush.compiler.codegen import compile_predicate
from goldrush.compiler.simplify import reduce
from goldrush.dsl.validate import check
from goldrush.dsl.whereform import dict_to_node, node_to_json, where_to_node


def selects(where, data) -> bool:
    node = where_to_node(where)
    check(node)
    pred = compile_predicate(reduce(node))
    return True if pred is None else pred(data)


def is_unknown(expr, data) -> bool:
    """UNKNOWN: neither the expression nor its negation selects the event."""
    return not selects(expr, data) and not selects(~expr, data)


@pytest.mark.parametrize("keyword", ["and", "or", "not"])
def test_python_keywords_raise_a_helpful_type_error(keyword):
    with pytest.raises(TypeError, match=r"use `&`.*`\|`.*`~`.*isin"):
        if keyword == "and":
            _ = (F.a > 1) and (F.b > 1)
        elif keyword == "or":
            _ = (F.a > 1) or (F.b > 1)
        else:
            _ = not (F.a > 1)


def test_in_raises_a_helpful_type_error():
    with pytest.raises(TypeError, match="isin"):
        _ = 3 in F.a


def test_expressions_are_immutable():
    e = F.x > 1
    with pytest.raises(AttributeError):
        e.node = None


def test_field_access_forms_and_nested_paths():
    assert selects(F["a.b"] == 1, {"a": {"b": 1}})
    assert selects(F["a"] == 1, {"a": 1})
    assert is_unknown(F["a.b"] == 1, {"a": [{"b": 1}]})  # lists are not indexed
    assert is_unknown(F["a.b"] == 1, {"a.b": 1})  # a dot is always a path


@pytest.mark.parametrize("data", [{}, {"x": None}, {"x": math.nan}, {"x": "3"}, {"x": [3]}, {"x": True}])
def test_comparisons_on_missing_null_nan_or_wrong_type_are_unknown(data):
    assert is_unknown(F.x > 1, data)
    assert is_unknown(F.x != 1, data)


def test_types_follow_json():
    assert selects(F.x == 1, {"x": 1.0})
    assert is_unknown(F.x == 1, {"x": True})  # true is not 1
    assert selects(F.x == True, {"x": True})  # noqa: E712
    assert selects(F.s > "abc", {"s": "abd"})  # lexicographic
    assert is_unknown(F.s > "abc", {"s": 5})
    assert selects(F.x > -math.inf, {"x": 1})


def test_not_unknown_is_unknown_and_kleene_junctions():
    assert is_unknown(~(F.x > 1), {})
    assert selects((F.x > 1) | (F.y == 2), {"y": 2})  # UNKNOWN | TRUE = TRUE
    assert not selects(~((F.x > 1) & (F.y == 2)), {"y": 2})  # ~(UNKNOWN & TRUE) = UNKNOWN
    assert selects(~((F.x > 1) & (F.y == 2)), {"y": 3})  # ~(UNKNOWN & FALSE) = TRUE


def test_arithmetic():
    assert selects(F.a + F.b > 2, {"a": 1, "b": 2})
    assert selects(2 * F.a - 1 == 3, {"a": 2})
    assert selects(10 / F.a == 5, {"a": 2})
    assert is_unknown(F.a / F.b > 0, {"a": 1, "b": 0})  # division by zero
    assert is_unknown(F.a + 1 > 0, {"a": "1"})
    assert is_unknown(F.a + 1 > 0, {"a": True})


def test_isin_exists_between():
    assert selects(F.x.isin([1, 2]), {"x": 2})
    assert not selects(F.x.isin([1, 2]), {"x": 3}) and selects(~F.x.isin([1, 2]), {"x": 3})
    assert is_unknown(F.x.isin([1, 2]), {})
    assert is_unknown(F.x.isin([1, 2]), {"x": None})
    assert not selects(F.x.isin([1]), {"x": True})  # true is not 1
    assert selects(F.x.exists(), {"x": 0}) and not selects(F.x.exists(), {"x": None})
    assert selects(~F.x.exists(), {})  # exists is never UNKNOWN
    assert selects(F.x.between(1, 3), {"x": 1}) and selects(F.x.between(1, 3), {"x": 3})
    assert not selects(F.x.between(1, 3), {"x": 3.5})


def test_dict_form_is_a_conjunction_with_all_operators():
    where = {"input_variety": (">", 8.0), "action": "adjust", "tier": ("in", ["a", "b"]),
             "zone": ("not_in", ["z"]), "owner": ("exists", True), "gone": ("exists", False),
             "n": ["<=", 3], "m": ("!=", 1), "k": (">=", 0), "j": ("<", 9), "i": ("==", 4)}
    data = {"input_variety": 9, "action": "adjust", "tier": "a", "zone": "y", "owner": "me",
            "n": 3, "m": 2, "k": 0, "j": 8, "i": 4}
    assert selects(where, data)
    assert not selects(where, {**data, "action": "hold"})
    assert not selects(where, {**data, "gone": 1})


def test_dict_form_round_trips_through_json():
    node = dict_to_node({"input_variety": (">", 8.0), "action": "adjust"})
    assert node_to_json(node) == {"input_variety": [">", 8.0], "action": "adjust"}
    complex_ = ((F.a > 1) | (F.b < 2)) & ~F.c.isin(["x"]) & (F.d * 2 >= F.e)
    assert where_to_node(node_to_json(complex_.node)) == complex_.node


@pytest.mark.parametrize("where, message", [
    ({"x": ("~=", 1)}, "unknown operator '~='"),
    ({"x": ("in", 3)}, "takes a list"),
    ({"x": ("exists", "yes")}, "True or False"),
    (F.x > None, "use .exists"),
    (F.x > True, "booleans compare only with == and !="),
    (F.x + "a" > 1, "arithmetic takes numbers only"),
    (F.x, "needs a condition"),
    (F.x == [1], "constants must be numbers, strings or booleans"),
    (F.x == math.nan, "NaN"),
])
def test_bad_expressions_are_pattern_errors_naming_pattern_and_clause(where, message):
    with pytest.raises(PatternError, match=message) as err:
        Pattern("p1", recent(event("a", where)))
    assert "pattern 'p1'" in str(err.value) and "#1 (recent)" in str(err.value)


def test_simplification_preserves_meaning():
    e = ~~((F.a > 1) & ((F.b == 2) & (F.a > 1))) | ((F.c < 0) & False)
    assert reduce(e.node) == ("and", (("cmp", ">", ("field", ("a",)), ("const", 1)),
                                      ("cmp", "==", ("field", ("b",)), ("const", 2))))
    assert reduce((~(F.a > 1)).node) == ("cmp", "<=", ("field", ("a",)), ("const", 1))


def test_generated_source_escapes_user_strings():
    pred = compile_predicate((F["we'ird\"\n"] == "x'); import os; ('").node)
    assert pred({"we'ird\"\n": "x'); import os; ('"})
    tree = ast.parse(pred.source)
    assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(tree))
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {"we'ird\"\n", "x'); import os; ('"} <= constants
