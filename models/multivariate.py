"""Several measures scored together: PCA on a sliding reference window, Hotelling's T² and Q.

Why: per-channel detectors judge each measure against its own past, so a
*relation* that breaks (utilisation high while the load is low, latency up while
errors stay flat) goes unseen as long as every value stays in its usual range.
Classical multivariate statistical process control catches exactly that
(Jackson & Mudholkar 1979; MacGregor & Kourti 1995): standardise the measures,
fit a PCA to a reference window, and watch two statistics of each new vector —

- **T²** (Hotelling): its distance *inside* the model plane, in units of each
  component's variance: a familiar relation at unusual magnitudes;
- **Q** (squared prediction error): its distance *off* the plane: a relation that
  does not hold any more.

The score is 1 − p of the more extreme of the two, p taken from the standard
reference distributions (T² of a new observation: a scaled F(k, n − k); Q: Box's
g·χ²(h) approximation with g = θ₂/θ₁, h = θ₁²/θ₂ of the residual eigenvalues), so a
clause bound of 0.999 means "one false alarm per 1,000 inputs if the measures
are Gaussian". The reference is the last `window` vectors and is refitted
(scikit-learn's PCA) every `refit` inputs, so the model follows slow drift and
accepts a lasting change after about one window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import chdtr, fdtr
from sklearn.decomposition import PCA

from .base import ModelError, VectorModel, check_number, vector

#: eigenvalues are floored at this share of the total (standardised) variance:
#: measures that are exactly collinear in the reference must not make rounding an alarm
RESIDUAL_FLOOR = 1e-3


class MultivariatePCA(VectorModel):
    name = "multivariate_pca"
    meaning = "1 − p of Hotelling's T² or Q (whichever is more extreme) against a PCA of the recent window"
    evidence = {"score": "tail"}

    def __init__(self, window: int = 500, refit: int = 200, variance: float = 0.9, warmup: int = 100,
                 min_std: float = 1e-6):
        check_number("window", window, 10, 1_000_000, integer=True)
        check_number("refit", refit, 1, integer=True)
        check_number("variance", variance, 0.0, 1.0)
        check_number("warmup", warmup, 10, integer=True)
        check_number("min_std", min_std, 0.0)
        if warmup > window:
            raise ModelError(f"warmup must be at most window ({window}), got {warmup}")
        self.window, self.refit, self.variance = window, refit, float(variance)
        self.warmup, self.min_std = warmup, float(min_std)
        self._ref: deque[tuple[float, ...]] = deque(maxlen=window)
        self._dims: int | None = None
        self._since = 0  # inputs learned since the last fit
        self._fit: dict[str, Any] | None = None
        self._centre: tuple[float, ...] = ()
        self._scale: tuple[float, ...] = ()
        self._rows: tuple[tuple[tuple[float, ...], float], ...] = ()

    def params(self) -> dict[str, Any]:
        return {"window": self.window, "refit": self.refit, "variance": self.variance, "warmup": self.warmup,
                "min_std": self.min_std}

    # -- fitting -------------------------------------------------------------
    def _refit(self) -> None:
        """Standardise the reference, fit the PCA, keep what scoring needs as plain floats."""
        x = np.asarray(self._ref, dtype=np.float64)
        n, d = x.shape
        mean = x.mean(axis=0)
        scale = np.maximum(x.std(axis=0), np.maximum(self.min_std, 1e-9 * np.maximum(1.0, np.abs(mean))))
        z = (x - mean) / scale
        if float(z.var(axis=0).sum()) > 0.0:
            pca = PCA(svd_solver="full").fit(z)
            eig, components = np.maximum(pca.explained_variance_, 0.0), pca.components_
        else:  # every measure constant over the window: any change at all is off the model
            eig, components = np.zeros(d), np.eye(d)
        total = float(eig.sum()) or 1.0
        # k: fewest components reaching `variance`, leaving at least one residual direction for Q
        k = int(np.searchsorted(np.cumsum(eig) / total, self.variance - 1e-12) + 1)
        k = max(1, min(k, d - 1)) if d > 1 else 1
        floor = RESIDUAL_FLOOR * d  # standardised measures: the total variance is about d
        res = np.maximum(eig[k:], floor)
        theta1, theta2 = float(res.sum()), float((res * res).sum())
        self._use({
            "n": n, "k": k, "mean": mean.tolist(), "scale": scale.tolist(),
            "components": components[:k].tolist(), "eig": np.maximum(eig[:k], floor).tolist(),
            "g": theta2 / theta1 if theta1 else 1.0, "h": theta1 * theta1 / theta2 if theta2 else 1.0,
        })
        self._since = 0

    # -- scoring -------------------------------------------------------------
    def statistics(self, x: Sequence[float]) -> tuple[float, float] | None:
        """(T², Q) of `x` against the current fit, or None before the first fit or for a bad vector."""
        v = vector(x, self._dims)
        return None if self._fit is None or v is None else self._statistics(v)

    def _statistics(self, v: list[float]) -> tuple[float, float]:
        z = [(a - m) / s for a, m, s in zip(v, self._centre, self._scale, strict=True)]
        zz = 0.0
        for c in z:
            zz += c * c
        t2 = inside = 0.0
        for row, inv in self._rows:
            score = 0.0
            for p, c in zip(row, z, strict=True):
                score += p * c
            inside += score * score
            t2 += score * score * inv
        return t2, (max(zz - inside, 0.0) if len(v) > 1 else 0.0)

    def _score(self, v: list[float] | None) -> float:
        fit = self._fit
        if fit is None or v is None:
            return 0.0
        t2, q = self._statistics(v)
        n, k = fit["n"], fit["k"]
        p_t2 = float(fdtr(k, n - k, t2 * n * (n - k) / (k * (n * n - 1.0)))) if n > k else 0.0
        p_q = float(chdtr(fit["h"], q / fit["g"])) if q > 0.0 else 0.0
        return min(1.0, max(p_t2, p_q, 0.0))

    def _use(self, fit: dict[str, Any] | None) -> None:
        """Adopt `fit`, with the numbers scoring reads per input unpacked into plain tuples."""
        self._fit = fit
        if fit is not None:
            self._centre, self._scale = tuple(fit["mean"]), tuple(fit["scale"])
            self._rows = tuple((tuple(r), 1.0 / lam) for r, lam in zip(fit["components"], fit["eig"], strict=True))

    def _learn(self, v: list[float] | None) -> None:
        if v is None:
            return
        self._dims = len(v)
        self._ref.append(tuple(v))
        self._since += 1
        if len(self._ref) >= max(self.warmup, self._dims + 2) and (self._fit is None or self._since >= self.refit):
            self._refit()

    def score_one(self, x: Sequence[float], t: float | None = None) -> float:
        return self._score(vector(x, self._dims))

    def learn_one(self, x: Sequence[float], t: float | None = None) -> None:
        self._learn(vector(x, self._dims))

    def update_one(self, x: Sequence[float], t: float | None = None) -> float:
        v = vector(x, self._dims)  # checked once, not once to score and once to learn
        s = self._score(v)
        self._learn(v)
        return s

    # -- state ---------------------------------------------------------------
    def _dump(self) -> dict[str, Any]:
        return {"ref": [list(r) for r in self._ref], "dims": self._dims, "since": self._since, "fit": self._fit}

    def _load(self, state: dict[str, Any]) -> None:
        self._ref.extend(tuple(float(v) for v in r) for r in state["ref"])
        self._dims = None if state["dims"] is None else int(state["dims"])
        self._since = int(state["since"])
        fit = state["fit"]
        if fit is not None and len(fit["components"]) != fit["k"]:
            raise ModelError(f"bad {self.name} state: {len(fit['components'])} components for k={fit['k']}")
        self._use(fit)
