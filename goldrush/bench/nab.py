"""`goldrush bench nab`: a detector over the 58 NAB series, scored with NAB v1.1's rules.

One parameter set for every file, a fresh model per file (state reset), each value
scored before it is learned. The data directory defaults to `GOLDRUSH_NAB_DATA` or
the checkout's `../shared/data/nab`; `--data DIR` points anywhere holding NAB's
`data/` and `labels/combined_windows.json`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from goldrush.models.base import Model, VectorModel
from goldrush.models.registry import make_model
from goldrush.nab.corpus import Series, load_corpus
from goldrush.nab.score import PROFILES, ProfileScore, score_corpus
from goldrush.progress import progress

#: NAB's published scoreboard (standard, reward low FP, reward low FN), from ABOUT.md
SCOREBOARD = (
    ("ARTime", 74.9, 65.1, 80.4), ("Numenta HTM", 70.5, 62.6, 75.2), ("CAD OSE", 69.9, 67.0, 73.2),
    ("earthgecko Skyline", 58.2, 46.2, 63.9), ("KNN CAD", 58.0, 43.4, 64.8),
    ("Relative Entropy", 54.6, 47.6, 58.8), ("Random Cut Forest", 51.7, 38.4, 59.7),
    ("Twitter ADVec", 47.1, 33.6, 53.5), ("Windowed Gaussian", 39.6, 20.9, 47.4),
    ("Bayesian Changepoint", 17.7, 3.2, 32.2), ("Random (mean of seeds)", 11.0, 1.2, 19.5), ("Null", 0.0, 0.0, 0.0),
)


def run_detector(name: str, corpus: Sequence[Series]) -> tuple[list[np.ndarray], float]:
    """Scores per file (fresh model each) and the CPU seconds spent in the models."""
    scores = []
    cpu = 0.0
    with progress(len(corpus), f"scoring {name}", "series", background=False) as shown:
        for done, series in enumerate(corpus, 1):
            model = make_model(name)
            if not isinstance(model, Model):
                kind = "scores several metrics together" if isinstance(model, VectorModel) else "is an event model"
                raise SystemExit(f"goldrush bench nab: {name!r} {kind}; NAB needs a one-series numeric detector")
            t0 = time.process_time()
            scores.append(model.update_many(series.values))
            cpu += time.process_time() - t0
            shown(done)
    return scores, cpu


def write_results(results_dir: Path, detector: str, corpus: Sequence[Series], scores: Sequence[np.ndarray]) -> None:
    """NAB's own layout: <dir>/<detector>/<category>/<detector>_<file>.csv."""
    for series, s in zip(corpus, scores, strict=True):
        label = np.zeros(len(series.values), dtype=int)
        for left, right in series.windows:
            label[left:right + 1] = 1
        out = results_dir / detector / series.category / f"{detector}_{series.file}"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "value", "anomaly_score", "label"])
            for ts, v, a, lab in zip(series.timestamps, series.values.tolist(), s.tolist(), label.tolist(),
                                     strict=True):
                w.writerow([ts, int(v) if v.is_integer() else repr(v), repr(a), lab])


def main(data: str | None, detector: str, results_dir: str | None) -> dict[str, ProfileScore]:
    corpus = load_corpus(data)
    rows = sum(len(s.values) for s in corpus)
    print(f"NAB corpus: {len(corpus)} series, {rows:,} rows, {sum(len(s.windows) for s in corpus)} windows")
    scores, cpu = run_detector(detector, corpus)
    print(f"detector {detector}: {rows / cpu:,.0f} samples/s on one core ({cpu:.1f} s CPU)")
    result = score_corpus(corpus, scores)
    if results_dir:
        write_results(Path(results_dir), detector, corpus, scores)
        print(f"per-series scores written under {Path(results_dir) / detector}")
    std, low_fp, low_fn = (result[p.name] for p in PROFILES)
    board = sorted([*SCOREBOARD, (f"goldrush {detector}", std.normalised, low_fp.normalised, low_fn.normalised)],
                   key=lambda r: -r[1])
    print(f"\n{'detector':32s} {'standard':>9s} {'low FP':>8s} {'low FN':>8s}")
    for name, a, b, c in board:
        mark = "  <--" if name.startswith("goldrush ") else ""
        print(f"{name:32s} {a:9.1f} {b:8.1f} {c:8.1f}{mark}")
    for r in (std, low_fp, low_fn):
        print(f"  {r.profile}: threshold {r.threshold:.4f}, TP {r.tp}, FP {r.fp}, FN {r.fn}, raw {r.raw:.2f}")
    print(f"nab detector={detector} standard={std.normalised:.1f} reward_low_fp={low_fp.normalised:.1f} "
          f"reward_low_fn={low_fn.normalised:.1f}")
    return result
