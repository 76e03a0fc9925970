"""The `anomaly(...)` clause: validation, JSON, and the engine == running the model by hand."""

from __future__ import annotations

import json
import random

import pytest

from goldrush import Pattern, PatternError, metric, replay
from goldrush.engine.engine import Engine
from goldrush.events.envelope import decode
from goldrush.models.clause import anomaly
from goldrush.models.registry import make_model
from goldrush.patterns.models import MODEL_PATTERNS
from goldrush.simulator import simulate


def _stream(n: int = 4000, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    evs = []
    for i in range(n):
        tenant = f"t{i % 3}"
        x = rng.gauss(100, 5) + (400 if 2500 < i < 2600 and tenant == "t1" else 0)
        evs.append({"name": "svc.latency", "timestamp": 1000.0 + i, "tenant": tenant, "data": {"ms": x}})
        if i % 7 == 0:
            evs.append({"name": "svc.other", "timestamp": 1000.0 + i + 0.5, "tenant": tenant, "data": {}})
    return evs


def test_engine_equals_running_the_model_per_key():
    p = Pattern("lat", anomaly(metric("ms", event="svc.latency"), score=(">", 0.3)))
    got = {(m.key["tenant"], m.timestamp) for m in replay([p], _stream())}
    expected = set()
    for tenant in ("t0", "t1", "t2"):
        model, was = make_model("anomaly_detection"), False
        for e in _stream():
            if e["tenant"] != tenant or e["name"] != "svc.latency":
                continue
            now = model.update_one(e["data"]["ms"], e["timestamp"]) > 0.3
            if now and not was:
                expected.add((tenant, e["timestamp"]))
            was = now
    assert got == expected and any(t == "t1" for t, _ in got)


def test_definition_errors_name_the_problem():
    with pytest.raises(PatternError, match="unknown model 'nope'"):
        Pattern("p", anomaly("x", model="nope"))
    with pytest.raises(PatternError, match="scores a number: give metric"):
        Pattern("p", anomaly(model="trend_analysis"))
    with pytest.raises(PatternError, match="reads whole events"):
        Pattern("p", anomaly("x", model="cascading_failure"))
    with pytest.raises(PatternError, match="score must be"):
        Pattern("p", anomaly("x", score=(">", 2)))
    with pytest.raises(PatternError, match="levels"):
        Pattern("p", anomaly("x", params={"levels": -1}))
    with pytest.raises(PatternError, match=r"#1 \(anomaly\)"):
        Pattern("p", anomaly("x", model="nope"))


def test_json_round_trip_without_importing_models_first():
    p = Pattern("p", anomaly(metric("ms", event="svc.*"), model="trend_analysis", score=(">=", 0.95),
                             params={"window": 30}, within="1m", forget="2h"))
    assert Pattern.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_within_limits_how_long_a_score_holds():
    p = Pattern("p", anomaly(metric("ms", event="svc.latency"), score=(">", 0.3), within="1s"))
    q = Pattern("q", anomaly(metric("ms", event="svc.latency"), score=(">", 0.3)))
    res = replay([p, q], _stream())
    # Only samples re-evaluate a numeric clause, so a 1 s hold changes nothing here…
    assert {m.timestamp for m in res if m.pattern == "p"} == {m.timestamp for m in res if m.pattern == "q"}


def test_model_patterns_fire_in_their_scenarios_and_snapshot_mid_stream():
    evs = list(simulate("mixed", tenants=2, rate=20, duration=3 * 3600, seed=3))
    whole = replay(MODEL_PATTERNS, evs)
    assert {"cascading_failure_model", "variety_imbalance_model", "performance_degradation_model"} <= {
        m.pattern for m in whole}
    # Snapshot/restore half way (through JSON) == an uninterrupted run: model state survives.
    a = Engine(MODEL_PATTERNS)
    half = len(evs) // 2
    evs = [decode(e) for e in evs]
    out = [m.match_id for m in a.push_many(evs[:half])]
    snap = json.loads(json.dumps(a.snapshot()))
    b = Engine(MODEL_PATTERNS)
    b.restore(snap)
    out += [m.match_id for m in b.push_many(evs[half:])] + [m.match_id for m in b.flush()]
    assert out == [m.match_id for m in whole]


def test_a_model_that_raises_leaves_its_event_unscored_and_nothing_else_changes(caplog):
    """A user's model failing on some input must not stop the other patterns (or tenants) of the batch."""
    from goldrush.models.base import Model
    from goldrush.models.clause import MODEL_ERRORS
    from goldrush.models.registry import register_model
    from goldrush.patterns import failure_cascade

    @register_model
    class FailsOnLarge(Model):
        name = "test_fails_on_large"

        def score_one(self, x, t=None):
            if x > 1000:
                raise RuntimeError(f"cannot score {x}")
            return 1.0 if x > 50 else 0.0

        def learn_one(self, x, t=None):
            pass

        def params(self):
            return {}

        def _dump(self):
            return {}

        def _load(self, state):
            pass

    high = Pattern("high", anomaly(metric("x", event="e"), model="test_fails_on_large", score=(">", 0.5)))
    events = [{"name": "e", "timestamp": 1.0, "tenant": "t", "data": {"x": 5000}},  # raises: left unscored
              {"name": "e", "timestamp": 2.0, "tenant": "t", "data": {"x": 60}},
              *({"name": "vsm_core.system1.failure", "timestamp": 3.0 + i, "tenant": "u",
                 "data": {"service": "db"}} for i in range(3))]
    before = MODEL_ERRORS["test_fails_on_large"]
    with caplog.at_level("ERROR", logger="goldrush.models"):
        result = replay([high, failure_cascade], events)
    assert [(m.pattern, m.timestamp) for m in result.matches] == [("high", 2.0), ("failure_cascade", 5.0)]
    assert MODEL_ERRORS["test_fails_on_large"] == before + 1
    assert "cannot score 5000" in caplog.text and "left unscored" in caplog.text
