"""`recent(spec, within)`: some matching event happened in the last `within` (SEMANTICS §5.5)."""

from __future__ import annotations

from typing import Any

from goldrush.operators.base import builds


class RecentOp:
    """Holds iff some matching event has t − within < ts ≤ t: only the last one matters."""

    __slots__ = ("slot", "gid", "within")
    cost = 0

    def __init__(self, slot: int, gid: int, within: float):
        self.slot, self.gid, self.within = slot, gid, within

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, RecentOp | None]:
        hit = self.gid in spec_hit
        return hit, self if hit else None

    def new_state(self) -> list:
        return [None]

    def update(self, st: list, t: float, vals: list, samples: list, ev: Any = None) -> None:
        if vals[self.gid]:
            st[0] = t

    def expire(self, st: list, t: float) -> None:
        if st[0] is not None and not t - self.within < st[0]:
            st[0] = None

    def holds(self, st: list, t: float) -> bool:
        last = st[0]
        return last is not None and t - self.within < last

    def is_empty(self, st: list) -> bool:
        return st[0] is None

    def dump(self, st: list) -> Any:
        return st[0]

    def load(self, data: Any) -> list:
        return [data]


@builds("recent")
def _build(clause: Any, slot: int, compiled: Any) -> RecentOp:
    return RecentOp(slot, compiled.add_spec(clause.spec), clause.within)
