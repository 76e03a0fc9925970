"""Generic trend analysis: sliding slope with its confidence, and change points (CUSUM).

Score = max(2·confidence − 1 of the slope over the last `window` samples,
CUSUM statistic / `h`): near 0 for a flat, stable series; 1 at a change point
or for a slope that is certainly not zero. `slope`, `confidence` and the last
`change_points` explain a score.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .base import Model, check_number, number
from .fit import EWStats, SlidingFit


class TrendAnalysis(Model):
    name = "trend_analysis"
    meaning = "evidence of a trend (slope confidence) or a change point (two-sided CUSUM)"
    evidence = {"h": "scale", "score": "tail"}

    def __init__(self, window: int = 60, alpha: float = 0.02, k: float = 0.5, h: float = 8.0,
                 min_samples: int = 10):
        check_number("window", window, 3, integer=True)
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("k", k, 0.0)
        check_number("h", h, 1e-6)
        check_number("min_samples", min_samples, 3, integer=True)
        self.window, self.alpha, self.k, self.h, self.min_samples = window, float(alpha), float(k), float(h), min_samples
        self._fit = SlidingFit(window)
        self._base = EWStats(self.alpha)
        self._up = self._down = 0.0
        self._i = 0  # samples taken: the x axis when no time is given
        self.change_points: deque[tuple[float, str]] = deque(maxlen=16)

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "alpha": self.alpha, "k": self.k, "h": self.h,
                "min_samples": self.min_samples}

    @property
    def slope(self) -> float:
        return self._fit.slope()[0]

    @property
    def confidence(self) -> float:
        return self._fit.slope()[1]

    def _cusum(self, x: float) -> tuple[float, float]:
        if self._base.n < self.min_samples:
            return 0.0, 0.0
        z = self._base.z(x)
        return max(0.0, self._up + z - self.k), max(0.0, self._down - z - self.k)

    def score_one(self, x: float, t: float | None = None) -> float:
        v = number(x)
        if v is None:
            return 0.0
        up, down = self._cusum(v)
        fit = self._fit
        if len(fit) + 1 < self.min_samples:
            return min(1.0, max(up, down) / self.h)
        probe = SlidingFit.load(self.window, fit.dump())
        probe.add(self._i if t is None else float(t), v)
        conf = probe.slope()[1]
        return min(1.0, max(2.0 * conf - 1.0, max(up, down) / self.h))

    def learn_one(self, x: float, t: float | None = None) -> None:
        v = number(x)
        if v is None:
            return
        up, down = self._cusum(v)
        when = self._i if t is None else float(t)
        if up > self.h or down > self.h:
            self.change_points.append((when, "up" if up > down else "down"))
            up = down = 0.0
        self._up, self._down = up, down
        self._base.add(v)
        self._fit.add(when, v)
        self._i += 1

    def update_one(self, x: float, t: float | None = None) -> float:
        v = number(x)
        if v is None:
            return 0.0
        up, down = self._cusum(v)
        when = self._i if t is None else float(t)
        self._fit.add(when, v)
        conf = self._fit.slope()[1] if len(self._fit) >= self.min_samples else 0.5
        score = min(1.0, max(2.0 * conf - 1.0, max(up, down) / self.h))
        if up > self.h or down > self.h:
            self.change_points.append((when, "up" if up > down else "down"))
            up = down = 0.0
        self._up, self._down = up, down
        self._base.add(v)
        self._i += 1
        return score

    def _dump(self) -> dict[str, Any]:
        return {"fit": self._fit.dump(), "base": self._base.dump(), "cusum": [self._up, self._down],
                "i": self._i, "changes": [list(c) for c in self.change_points]}

    def _load(self, state: dict[str, Any]) -> None:
        self._fit = SlidingFit.load(self.window, state["fit"])
        self._base.load(state["base"])
        self._up, self._down = (float(v) for v in state["cusum"])
        self._i = int(state["i"])
        self.change_points.extend((float(c[0]), str(c[1])) for c in state["changes"])
