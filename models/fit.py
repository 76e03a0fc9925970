"""A sliding least-squares line with O(1) updates, shared by the trend-type models."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from scipy.special import stdtr


class SlidingFit:
    """Slope of the last `window` (x, y) points, from running centred sums.

    Sums are taken relative to the first point kept, and rebuilt from the points
    whenever the window has turned over once, so rounding never accumulates.
    """

    __slots__ = ("window", "xs", "ys", "x0", "y0", "sums", "age")

    def __init__(self, window: int):
        self.window = window
        self.xs: deque[float] = deque()
        self.ys: deque[float] = deque()
        self.x0 = self.y0 = 0.0
        self.sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # sx, sy, sxx, sxy, syy
        self.age = 0

    def add(self, x: float, y: float) -> None:
        if not self.xs:
            self.x0, self.y0 = x, y
        self.xs.append(x)
        self.ys.append(y)
        self._acc(x, y, 1.0)
        if len(self.xs) > self.window:
            self._acc(self.xs.popleft(), self.ys.popleft(), -1.0)
        self.age += 1
        if self.age >= self.window:
            self._rebuild()

    def _acc(self, x: float, y: float, sign: float) -> None:
        dx, dy = x - self.x0, y - self.y0
        s = self.sums
        s[0] += sign * dx
        s[1] += sign * dy
        s[2] += sign * dx * dx
        s[3] += sign * dx * dy
        s[4] += sign * dy * dy

    def _rebuild(self) -> None:
        self.age = 0
        self.sums = [0.0] * 5
        if self.xs:
            self.x0, self.y0 = self.xs[0], self.ys[0]
            for x, y in zip(self.xs, self.ys, strict=True):
                self._acc(x, y, 1.0)

    def __len__(self) -> int:
        return len(self.xs)

    def slope(self) -> tuple[float, float]:
        """(slope, confidence that its sign is right: one-sided t-test, 0.5 = no evidence)."""
        n = len(self.xs)
        if n < 3:
            return 0.0, 0.5
        sx, sy, sxx, sxy, syy = self.sums
        cxx = sxx - sx * sx / n
        cyy = syy - sy * sy / n
        cxy = sxy - sx * sy / n
        if cxx <= 1e-12 * max(sxx, 1e-300) or cyy <= 1e-12 * max(syy, 1e-300):
            return 0.0, 0.5
        b = cxy / cxx
        ssr = max(cyy - b * cxy, 0.0)
        if ssr <= 1e-12 * cyy:
            return b, 1.0
        return b, float(stdtr(n - 2, abs(b) / math.sqrt(ssr / (n - 2) / cxx)))

    def dump(self) -> list[Any]:
        return [list(self.xs), list(self.ys), self.x0, self.y0, list(self.sums), self.age]

    @classmethod
    def load(cls, window: int, data: list[Any]) -> SlidingFit:
        fit = cls(window)
        fit.xs.extend(float(v) for v in data[0])
        fit.ys.extend(float(v) for v in data[1])
        fit.x0, fit.y0 = float(data[2]), float(data[3])
        fit.sums = [float(v) for v in data[4]]
        fit.age = int(data[5])
        return fit


class EWStats:
    """Exponentially weighted mean and variance (West's update), with a sample count."""

    __slots__ = ("alpha", "mean", "var", "n")

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def add(self, x: float) -> None:
        if self.n == 0:
            self.mean = x
        else:
            d = x - self.mean
            self.mean += self.alpha * d
            self.var = (1.0 - self.alpha) * (self.var + self.alpha * d * d)
        self.n += 1

    def z(self, x: float) -> float:
        sd = math.sqrt(self.var)
        return (x - self.mean) / max(sd, 1e-9 * max(1.0, abs(self.mean)))

    def dump(self) -> list[float]:
        return [self.mean, self.var, self.n]

    def load(self, data: list[Any]) -> EWStats:
        self.mean, self.var, self.n = float(data[0]), float(data[1]), int(data[2])
        return self
