"""`sequence(s1, …, sn, within, strict)`: skip-till-next-match occurrences (SEMANTICS §5.1)."""

from __future__ import annotations

from typing import Any

from goldrush.events.envelope import decode
from goldrush.operators.base import builds


class Partial:
    """A partial sequence match: next step index, first/last time, events (linked, newest first)."""

    __slots__ = ("k", "first", "last", "chain")

    def __init__(self, k: int, first: float, last: float, chain: tuple):
        self.k, self.first, self.last, self.chain = k, first, last, chain

    def events(self) -> list:
        out = []
        node = self.chain
        while node:
            out.append(node[0])
            node = node[1]
        out.reverse()
        return out


class SequenceOp:
    """Skip-till-next-match sequence; fires at the event that completes an occurrence."""

    __slots__ = ("slot", "gids", "step_within", "within", "strict", "n", "dedupe")
    cost = 2
    instantaneous = True  # fires at an event, where the other operators hold over time

    def __init__(self, slot: int, gids: tuple[int, ...], step_within: tuple[float | None, ...],
                 within: float | None, strict: bool):
        self.slot, self.gids, self.within, self.strict = slot, gids, within, strict
        self.step_within = step_within
        self.n = len(gids)

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, SequenceOp | None]:
        hit = bool(spec_hit.intersection(self.gids))
        return hit, self if hit else None

    def new_state(self) -> list:
        return []

    def step(self, st: list[Partial], t: float, event: Any, vals: list) -> list | None:
        """Advance the partial matches with `event`; the completed occurrence's events, if any.

        Partials are kept in creation order, which is the order of their first
        events, so the first one completed is the earliest occurrence.
        """
        gids, within, step_within, strict, last_k = self.gids, self.within, self.step_within, self.strict, self.n - 1
        completed = None
        survivors: list[Partial] = []
        for p in st:
            if within is not None and t - p.first > within:
                continue
            k = p.k
            sw = step_within[k]
            if sw is not None and t - p.last > sw:
                continue
            if vals[gids[k]]:
                if k == last_k:
                    if completed is None:
                        completed = p.chain
                    continue
                survivors.append(Partial(k + 1, p.first, t, (event, p.chain)))
            elif not strict:
                survivors.append(p)
            # strict: an event named like a step came between two steps: the partial dies
        if vals[gids[0]]:
            if last_k == 0:
                if completed is None:
                    completed = ()
            else:
                survivors.append(Partial(1, t, t, (event, ())))
        if len(survivors) > 1:
            survivors = self._dedupe(survivors)
        st[:] = survivors
        if completed is None:
            return None
        return Partial(0, 0.0, 0.0, (event, completed)).events()

    def _dedupe(self, partials: list[Partial]) -> list[Partial]:
        """Drop partials whose future is identical to an earlier one's.

        Two partials at the same step evolve identically when the time bounds
        that can still apply see the same times; the earlier one is the one an
        occurrence would report, so the later one can never matter.
        """
        within, step_within = self.within, self.step_within
        seen = set()
        out = []
        for p in partials:
            sig = (p.k, p.first if within is not None else None,
                   p.last if step_within[p.k] is not None else None)
            if sig not in seen:
                seen.add(sig)
                out.append(p)
        return out

    def expire(self, st: list[Partial], t: float) -> None:
        within, step_within = self.within, self.step_within
        st[:] = [
            p for p in st
            if not (within is not None and t - p.first > within)
            and not (step_within[p.k] is not None and t - p.last > step_within[p.k])
        ]

    def is_empty(self, st: list) -> bool:
        return not st

    def dump(self, st: list[Partial]) -> Any:
        """Partials with their events (as envelopes, ids included): enough to resume exactly."""
        return [[p.k, p.first, p.last, [e.to_dict() for e in p.events()]] for p in st]

    def load(self, data: Any) -> list[Partial]:
        out = []
        for k, first, last, events in data:
            chain: tuple = ()
            for e in events:
                chain = (decode(e), chain)
            out.append(Partial(k, first, last, chain))
        return out


@builds("sequence")
def _build(clause: Any, slot: int, compiled: Any) -> SequenceOp:
    return SequenceOp(slot, tuple(compiled.add_spec(s) for s in clause.steps),
                      tuple(s.within for s in clause.steps), clause.within, clause.strict)
