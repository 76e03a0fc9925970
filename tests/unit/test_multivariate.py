"""The multivariate detector: what it sees that per-channel detectors cannot, and its DSL clause."""

from __future__ import annotations

import json

import numpy as np
import pytest

from goldrush import Pattern, PatternError, metric, replay
from goldrush.engine import Engine
from goldrush.events import decode
from goldrush.models.base import Model, ModelError
from goldrush.models.clause import anomaly
from goldrush.models.registry import make_model, model_names

BREAK = slice(4000, 4100)
NORMAL = slice(300, 4000)


def _load_and_utilisation(n: int = 4400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Utilisation follows the load; from sample 4000 it mirrors it (a stuck scaler, a leak).

    Both measures stay uniform over the same range throughout, so each one alone
    looks exactly as it always did: only their relation breaks.
    """
    rng = np.random.default_rng(seed)
    load = rng.uniform(0.0, 1.0, n)
    util = load + rng.normal(0.0, 0.05, n)
    util[4000:] = 1.0 - load[4000:] + rng.normal(0.0, 0.05, n - 4000)
    return load, util


def test_a_broken_relation_is_found_and_per_channel_detectors_cannot_see_it():
    load, util = _load_and_utilisation()
    scores = make_model("multivariate_pca").update_many(np.c_[load, util])
    assert (scores[BREAK] >= 0.999).mean() > 0.6
    assert (scores[NORMAL] >= 0.999).mean() < 0.01
    # Every per-channel model, on either measure: nothing in the break scores above what
    # normal data already reached, so no threshold flags the break without flagging more normal data.
    for name in model_names():
        if not isinstance(make_model(name), Model):
            continue
        for channel in (load, util):
            s = make_model(name).update_many(channel)
            assert s[BREAK].max() <= s[NORMAL].max(), name


def test_statistics_are_t2_inside_and_q_off_the_plane():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 600)
    m = make_model("multivariate_pca", refit=600)
    m.update_many(np.c_[x, x + rng.normal(0, 0.01, 600)])
    t2_far, q_far = m.statistics([4.0, 4.0])  # on the line, far out: T²
    t2_off, q_off = m.statistics([1.0, -1.0])  # near the centre, off the line: Q
    assert t2_far > 10 and t2_off < 2 and q_off > 1000 * q_far
    assert m.score_one([4.0, 4.0]) > 0.999 and m.score_one([1.0, -1.0]) > 0.999
    assert m.score_one([0.1, 0.1]) < 0.9


def test_bad_vectors_and_parameters_are_named():
    m = make_model("multivariate_pca")
    m.learn_one([1.0, 2.0])
    with pytest.raises(ModelError, match="expected 2 measures, got 3"):
        m.learn_one([1.0, 2.0, 3.0])
    with pytest.raises(ModelError, match="sequence of numbers"):
        m.learn_one("12")
    assert m.update_one([1.0, float("nan")]) == 0.0
    with pytest.raises(ModelError, match="warmup"):
        make_model("multivariate_pca", window=50, warmup=100)
    with pytest.raises(ModelError, match="2-D"):
        make_model("multivariate_pca").update_many([1.0, 2.0])


def _events(n: int = 4400) -> list[dict]:
    load, util = _load_and_utilisation(n)
    evs = []
    for i in range(n):
        for tenant in ("calm", "broken"):
            u = util[i] if tenant == "broken" else load[i] + 0.05 * np.sin(i)
            evs.append({"name": "host.stats", "timestamp": 1000.0 + i, "tenant": tenant,
                        "data": {"load": float(load[i]), "util": float(u)}})
    return evs


PATTERN = Pattern("relation", anomaly(metrics=["load", "util"], model="multivariate_pca", score=(">=", 0.999)))


def test_the_clause_scores_fields_of_one_event_together_like_the_model_by_hand():
    evs = _events()
    got = [(m.key["tenant"], m.timestamp) for m in replay([PATTERN], evs)]
    expected = []
    for tenant in ("calm", "broken"):
        model, was = make_model("multivariate_pca"), False
        for e in evs:
            if e["tenant"] == tenant:
                now = model.update_one([e["data"]["load"], e["data"]["util"]], e["timestamp"]) >= 0.999
                if now and not was:
                    expected.append((tenant, e["timestamp"]))
                was = now
    assert sorted(got) == sorted(expected)
    assert any(t == "broken" and ts >= 5000 for t, ts in got)


def test_metrics_of_separate_events_are_carried_forward_and_survive_a_snapshot():
    p = Pattern("split", anomaly(metrics=[metric("load", event="a"), metric("util", event="b")],
                                 model="multivariate_pca", score=(">=", 0.999)))
    evs = []
    for e in _events():
        d = e["data"]
        evs.append({**e, "name": "a", "data": {"load": d["load"]}})
        evs.append({**e, "name": "b", "timestamp": e["timestamp"] + 0.5, "data": {"util": d["util"]}})
    whole = replay([p], evs)
    assert any(m.key["tenant"] == "broken" for m in whole)
    decoded = [decode(e) for e in evs]
    a = Engine([p])
    half = len(decoded) // 2 + 1  # an odd cut: one key holds a half-filled vector
    out = [m.match_id for m in a.push_many(decoded[:half])]
    b = Engine([p])
    b.restore(json.loads(json.dumps(a.snapshot())))
    out += [m.match_id for m in b.push_many(decoded[half:])] + [m.match_id for m in b.flush()]
    assert out == [m.match_id for m in whole]


def test_definition_errors_and_json():
    with pytest.raises(PatternError, match="needs metrics="):
        Pattern("p", anomaly(model="multivariate_pca"))
    with pytest.raises(PatternError, match="not metric"):
        Pattern("p", anomaly("x", model="multivariate_pca", metrics=["y"]))
    with pytest.raises(PatternError, match="does not score several metrics"):
        Pattern("p", anomaly(metrics=["x", "y"]))
    with pytest.raises(PatternError, match="same metric twice"):
        Pattern("p", anomaly(metrics=["x", "x"], model="multivariate_pca"))
    with pytest.raises(PatternError, match=r"metrics\[2\]"):
        Pattern("p", anomaly(metrics=["x", 3], model="multivariate_pca"))
    assert Pattern.from_dict(json.loads(json.dumps(PATTERN.to_dict()))) == PATTERN
    assert PATTERN.to_dict()["clauses"][0]["metrics"] == [{"name": "load"}, {"name": "util"}]


def test_constant_measures_fit_without_warnings_and_any_change_is_off_the_model():
    import warnings

    m = make_model("multivariate_pca", warmup=20, window=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = m.update_many([[5.0, 1.0]] * 60 + [[5.0, 1.5]])
    assert scores[:-1].max() == 0.0 and scores[-1] == 1.0
