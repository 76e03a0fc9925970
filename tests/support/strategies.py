"""Hypothesis strategies: random patterns over a small vocabulary, random streams."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from goldrush import F, Pattern, concurrent, event, frequency, metric, recent, sequence, trend

NAMES = ["a", "b", "c.x", "c.y", "a", "b"]
GLOBS = NAMES + ["c.*", "*"]
FIELDS = ["v", "w", "s", "n.k"]
OPS = [">", ">=", "<", "<=", "==", "!="]

constants = st.sampled_from([0, 1, 2, -1, 1.5, "p", "q", True, False])
field_values = st.sampled_from([0, 1, 2, 3, -1, 1.5, math.nan, math.inf, None, "p", "q", "r", True, False, [1], {"k": 1}])


def fields():
    return st.sampled_from(FIELDS).map(lambda f: F[f])


@st.composite
def comparison(draw):
    left = draw(fields())
    if draw(st.booleans()):
        c = draw(constants)
        op = draw(st.sampled_from(["==", "!="] if isinstance(c, bool) else OPS))
        if draw(st.booleans()) and isinstance(c, int | float) and not isinstance(c, bool):
            left = draw(st.sampled_from([left + 1, left * 2, left / F.w, 1 - left]))
        return {">": left > c, ">=": left >= c, "<": left < c, "<=": left <= c,
                "==": left == c, "!=": left != c}[op]
    right = draw(fields())
    op = draw(st.sampled_from(OPS))
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right,
            "==": left == right, "!=": left != right}[op]


@st.composite
def leaf(draw):
    kind = draw(st.sampled_from(["cmp", "cmp", "isin", "exists", "between"]))
    if kind == "cmp":
        return draw(comparison())
    f = draw(fields())
    if kind == "isin":
        return f.isin(draw(st.lists(constants, min_size=1, max_size=3)))
    if kind == "between":
        return f.between(draw(st.sampled_from([0, 1])), draw(st.sampled_from([1, 2])))
    return f.exists()


def expressions():
    return st.recursive(
        leaf(),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda ab: ab[0] & ab[1]),
            st.tuples(inner, inner).map(lambda ab: ab[0] | ab[1]),
            inner.map(lambda a: ~a),
        ),
        max_leaves=4,
    )


dict_wheres = st.dictionaries(
    st.sampled_from(["v", "s", "n.k"]),
    st.one_of(constants,
              st.tuples(st.sampled_from([">", "<=", "!="]), st.sampled_from([0, 1, 2])),
              st.tuples(st.just("in"), st.lists(constants, min_size=1, max_size=2)),
              st.tuples(st.just("exists"), st.booleans())),
    min_size=1, max_size=2,
)

durations = st.sampled_from([1, 2, 3, 5, 8, "500ms", "2s", 4.5])


SIMPLE_WHERES = [None, None, F.v > 1, F.v <= 1, {"s": "p"}, F.w.exists()]


@st.composite
def specs(draw, with_within=False, simple=False):
    if simple:
        where = draw(st.sampled_from(SIMPLE_WHERES))
        name = draw(st.sampled_from(["a", "b", "c.*"]))
    else:
        where = draw(st.one_of(st.none(), st.none(), expressions(), dict_wheres))
        name = draw(st.sampled_from(GLOBS))
    within = draw(st.one_of(st.none(), durations)) if with_within else None
    return event(name, where, within=within)


@st.composite
def clauses(draw, allow_sequence=True, kind=None, simple=None):
    kinds = ["concurrent", "frequency", "trend", "recent"] + (["sequence"] * 2 if allow_sequence else [])
    kind = kind or draw(st.sampled_from(kinds))
    simple = draw(st.booleans()) if simple is None else simple
    if kind == "sequence":
        steps = draw(st.lists(specs(with_within=True, simple=simple), min_size=1, max_size=3))
        return sequence(*steps, within=draw(st.one_of(st.none(), durations)), strict=draw(st.booleans()))
    if kind == "concurrent":
        return concurrent(*draw(st.lists(specs(simple=simple), min_size=1, max_size=2)),
                          within=draw(st.one_of(st.none(), durations)))
    if kind == "frequency":
        return frequency(draw(specs(simple=simple)), (draw(st.sampled_from(OPS)), draw(st.integers(0, 3))),
                         draw(durations))
    if kind == "recent":
        return recent(draw(specs(simple=simple)), within=draw(durations))
    m = draw(st.sampled_from([metric("v"), metric("w"), metric("x", field="v", event="c.*"), "v"]))
    return trend(m, draw(st.sampled_from(["increasing", "decreasing"])),
                 duration=draw(st.sampled_from([3, 5, 8, 20, "30s"])),
                 confidence=draw(st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0])),
                 min_samples=draw(st.integers(1, 5)))


@st.composite
def patterns(draw, name="p"):
    first = draw(clauses())
    rest = draw(st.lists(clauses(allow_sequence=first.op != "sequence"), max_size=2))
    if first.op != "sequence":
        seqs = [c for c in rest if c.op == "sequence"]
        rest = [c for c in rest if c.op != "sequence"] + seqs[:1]
    return Pattern(name, first, *rest,
                   key_by=draw(st.sampled_from([("tenant",)] * 4 + [("tenant", "source"), ("s",)])),
                   cooldown=draw(st.one_of(st.none(), st.sampled_from([1, 3, 6]))))


@st.composite
def streams(draw, min_size=0, max_size=40):
    n = draw(st.integers(min_size, max_size))
    t = 1_700_000_000.0
    slope = draw(st.sampled_from([-1.0, 0.0, 0.5, 2.0]))
    out = []
    for i in range(n):
        t += draw(st.sampled_from([0, 0, 0.5, 1, 1, 2, 3, -1, -3, 7]))
        data = {}
        for f in draw(st.lists(st.sampled_from(["v", "v", "w", "s", "n"]), max_size=4, unique=True)):
            if f in ("v", "w") and draw(st.integers(0, 9)) < 8:
                # mostly a noisy line, so that trends and comparisons both go either way
                data[f] = round(slope * i + draw(st.sampled_from([0, 0, 0.5, -0.5, 1, 3])), 2)
            else:
                data[f] = {"k": draw(field_values)} if f == "n" else draw(field_values)
        ev = {"name": draw(st.sampled_from(NAMES)), "timestamp": t, "id": f"e{i}",
              "tenant": draw(st.sampled_from(["t1", "t1", "t2"])),
              "source": draw(st.sampled_from(["s1", "s1", "s2", None])), "data": data}
        if out and draw(st.integers(0, 9)) == 0:  # a producer's retry: an earlier id again, maybe re-stamped
            ev = dict(draw(st.sampled_from(out[-5:])), timestamp=draw(st.sampled_from([t, t - 2, None])) or t)
        out.append(ev)
    return out
