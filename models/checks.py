"""The checks every model passes, public so that users run them on their own models (cf. `river.checks`).

A model that passes them can be named in an `anomaly(...)` clause: its state survives a
snapshot and a restart, bad input never poisons it, it never looks ahead, and its state
stays bounded however long the stream. Each check raises `AssertionError` saying what
failed; `check_model` runs all that apply to the model's kind.

>>> from goldrush.models.checks import check_model
>>> check_model("anomaly_detection", n=600)
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from goldrush.events.envelope import decode
from goldrush.models.base import Model, Stateful, VectorModel
from goldrush.models.registry import make_model

Factory = Callable[[], Stateful]


def series(n: int, seed: int = 1) -> list[float]:
    """A seasonal series with a spike every 700 samples, so that every model has something to react to."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x = 50 + 10 * math.sin(i / 30) + rng.gauss(0, 2)
        if i % 700 == 650:
            x += 80
        out.append(x)
    return out


def vsm_events(n: int, seed: int = 2) -> list[Any]:
    """About `n` simulated VSM events of one tenant, in event-time order."""
    from goldrush.simulator import simulate  # the simulator is only needed for event models

    evs = [decode(e) for e in simulate("mixed", tenants=1, rate=40, duration=n / 40, seed=seed)]
    evs.sort(key=lambda e: e.timestamp)
    return evs


def vectors(n: int, seed: int = 3) -> list[list[float]]:
    """Three related measures (load, utilisation, latency) with the spikes of `series`, for vector models."""
    rng = random.Random(seed)
    return [[x, 0.01 * x + rng.gauss(0, 0.05), 100 + 2 * x + rng.gauss(0, 5)] for x in series(n, seed)]


def _factory(model: str | type[Stateful] | Factory) -> Factory:
    if isinstance(model, str):
        return lambda: make_model(model)
    return model


def _inputs(m: Stateful, n: int) -> list[Any]:
    return series(n) if isinstance(m, Model) else vectors(n) if isinstance(m, VectorModel) else vsm_events(n)


def _time(x: Any, i: int) -> float:
    return float(i) if not hasattr(x, "timestamp") else x.timestamp


def _step(m: Stateful, x: Any, t: float) -> float:
    return m.update_one(x, t) if isinstance(m, Model | VectorModel) else m.update_event(x)


def check_state_round_trip(model: str | type[Stateful] | Factory, n: int = 3000) -> None:
    """A model restored from its JSON state scores the rest of the stream exactly as the original."""
    make = _factory(model)
    a = make()
    xs = _inputs(a, n)
    cut = len(xs) // 2
    for i, x in enumerate(xs[:cut]):
        _step(a, x, _time(x, i))
    b = type(a).from_state(json.loads(json.dumps(a.to_state())))  # through JSON, as the changelog stores it
    assert b.params() == a.params(), (b.params(), a.params())
    for i, x in enumerate(xs[cut:], cut):
        t = _time(x, i)
        assert _step(a, x, t) == _step(b, x, t), f"scores differ after the round trip at input {i}"
    assert a.to_state() == b.to_state()


def check_scores(model: str | type[Stateful] | Factory, n: int = 2000) -> None:
    """Scores are in [0, 1], never NaN, and `update` is `score` then `learn`."""
    make = _factory(model)
    a, b = make(), make()
    for i, x in enumerate(_inputs(a, n)):
        t = _time(x, i)
        if isinstance(b, Model | VectorModel):
            s = b.score_one(x, t)
            b.learn_one(x, t)
        else:
            s = b.score_event(x)
            b.learn_event(x)
        u = _step(a, x, t)
        assert s == u, f"update gave {u}, score then learn gave {s} at input {i}"
        assert 0.0 <= u <= 1.0 and not math.isnan(u), f"score {u} at input {i}"


def check_bad_input(model: str | type[Stateful] | Factory, n: int = 1500) -> None:
    """NaN and ±inf samples (numeric models; in one measure, vector models) or events without
    their fields (event models) score 0 and leave the model as it was."""
    make = _factory(model)
    a, b = make(), make()
    if isinstance(a, Model | VectorModel):
        vector = isinstance(a, VectorModel)
        for i, x in enumerate(vectors(n) if vector else series(n)):
            if i % 50 == 7:
                for bad in (math.nan, math.inf, -math.inf):
                    assert a.update_one([x[0], bad, x[2]] if vector else bad, float(i)) == 0.0, f"{bad} did not score 0"
            assert a.update_one(x, float(i)) == b.update_one(x, float(i)), f"bad input changed the model ({i})"
        return
    for i, ev in enumerate(vsm_events(n)):
        if i % 40 == 3:
            bad = decode({"name": ev.name, "timestamp": ev.timestamp, "tenant": ev.tenant,
                          "data": {k: None for k in ev.data}})
            assert a.update_event(bad) == 0.0, f"an event without its fields did not score 0 ({ev.name})"
        assert a.update_event(ev) == b.update_event(ev), f"an event without its fields changed the model ({i})"


def check_no_look_ahead(model: str | type[Stateful] | Factory, n: int = 2500) -> None:
    """`update_many` equals a loop of `update_one`, and a prefix's scores do not depend on what follows."""
    make = _factory(model)
    loop = make()
    assert isinstance(loop, Model | VectorModel), "event models score one event at a time"
    xs: list[Any] = vectors(n) if isinstance(loop, VectorModel) else series(n)
    expected = [loop.update_one(x) for x in xs]
    assert make().update_many(xs).tolist() == expected, "update_many differs from a loop of update_one"
    cut = n // 2
    assert make().update_many(xs[:cut]).tolist() == expected[:cut], "scores depend on later samples"


def check_bounded_state(model: str | type[Stateful] | Factory, n: int = 4000) -> None:
    """State after 10·n inputs is under twice that after n (or 60 kB): it does not grow with the stream."""
    make = _factory(model)

    def size(count: int) -> int:
        m = make()
        for i, x in enumerate(_inputs(m, count)):
            _step(m, x, _time(x, i))
        return len(json.dumps(m.to_state()))

    small, big = size(n), size(10 * n)
    assert big < max(2 * small, 60_000), f"state grew from {small} to {big} bytes"


CHECKS = (check_state_round_trip, check_scores, check_bad_input, check_no_look_ahead, check_bounded_state)


def yield_checks(model: str | type[Stateful] | Factory) -> Iterator[Callable[..., None]]:
    """The checks that apply to this model's kind; call each as `check(model)` (a test per check)."""
    numeric = isinstance(_factory(model)(), Model | VectorModel)
    for check in CHECKS:
        if numeric or check is not check_no_look_ahead:  # event models score one event at a time
            yield check


def check_model(model: str | type[Stateful] | Factory, n: int | None = None) -> None:
    """Run every check on a registered model name, a model class, or a function making one.

    `n` sets the length of the inputs of every check but `check_bounded_state`, which needs
    streams long enough to fill the model's windows (the defaults take seconds per model)."""
    for check in yield_checks(model):
        if n is None or check is check_bounded_state:
            check(model)
        else:
            check(model, n)
