"""Run-time state and evaluation of the five operators (SEMANTICS §5), per key.

Each operator is a small object built once by the compiler. Its per-key state is
a plain mutable container (deque, list) held in the key's `KeyState`, so the
engine can expire, snapshot and restore it without knowing the operator.
`update` sees an event relevant to the operator; `holds` answers at time `t`.
Timestamps passed in never decrease for a key (the reorder buffer sees to it).
"""

from __future__ import annotations

import math
import operator
from collections import deque
from typing import Any

from scipy.special import stdtr

from goldrush.compiler.trendstat import slope_confidence

COUNT_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}


class FrequencyOp:
    """c = matching events with t − within < ts ≤ t; holds iff `c op n`."""

    __slots__ = ("slot", "gid", "compare", "n", "within")
    cost = 1

    def __init__(self, slot: int, gid: int, count: tuple[str, float], within: float):
        self.slot, self.gid, self.within = slot, gid, within
        self.compare, self.n = COUNT_OPS[count[0]], count[1]

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


class RecentOp:
    """Holds iff some matching event has t − within < ts ≤ t: only the last one matters."""

    __slots__ = ("slot", "gid", "within")
    cost = 0

    def __init__(self, slot: int, gid: int, within: float):
        self.slot, self.gid, self.within = slot, gid, within

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


class TrendState:
    """A metric's window plus running sums, so that most slope tests are O(1).

    Sums are kept relative to a reference sample (t0, v0) chosen when the window
    is rebuilt, which keeps the numbers small; `TrendOp.holds` falls back to the
    exact two-pass fit whenever rounding could change the answer.
    """

    __slots__ = ("times", "values", "appended", "cache_key", "cache",
                 "t0", "v0", "sx", "sy", "sxx", "sxy", "syy")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.values: deque[float] = deque()
        self.appended = 0
        self.cache_key: tuple[int, int] | None = None
        self.cache = False
        self.t0 = self.v0 = 0.0
        self.sx = self.sy = self.sxx = self.sxy = self.syy = 0.0

    def rebuild(self) -> None:
        """Recompute the sums from the window, with the oldest sample as reference."""
        self.sx = self.sy = self.sxx = self.sxy = self.syy = 0.0
        if not self.times:
            return
        self.t0, self.v0 = self.times[0], self.values[0]
        t0, v0 = self.t0, self.v0
        for t, v in zip(self.times, self.values, strict=True):
            x, y = t - t0, v - v0
            self.sx += x
            self.sy += y
            self.sxx += x * x
            self.sxy += x * y
            self.syy += y * y


class TrendOp:
    """Least-squares slope over the last `duration` is significant in `direction`."""

    __slots__ = ("slot", "mid", "sign", "duration", "confidence", "min_samples")
    cost = 3

    def __init__(self, slot: int, mid: int, direction: str, duration: float,
                 confidence: float, min_samples: int):
        self.slot, self.mid, self.duration = slot, mid, duration
        self.sign = 1.0 if direction == "increasing" else -1.0
        self.confidence = confidence
        self.min_samples = max(3, min_samples)

    def new_state(self) -> TrendState:
        return TrendState()

    def update(self, st: TrendState, t: float, vals: list, samples: list, ev: Any = None) -> None:
        value = samples[self.mid]
        if value is not None:
            if not st.times or t - st.t0 > 4 * self.duration:
                st.times.append(t)
                st.values.append(value)
                self.expire(st, t)
                st.rebuild()
            else:
                st.times.append(t)
                st.values.append(value)
                x, y = t - st.t0, value - st.v0
                st.sx += x
                st.sy += y
                st.sxx += x * x
                st.sxy += x * y
                st.syy += y * y
            st.appended += 1
        self.expire(st, t)

    def expire(self, st: TrendState, t: float) -> None:
        horizon = t - self.duration
        times = st.times
        if not times or horizon < times[0]:
            return
        t0, v0 = st.t0, st.v0
        while times and not horizon < times[0]:
            x, y = times.popleft() - t0, st.values.popleft() - v0
            st.sx -= x
            st.sy -= y
            st.sxx -= x * x
            st.sxy -= x * y
            st.syy -= y * y
        if not times:
            st.rebuild()

    def holds(self, st: TrendState, t: float) -> bool:
        self.expire(st, t)
        n = len(st.times)
        if n < self.min_samples:
            return False
        key = (st.appended, n)
        if st.cache_key != key:
            st.cache_key = key
            st.cache = self._decide(st, n)
        return st.cache

    def _decide(self, st: TrendState, n: int) -> bool:
        """The slope test from the running sums, or exactly when rounding could matter."""
        sx, sy = st.sx, st.sy
        cxx = st.sxx - sx * sx / n
        cyy = st.syy - sy * sy / n
        cxy = st.sxy - sx * sy / n
        # Cancellation guards: each centred sum must keep ≥ 4 of its ~16 digits.
        if cxx > 1e-4 * st.sxx and cyy > 1e-4 * st.syy and abs(cxy) > 1e-6 * math.sqrt(st.sxx * st.syy):
            b = cxy / cxx
            ssr = cyy - b * cxy
            if ssr > 1e-6 * cyy:  # far from an exact fit, where the 1e-12 rule needs precision
                conf = float(stdtr(n - 2, abs(b) / math.sqrt(ssr / (n - 2) / cxx)))
                if abs(conf - self.confidence) > 1e-9:
                    return b * self.sign > 0 and conf >= self.confidence
        slope, conf = slope_confidence(st.times, st.values)
        return slope * self.sign > 0 and conf >= self.confidence

    def is_empty(self, st: TrendState) -> bool:
        return not st.times

    def dump(self, st: TrendState) -> Any:
        return [list(st.times), list(st.values)]

    def load(self, data: Any) -> TrendState:
        st = TrendState()
        st.times.extend(data[0])
        st.values.extend(data[1])
        st.appended = len(st.times)
        st.rebuild()
        return st


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

    def __init__(self, slot: int, gids: tuple[int, ...], step_within: tuple[float | None, ...],
                 within: float | None, strict: bool):
        self.slot, self.gids, self.within, self.strict = slot, gids, within, strict
        self.step_within = step_within
        self.n = len(gids)

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
        from goldrush.events.envelope import decode

        out = []
        for k, first, last, events in data:
            chain: tuple = ()
            for e in events:
                chain = (decode(e), chain)
            out.append(Partial(k, first, last, chain))
        return out
