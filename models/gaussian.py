"""Windowed Gaussian: NAB's simplest baseline, kept to calibrate the NAB scorer.

The score is 1 − the two-sided Gaussian tail probability of the value under the
mean and standard deviation of the last `window` values, refreshed every `step`
values once the window is full (NAB's reference scores ≈ 40 standard with it).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .base import Model, check_number


class WindowedGaussian(Model):
    name = "windowed_gaussian"
    meaning = "1 − Gaussian tail probability of the value under the recent window's mean and std"
    evidence = {"score": "tail"}

    def __init__(self, window: int = 6400, step: int = 100):
        check_number("window", window, 2, integer=True)
        check_number("step", step, 1, integer=True)
        self.window, self.step = window, step
        self._data: deque[float] = deque(maxlen=window)
        self._pending: list[float] = []
        self._mean = 0.0
        self._std = 1e-6
        self._count = 0  # values in the window before it filled (Welford)
        self._m2 = 0.0

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "step": self.step}

    def score_one(self, x: float, t: float | None = None) -> float:
        if not self._data or not (isinstance(x, float | int) and math.isfinite(x)):
            return 0.0
        z = abs(x - self._mean) / self._std
        return 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not (isinstance(x, float | int) and math.isfinite(x)):
            return
        x = float(x)
        if len(self._data) < self.window:
            self._data.append(x)
            # Welford while filling: exact enough and O(1) instead of O(window).
            self._count += 1
            d = x - self._mean if self._count > 1 else 0.0
            if self._count == 1:
                self._mean, self._m2 = x, 0.0
            else:
                self._mean += d / self._count
                self._m2 += d * (x - self._mean)
            self._set_std(math.sqrt(self._m2 / self._count))
            return
        self._pending.append(x)
        if len(self._pending) == self.step:
            self._data.extend(self._pending)
            self._pending.clear()
            arr = np.fromiter(self._data, dtype=np.float64, count=len(self._data))
            self._mean = float(arr.mean())
            self._set_std(float(arr.std()))

    def _set_std(self, std: float) -> None:
        self._std = std if std > 0.0 else 1e-6

    def _dump(self) -> dict[str, Any]:
        return {"data": list(self._data), "pending": list(self._pending), "mean": self._mean,
                "std": self._std, "count": self._count, "m2": self._m2}

    def _load(self, state: dict[str, Any]) -> None:
        self._data.extend(float(v) for v in state["data"])
        self._pending = [float(v) for v in state["pending"]]
        self._mean, self._std = float(state["mean"]), float(state["std"])
        self._count, self._m2 = int(state["count"]), float(state["m2"])
