"""pattern_detection_sensitivity: one knob moving every model's evidence threshold the same way."""

from __future__ import annotations

import json

import pytest

from goldrush import Pattern, PatternError, metric, replay
from goldrush.models.clause import Anomaly, anomaly
from goldrush.models.registry import make_model, model_class, model_names
from goldrush.models.sensitivity import KINDS, describe, evidence_factor, with_sensitivity
from goldrush.patterns import ALL, MODEL_PATTERNS
from goldrush.simulator import simulate


def _clauses(patterns: list[Pattern]) -> list[Anomaly]:
    return [c for p in patterns for c in p.clauses if isinstance(c, Anomaly)]


BUILT_IN = ("anomaly_detection", "trend_analysis", "performance_degradation", "load_oscillation", "cascading_failure",
            "variety_imbalance", "emerging_opportunity", "multivariate_pca", "windowed_gaussian")


def test_every_model_declares_valid_evidence_and_the_default_changes_nothing():
    for name in BUILT_IN:  # a user's model may declare none: the knob then leaves it alone
        declared = describe()[name]
        assert declared, f"{name} declares no evidence threshold: the knob would not move it"
        params = make_model(name).params()
        for param, kind in declared.items():
            assert kind in KINDS and (param == "score" or param in params), (name, param)
    assert with_sensitivity(ALL, 0.8) == ALL
    assert evidence_factor(0.8) == 1.0 and evidence_factor(1.0) < 1.0 < evidence_factor(0.4)


def test_higher_sensitivity_asks_every_model_for_less_evidence():
    low, default, high = (_clauses(with_sensitivity(MODEL_PATTERNS, s)) for s in (0.4, 0.8, 1.0))
    for a, b, c in zip(low, default, high, strict=True):
        declared = model_class(b.model).evidence
        defaults = make_model(b.model, **b.params).params()
        for param, kind in declared.items():
            if param == "score":
                if b.score[1] < 1.0:
                    assert a.score[1] > b.score[1] > c.score[1], b.model
                continue
            x = [make_model(k.model, **k.params).params()[param] for k in (a, b, c)]
            if defaults[param] > (1.0 if kind == "excess" else 0.0):
                assert x[0] > x[1] > x[2], (b.model, param, x)


def test_the_knob_trades_alerts_monotonically_and_survives_json():
    evs = list(simulate("mixed", tenants=2, rate=6, duration=2 * 3600, seed=4))
    counts = [len(replay(with_sensitivity(MODEL_PATTERNS, s), evs)) for s in (0.2, 0.8, 1.0)]
    assert counts[0] < min(counts[1:])  # not strictly monotone above: an earlier alert starts its cooldown earlier
    sensitive = with_sensitivity(MODEL_PATTERNS, 1.0)
    assert [Pattern.from_dict(json.loads(json.dumps(p.to_dict()))) for p in sensitive] == sensitive


def test_bad_sensitivity_and_low_score_clauses():
    with pytest.raises(PatternError, match="pattern_detection_sensitivity must be a number from 0 to 1"):
        with_sensitivity(ALL, 1.5)
    quiet = Pattern("quiet", anomaly(metric("x"), model="windowed_gaussian", score=("<", 0.5)))
    assert with_sensitivity([quiet], 1.0) == [quiet]  # asking for a low score is not an alarm threshold


def test_all_registered_models_are_covered():
    assert set(describe()) == set(model_names()) >= set(BUILT_IN)


def test_loaded_patterns_follow_the_environment(monkeypatch):
    from goldrush.loader import load_patterns

    monkeypatch.setenv("GOLDRUSH_PATTERN_DETECTION_SENSITIVITY", "1.0")
    assert load_patterns() == with_sensitivity(ALL, 1.0) != ALL
    monkeypatch.setenv("GOLDRUSH_PATTERN_DETECTION_SENSITIVITY", "high")
    with pytest.raises(PatternError, match="GOLDRUSH_PATTERN_DETECTION_SENSITIVITY must be a number"):
        load_patterns()
    monkeypatch.setenv("GOLDRUSH_PATTERN_DETECTION_SENSITIVITY", "")
    assert load_patterns() == ALL
