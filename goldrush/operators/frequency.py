"""`frequency(spec, count, within)`: how many matching events in the last `within` (SEMANTICS §5.3)."""

from __future__ import annotations

import operator
from collections import deque
from typing import Any

from goldrush.operators.base import builds

COUNT_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}


class FrequencyOp:
    """c = matching events with t − within < ts ≤ t; holds iff `c op n`."""

    __slots__ = ("slot", "gid", "compare", "n", "within")
    cost = 1

    def __init__(self, slot: int, gid: int, count: tuple[str, float], within: float):
        self.slot, self.gid, self.within = slot, gid, within
        self.compare, self.n = COUNT_OPS[count[0]], count[1]

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, FrequencyOp | None]:
        hit = self.gid in spec_hit
        return hit, self if hit else None

    def new_state(self) -> deque:
        return deque()

    def update(self, st: deque, t: float, vals: list, samples: list, ev: Any = None) -> None:
        if vals[self.gid]:
            st.append(t)
        self.expire(st, t)

    def expire(self, st: deque, t: float) -> None:
        horizon = t - self.within
        while st and not horizon < st[0]:
            st.popleft()

    def holds(self, st: deque, t: float) -> bool:
        self.expire(st, t)
        return self.compare(len(st), self.n)

    def is_empty(self, st: deque) -> bool:
        return not st

    def dump(self, st: deque) -> Any:
        return list(st)

    def load(self, data: Any) -> deque:
        return deque(data)


@builds("frequency")
def _build(clause: Any, slot: int, compiled: Any) -> FrequencyOp:
    return FrequencyOp(slot, compiled.add_spec(clause.spec), clause.count, clause.within)
