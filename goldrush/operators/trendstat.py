"""Least-squares slope and its one-sided t-test confidence (SEMANTICS §5.4)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import stdtr


def slope_confidence(times: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(slope b, confidence that b has its sign) for samples with n ≥ 3.

    Centred two-pass sums keep precision with epoch-sized timestamps. Returns
    confidence 0 when the slope is 0 or all samples share one timestamp;
    confidence 1 when the fit is exact (residual variance ≤ 1e-12 × variance).
    """
    n = len(times)
    if n < 3:
        return 0.0, 0.0
    t0 = times[0]
    mt = math.fsum(t - t0 for t in times) / n
    mv = math.fsum(values) / n
    sxx = sxy = syy = 0.0
    for t, v in zip(times, values, strict=True):
        dt = t - t0 - mt
        dv = v - mv
        sxx += dt * dt
        sxy += dt * dv
        syy += dv * dv
    if sxx <= 0.0 or syy <= 0.0 or max(values) == min(values):
        return 0.0, 0.0
    b = sxy / sxx
    if b == 0.0:
        return 0.0, 0.0
    a = mv - b * mt
    ssr = 0.0
    for t, v in zip(times, values, strict=True):
        r = v - a - b * (t - t0)
        ssr += r * r
    if ssr <= 1e-12 * syy:
        return b, 1.0
    se = math.sqrt(ssr / (n - 2) / sxx)
    return b, float(stdtr(n - 2, abs(b) / se))
