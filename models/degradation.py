"""Performance degradation: a sustained shift of latency up (or throughput down).

A one-sided CUSUM of the standardised log value against a slowly learned
baseline. The baseline stops learning while the CUSUM is above half its
threshold, so a slow degradation is not quietly absorbed as the new normal;
once a shift has lasted `accept` samples it is accepted and the CUSUM restarts.
Score = CUSUM / `h`, capped at 1: 1 means "the level has moved by more than
noise for long enough to be a change point".
"""

from __future__ import annotations

import math
from typing import Any

from .base import Model, ModelError, check_number, number
from .fit import EWStats


class PerformanceDegradation(Model):
    name = "performance_degradation"
    meaning = "sustained latency rise (or throughput fall) against the learned baseline, as CUSUM/h"
    evidence = {"h": "scale"}

    def __init__(self, direction: str = "up", log: bool = True, alpha: float = 0.01, k: float = 1.0,
                 h: float = 12.0, warmup: int = 100, accept: int = 500):
        if direction not in ("up", "down"):
            raise ModelError(f"direction must be 'up' (latency) or 'down' (throughput), got {direction!r}")
        if not isinstance(log, bool):
            raise ModelError(f"log must be True or False, got {log!r}")
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("k", k, 0.0)
        check_number("h", h, 1e-6)
        check_number("warmup", warmup, 2, integer=True)
        check_number("accept", accept, 1, integer=True)
        self.direction, self.log, self.alpha, self.k, self.h = direction, log, float(alpha), float(k), float(h)
        self.warmup, self.accept = warmup, accept
        self._sign = 1.0 if direction == "up" else -1.0
        self._base = EWStats(self.alpha)
        self._s = 0.0
        self._shifted = 0  # samples spent above h

    def params(self) -> dict[str, Any]:
        return {"direction": self.direction, "log": self.log, "alpha": self.alpha, "k": self.k, "h": self.h,
                "warmup": self.warmup, "accept": self.accept}

    def _value(self, x: Any) -> float | None:
        v = number(x)
        if v is None or (self.log and v <= 0.0):
            return None  # a latency of 0 or less has no logarithm: not a sample
        return math.log(v) if self.log else v

    def _next(self, v: float) -> float:
        if self._base.n < self.warmup:
            return 0.0
        return max(0.0, self._s + self._sign * self._base.z(v) - self.k)

    def score_one(self, x: float, t: float | None = None) -> float:
        v = self._value(x)
        return 0.0 if v is None else min(1.0, self._next(v) / self.h)

    def learn_one(self, x: float, t: float | None = None) -> None:
        v = self._value(x)
        if v is None:
            return
        s = self._next(v)
        self._shifted = self._shifted + 1 if s > self.h else 0
        if self._shifted >= self.accept:  # the new level is the normal now
            self._base = EWStats(self.alpha)
            self._shifted = 0
            s = 0.0
        self._s = s
        if s <= self.h / 2:
            self._base.add(v)

    def _dump(self) -> dict[str, Any]:
        return {"base": self._base.dump(), "s": self._s, "shifted": self._shifted}

    def _load(self, state: dict[str, Any]) -> None:
        self._base.load(state["base"])
        self._s, self._shifted = float(state["s"]), int(state["shifted"])
