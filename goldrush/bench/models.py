"""`goldrush bench models`: samples/s of every model on one core, same input, same run.

Numeric models read a real operations series (NAB's machine temperature when the
data is present, else a seeded noisy daily cycle); event models read simulated VSM
events. CPU time, best of `repeat`: the machine is shared and wall time is noisy.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import numpy as np

from goldrush.events import decode
from goldrush.models.base import EventModel, Model
from goldrush.models.registry import make_model, model_names
from goldrush.progress import progress
from goldrush.simulator import simulate


def _series(n: int) -> np.ndarray:
    try:
        from goldrush.nab.corpus import load_corpus

        values = np.concatenate([s.values for s in load_corpus()])
        return values[:n]
    except FileNotFoundError:
        rng = random.Random(7)
        return np.array([50 + 20 * math.sin(i / 144) + rng.gauss(0, 3) for i in range(n)])


def main(samples: int = 200_000, repeat: int = 3) -> dict[str, float]:
    values = _series(samples)
    events = [decode(e) for e in simulate("mixed", tenants=1, rate=50, duration=samples / 50, seed=5)]
    out = {}
    names = model_names()
    with progress(len(names) * repeat, "bench models", "runs", background=False) as shown:
        for index, name in enumerate(names):
            out[name] = _samples_per_second(name, values, events, repeat,
                                            lambda run, index=index: shown(index * repeat + run))
    for name, rate in out.items():
        kind = "numeric" if isinstance(make_model(name), Model) else "events"
        print(f"{name:26s} {kind:8s} {rate:>12,.0f} samples/s")
    return out


def _samples_per_second(name: str, values: np.ndarray, events: list, repeat: int,
                        shown: Callable[[int], None]) -> float:
    """Best of `repeat` runs of a fresh model over the series (numeric) or the events (event models)."""
    best, n = math.inf, 1
    for run in range(1, repeat + 1):
        model = make_model(name)
        t0 = time.process_time()
        if isinstance(model, Model):
            model.update_many(values)
            n = len(values)
        else:
            assert isinstance(model, EventModel)
            update = model.update_event
            for ev in events:
                update(ev)
            n = len(events)
        best = min(best, time.process_time() - t0)
        shown(run)
    return n / best
