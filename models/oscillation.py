"""Load oscillation: periodic swings around the mean whose amplitude keeps growing.

The deviation of a short average (`smooth`) from a slow one (`alpha`) is cut into half-cycles at
sign changes (with a hysteresis of `hysteresis` × the typical step, so noise does
not count as a swing). Over the last `swings` half-cycles the score is the share
of consecutive peaks that grew by at least `growth`, times a regularity factor
(1 when the half-cycle lengths vary by less than half their mean), and only when
the newest peak is at least `ratio` × the smallest one and at least `amplitude` ×
the noise (the standard deviation of the raw sample-to-sample change, which slow
swings barely move); else 0. The noise gate is what keeps random wobbles of a
noisy but steady load from looking like a growing oscillation.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any

from .base import Model, check_number, number
from .fit import EWStats


class LoadOscillation(Model):
    name = "load_oscillation"
    meaning = "periodic swings with growing amplitude: share of growing peaks × regularity"
    evidence = {"ratio": "excess", "growth": "scale"}

    def __init__(self, alpha: float = 0.03, swings: int = 6, growth: float = 0.0, ratio: float = 1.3,
                 hysteresis: float = 1.5, smooth: float = 0.2, amplitude: float = 2.0):
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("swings", swings, 3, 64, integer=True)
        check_number("growth", growth, 0.0)
        check_number("ratio", ratio, 1.0)
        check_number("hysteresis", hysteresis, 0.0)
        check_number("smooth", smooth, 1e-6, 1.0)
        check_number("amplitude", amplitude, 0.0)
        self.amplitude = float(amplitude)
        self._noise = EWStats(0.05)  # (x − previous x)² / 2: the raw noise variance, blind to slow swings
        self._raw: float | None = None
        self.alpha, self.swings, self.growth = float(alpha), swings, float(growth)
        self.ratio, self.hysteresis, self.smooth = float(ratio), float(hysteresis), float(smooth)
        self._mean = EWStats(self.alpha)
        self._fast = EWStats(self.smooth)  # a short average: single noisy samples are not swings
        self._step = EWStats(0.05)  # typical |x − previous x|: the noise floor
        self._prev: float | None = None
        self._sign = 0
        self._peak = 0.0
        self._length = 0
        self._peaks: deque[tuple[float, int]] = deque(maxlen=swings)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "swings": self.swings, "growth": self.growth, "ratio": self.ratio,
                "hysteresis": self.hysteresis, "smooth": self.smooth, "amplitude": self.amplitude}

    def _advance(self, v: float) -> tuple[int, float, int, tuple[float, int] | None]:
        """(sign, peak, length, closed half-cycle) after seeing v; changes nothing."""
        fast = v if self._fast.n == 0 else self._fast.mean + self.smooth * (v - self._fast.mean)
        d = fast - self._mean.mean if self._mean.n else 0.0
        floor = self.hysteresis * self._step.mean
        sign, peak, length = self._sign, self._peak, self._length + 1
        closed = None
        if abs(d) > floor and d != 0.0:
            s = 1 if d > 0 else -1
            if s != sign:
                if sign != 0:
                    closed = (peak, self._length)
                sign, peak, length = s, abs(d), 1
            else:
                peak = max(peak, abs(d))
        return sign, peak, length, closed

    def _score(self, peaks: list[tuple[float, int]]) -> float:
        if len(peaks) < self.swings:
            return 0.0
        amps = [p for p, _ in peaks]
        if min(amps) <= 0.0 or amps[-1] < self.ratio * min(amps):
            return 0.0
        if amps[-1] < self.amplitude * math.sqrt(self._noise.mean):
            return 0.0  # swings no larger than the noise: chance, not oscillation
        grew = sum(1 for a, b in zip(amps, amps[1:], strict=False) if b >= a * (1.0 + self.growth))
        lengths = [n for _, n in peaks]
        mean = statistics.fmean(lengths)
        cv = statistics.pstdev(lengths) / mean if mean else 1.0
        regular = 1.0 if cv <= 0.5 else max(0.0, 1.5 - cv)
        return grew / (len(amps) - 1) * regular

    def score_one(self, x: float, t: float | None = None) -> float:
        v = number(x)
        if v is None:
            return 0.0
        *_, closed = self._advance(v)
        peaks = list(self._peaks)
        if closed is not None:
            peaks = (peaks + [closed])[-self.swings:]
        return self._score(peaks)

    def learn_one(self, x: float, t: float | None = None) -> None:
        v = number(x)
        if v is None:
            return
        self._sign, self._peak, self._length, closed = self._advance(v)
        if closed is not None:
            self._peaks.append(closed)
        fast = v if self._fast.n == 0 else self._fast.mean + self.smooth * (v - self._fast.mean)
        if self._prev is not None:
            self._step.add(abs(fast - self._prev))
        self._prev = fast
        if self._raw is not None:
            self._noise.add(0.5 * (v - self._raw) ** 2)
        self._raw = v
        self._fast.add(v)
        self._mean.add(v)

    def _dump(self) -> dict[str, Any]:
        return {"mean": self._mean.dump(), "fast": self._fast.dump(), "step": self._step.dump(), "prev": self._prev, "sign": self._sign,
                "peak": self._peak, "length": self._length, "peaks": [list(p) for p in self._peaks],
                "noise": self._noise.dump(), "raw": self._raw}

    def _load(self, state: dict[str, Any]) -> None:
        self._mean.load(state["mean"])
        self._fast.load(state["fast"])
        self._step.load(state["step"])
        self._prev = None if state["prev"] is None else float(state["prev"])
        self._sign, self._peak, self._length = int(state["sign"]), float(state["peak"]), int(state["length"])
        self._peaks.extend((float(p), int(n)) for p, n in state["peaks"])
        self._noise.load(state["noise"])
        self._raw = None if state["raw"] is None else float(state["raw"])
