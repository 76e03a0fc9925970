"""`concurrent(s1, …, sn, within)`: the latest event named like each spec satisfies it (SEMANTICS §5.2)."""

from __future__ import annotations

from typing import Any

from goldrush.operators.base import builds


class ConcurrentOp:
    """The latest event named like each spec satisfies it (and is ≤ within old)."""

    __slots__ = ("slot", "gids", "within", "positions")
    cost = 0

    def __init__(self, slot: int, gids: tuple[int, ...], within: float | None,
                 positions: tuple[int, ...] = ()):
        self.slot, self.gids, self.within = slot, gids, within
        self.positions = positions  # which specs this event's name matches (per-name copy)

    def for_positions(self, positions: tuple[int, ...]) -> ConcurrentOp:
        return ConcurrentOp(self.slot, self.gids, self.within, positions)

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, ConcurrentOp | None]:
        """Updated through a copy that looks only at the specs this name can satisfy."""
        positions = tuple(i for i, g in enumerate(self.gids) if g in spec_hit)
        return bool(positions), self.for_positions(positions) if positions else None

    def new_state(self) -> list:
        return [None] * len(self.gids)

    def update(self, st: list, t: float, vals: list, samples: list, ev: Any = None) -> None:
        gids = self.gids
        for i in self.positions:
            # Only the truth of the latest event matters: a FALSE latest event is
            # as good as none, which lets idle keys be dropped.
            st[i] = t if vals[gids[i]] else None

    def expire(self, st: list, t: float) -> None:
        if self.within is not None:
            for i, ts in enumerate(st):
                if ts is not None and t - ts > self.within:
                    st[i] = None

    def holds(self, st: list, t: float) -> bool:
        within = self.within
        for ts in st:
            if ts is None or (within is not None and t - ts > within):
                return False
        return True

    def is_empty(self, st: list) -> bool:
        return all(ts is None for ts in st)

    def dump(self, st: list) -> Any:
        return list(st)

    def load(self, data: Any) -> list:
        return list(data)


@builds("concurrent")
def _build(clause: Any, slot: int, compiled: Any) -> ConcurrentOp:
    return ConcurrentOp(slot, tuple(compiled.add_spec(s) for s in clause.specs_), clause.within)
