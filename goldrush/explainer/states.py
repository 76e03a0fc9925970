"""The state of each clause of one key, read from the engine's own operator state.

Used by `goldrush explain` after every event and by the worker's live `/explain`. It
reads and never changes the state (a live key stage must not have its windows expired
at another key's clock), and it works from the same windows the operators keep: a
frequency's count is the timestamps its deque holds inside the window, a trend's fit
is `trendstat.slope_confidence` (the engine's exact fit) of the samples in its window,
a model's score is the one the engine compared.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import stdtr

from goldrush.compiler.compiled import CompiledPattern, CompiledSet
from goldrush.dsl.expr import render
from goldrush.operators import (
    COUNT_OPS,
    ConcurrentOp,
    FrequencyOp,
    RecentOp,
    SequenceOp,
    TrendOp,
)
from goldrush.operators.trendstat import slope_confidence


def spec_text(compiled: CompiledSet, gid: int) -> str:
    """`event('glob', where)` as the user wrote it (after simplification)."""
    spec = compiled.specs[gid]
    return f"event({spec.glob!r}" + ("" if spec.node is None else f", {render(spec.node)}") + ")"


def clause_state(compiled: CompiledSet, op: Any, st: Any, t: float) -> dict[str, Any]:
    """One clause's figures at time `t` and whether it holds there (`holds`)."""
    if isinstance(op, SequenceOp):
        return _sequence(compiled, op, st, t)
    if isinstance(op, FrequencyOp):
        inside = not st or (t - op.within < st[0] and st[-1] <= t)  # expired to t already: the usual case
        count = len(st) if inside else sum(1 for ts in st if t - op.within < ts <= t)
        sign = next(k for k, f in COUNT_OPS.items() if f is op.compare)
        return {"op": "frequency", "count": count, "compare": sign, "threshold": op.n, "within": op.within,
                "holds": op.compare(count, op.n)}
    if isinstance(op, RecentOp):
        last = st[0]
        holds = last is not None and t - op.within < last
        return {"op": "recent", "last": last, "within": op.within, "holds": holds}
    if isinstance(op, ConcurrentOp):
        latest = [None if ts is None or (op.within is not None and t - ts > op.within) else ts for ts in st]
        return {"op": "concurrent", "latest_true": latest, "within": op.within,
                "holds": all(ts is not None for ts in latest)}
    if isinstance(op, TrendOp):
        return _trend(op, st, t)
    return _model(op, st, t)


def _sequence(compiled: CompiledSet, op: SequenceOp, st: list, t: float) -> dict[str, Any]:
    """How far the live partial matches got: the furthest one, its events and deadline."""
    alive = [p for p in st
             if not (op.within is not None and t - p.first > op.within)
             and not (op.step_within[p.k] is not None and t - p.last > op.step_within[p.k])]
    best = max(alive, key=lambda p: (p.k, -p.first), default=None)
    out: dict[str, Any] = {"op": "sequence", "steps": op.n, "partials": len(alive), "holds": None,
                           "reached": 0 if best is None else best.k}
    if best is not None:
        deadlines = [d for d in (None if op.within is None else best.first + op.within,
                                 None if op.step_within[best.k] is None else best.last + op.step_within[best.k])
                     if d is not None]
        out.update(at=best.last, events=[e.id for e in best.events()],
                   next_step=spec_text(compiled, op.gids[best.k]),
                   deadline=min(deadlines) if deadlines else None)
    return out


def _trend(op: TrendOp, st: Any, t: float) -> dict[str, Any]:
    window = st.times
    if not window or (t - op.duration < window[0] and window[-1] <= t):  # expired to t already
        n, times, values = len(window), None, None
    else:
        times = np.fromiter(window, float, len(window))
        inside = (times > t - op.duration) & (times <= t)
        times = times[inside]
        values = np.fromiter(st.values, float, len(st.values))[inside]
        n = len(times)
    direction = "increasing" if op.sign > 0 else "decreasing"
    out: dict[str, Any] = {"op": "trend", "samples": n, "min_samples": op.min_samples, "direction": direction,
                           "required_confidence": op.confidence, "duration": op.duration,
                           "slope_per_second": None, "confidence": None, "holds": False}
    if n >= 3:
        quick = _from_sums(st, n, op.confidence) if times is None else None
        if quick is None and times is None:
            times, values = np.fromiter(st.times, float, n), np.fromiter(st.values, float, n)
        slope, conf = quick if quick is not None else fit(times, values, op.confidence)
        out.update(slope_per_second=slope, confidence=conf)
        out["holds"] = n >= op.min_samples and slope * op.sign > 0 and conf >= op.confidence
    return out


def _from_sums(st: Any, n: int, required: float) -> tuple[float, float] | None:
    """The fit from the running sums the engine keeps (`TrendOp._decide`'s fast path), or None
    where that path defers to the exact fit: cancellation, a near-exact fit, or an answer
    within 1e-9 of `required`."""
    sx, sy = st.sx, st.sy
    cxx, cyy, cxy = st.sxx - sx * sx / n, st.syy - sy * sy / n, st.sxy - sx * sy / n
    if not (cxx > 1e-4 * st.sxx and cyy > 1e-4 * st.syy and abs(cxy) > 1e-6 * math.sqrt(st.sxx * st.syy)):
        return None
    b = cxy / cxx
    ssr = cyy - b * cxy
    if not ssr > 1e-6 * cyy:
        return None
    conf = float(stdtr(n - 2, abs(b) / math.sqrt(ssr / (n - 2) / cxx)))
    return None if abs(conf - required) <= 1e-9 else (b, conf)


def fit(times: np.ndarray, values: np.ndarray, required: float) -> tuple[float, float]:
    """`trendstat.slope_confidence` in numpy (the window is refitted at every event), and
    exactly that function where the answer is within 1e-9 of `required`, as the engine does."""
    tc = times - times[0]
    tc -= tc.mean()
    vc = values - values.mean()
    sxx, sxy, syy = float(tc @ tc), float(tc @ vc), float(vc @ vc)
    if sxx <= 0.0 or syy <= 0.0 or values.max() == values.min():
        return 0.0, 0.0
    b = sxy / sxx
    if b == 0.0:
        return 0.0, 0.0
    r = vc - b * tc
    ssr = float(r @ r)
    if ssr <= 1e-12 * syy:
        conf = 1.0
    else:
        conf = float(stdtr(len(times) - 2, abs(b) / math.sqrt(ssr / (len(times) - 2) / sxx)))
    if abs(conf - required) <= 1e-9 or ssr <= 1e-6 * syy:
        return slope_confidence(times.tolist(), values.tolist())
    return b, conf


def _model(op: Any, st: Any, t: float) -> dict[str, Any]:
    """An anomaly clause (models/clause.py): the model's latest score against the bound."""
    clause = getattr(op, "clause", None)
    model = getattr(clause, "model", type(op).__name__)
    at = getattr(st, "at", None)
    score = getattr(st, "score", None) if at is not None else None
    holds = bool(op.holds(st, t)) if hasattr(op, "holds") else None  # AnomalyOp.holds only reads
    out = {"op": "anomaly", "model": model, "score": score, "at": at, "holds": holds}
    if clause is not None:
        out.update(compare=clause.score[0], threshold=clause.score[1])
    return out


def key_states(compiled: CompiledSet, cp: CompiledPattern, key_state: Any, t: float) -> list[dict[str, Any]]:
    """Every clause of `cp`, in clause order, for one key's `KeyState` at `t`."""
    return [{"clause": op.slot + 1, **clause_state(compiled, op, key_state.ops[op.slot], t)} for op in cp.ops]
