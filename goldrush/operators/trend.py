"""`trend(metric, direction, duration, confidence)`: a significant slope over the window (SEMANTICS §5.4)."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from scipy.special import stdtr

from goldrush.operators.base import builds
from goldrush.operators.trendstat import slope_confidence


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

    @property
    def metric_ids(self) -> tuple[int, ...]:
        return (self.mid,)

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, TrendOp | None]:
        """A metric never makes the pattern relevant by the event's name alone."""
        return False, self if self.mid in metric_hit else None

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


@builds("trend")
def _build(clause: Any, slot: int, compiled: Any) -> TrendOp:
    return TrendOp(slot, compiled.add_metric(clause.metric), clause.direction, clause.duration,
                   clause.confidence, clause.min_samples)
