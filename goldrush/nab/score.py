"""NAB v1.1 scoring: per-row weights, one corpus-wide threshold per profile, normalisation.

Each row gets the weight it would earn if it were a detection: inside a window, the
scaled sigmoid of its position (earliest row is worth A_TP); after a window, the
sigmoid of its distance past that window times A_FP (negative); before any window,
−A_FP. A window pays out its best detection only, which is its earliest because the
weight falls monotonically along a window. The threshold sweep walks rows in falling
score order, so the whole corpus is scored for every candidate threshold in one pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .corpus import Series


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass(frozen=True)
class RowWeights:
    """Per-row detection value for one file (probation rows excluded) and its window ids."""

    tp_unit: np.ndarray  # σ(y)/σ(−1) inside windows, 0 elsewhere
    fp_unit: np.ndarray  # σ(y) or −1 outside windows, 0 inside
    window: np.ndarray  # window number (0-based, per file) or −1
    scored: np.ndarray  # bool: row is past probation
    n_windows: int


def row_weights(n: int, windows: Sequence[tuple[int, int]], probation: int) -> RowWeights:
    tp_unit = np.zeros(n)
    fp_unit = np.zeros(n)
    window = np.full(n, -1, dtype=np.int64)
    norm = scaled_sigmoid(-1.0)
    prev_right: int | None = None
    prev_width = 0
    bounds = sorted(windows)
    w_iter = 0
    i = 0
    while i < n:
        if w_iter < len(bounds) and i == bounds[w_iter][0]:
            left, right = bounds[w_iter]
            width = right - left + 1
            for j in range(left, min(right, n - 1) + 1):
                tp_unit[j] = scaled_sigmoid(-(right - j + 1) / width) / norm
                window[j] = w_iter
            prev_right, prev_width = right, width
            w_iter += 1
            i = right + 1
            continue
        if prev_right is None:
            fp_unit[i] = -1.0
        else:
            denom = prev_width - 1
            fp_unit[i] = scaled_sigmoid(abs(prev_right - i) / denom) if denom > 0 else -1.0
        i += 1
    scored = np.arange(n) >= probation
    return RowWeights(tp_unit, fp_unit, window, scored, len(bounds))


@dataclass(frozen=True)
class ProfileScore:
    profile: str
    threshold: float
    raw: float
    normalised: float
    tp: int
    fp: int
    fn: int


def _counts(detected: Sequence[np.ndarray], weights: Sequence[RowWeights], profile: Profile) -> tuple[float, int, int, int]:
    raw, tp, fp, fn = 0.0, 0, 0, 0
    for det, w in zip(detected, weights, strict=True):
        det = det & w.scored
        hit = det & (w.window >= 0)
        best = np.zeros(w.n_windows)
        if hit.any():
            np.maximum.at(best, w.window[hit], w.tp_unit[hit])
        found = np.zeros(w.n_windows, dtype=bool)
        found[np.unique(w.window[hit])] = True
        tp += int(found.sum())
        fn += int((~found).sum())
        raw += profile.tp * float(best[found].sum()) - profile.fn * float((~found).sum())
        false = det & (w.window < 0)
        fp += int(false.sum())
        raw += profile.fp * float(w.fp_unit[false].sum())
    return raw, tp, fp, fn


def score_corpus(series: Sequence[Series], scores: Sequence[np.ndarray],
                 profiles: Sequence[Profile] = PROFILES) -> dict[str, ProfileScore]:
    """Best corpus-wide threshold per profile (detection: score ≥ threshold)."""
    weights = [row_weights(len(s.values), s.windows, s.probation) for s in series]
    return {p.name: _sweep(weights, [np.asarray(a, dtype=np.float64) for a in scores], p) for p in profiles}


def score_at(series: Sequence[Series], scores: Sequence[np.ndarray], threshold: float,
             profile: Profile) -> ProfileScore:
    weights = [row_weights(len(s.values), s.windows, s.probation) for s in series]
    return _finish(weights, [np.asarray(a) for a in scores], threshold, profile)


def _finish(weights: list[RowWeights], scores: list[np.ndarray], threshold: float, profile: Profile) -> ProfileScore:
    raw, tp, fp, fn = _counts([a >= threshold for a in scores], weights, profile)
    total_windows = sum(w.n_windows for w in weights)
    null = -profile.fn * total_windows
    perfect = profile.tp * total_windows
    norm = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
    return ProfileScore(profile.name, threshold, raw, norm, tp, fp, fn)


def _sweep(weights: list[RowWeights], scores: list[np.ndarray], profile: Profile) -> ProfileScore:
    # Gather every scored row of the corpus with a global window id.
    vals, tpw, fpw, wid = [], [], [], []
    offset = 0
    for w, a in zip(weights, scores, strict=True):
        if len(a) != len(w.scored):
            raise ValueError(f"score array has {len(a)} rows, the file has {len(w.scored)}")
        m = w.scored
        vals.append(a[m])
        tpw.append(w.tp_unit[m] * profile.tp)
        fpw.append(w.fp_unit[m] * profile.fp)
        wid.append(np.where(w.window[m] >= 0, w.window[m] + offset, -1))
        offset += w.n_windows
    v = np.concatenate(vals)
    if np.isnan(v).any():
        raise ValueError("anomaly scores contain NaN")
    order = np.argsort(-v, kind="stable")
    v, tpw, fpw, wid = v[order], np.concatenate(tpw)[order], np.concatenate(fpw)[order], np.concatenate(wid)[order]
    best_in = np.zeros(offset)
    raw = -profile.fn * offset
    best_raw, best_thr = raw, float(v[0]) + 1.0 if len(v) else 1.0
    fnw = profile.fn
    i, n = 0, len(v)
    while i < n:
        thr = v[i]
        # Every row with this exact score joins at once: the threshold cannot split them.
        while i < n and v[i] == thr:
            k = wid[i]
            if k < 0:
                raw += fpw[i]
            else:
                old = best_in[k]
                new = tpw[i]
                if old == 0.0:
                    raw += fnw + new
                    best_in[k] = new
                elif new > old:
                    raw += new - old
                    best_in[k] = new
            i += 1
        if raw > best_raw:
            best_raw, best_thr = raw, float(thr)
    return _finish(weights, scores, best_thr, profile)
