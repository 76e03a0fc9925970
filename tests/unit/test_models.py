"""Every model passes the public checks (goldrush.models.checks); each model's own meaning on clear cases."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from goldrush.events.envelope import decode
from goldrush.models.base import EventModel, Model, ModelError
from goldrush.models.checks import yield_checks
from goldrush.models.registry import make_model, model_names


def test_registry_covers_the_issue():
    assert {"anomaly_detection", "trend_analysis", "cascading_failure", "performance_degradation",
            "load_oscillation", "variety_imbalance", "emerging_opportunity"} <= set(model_names())


@pytest.mark.parametrize(("name", "check"), [(n, c) for n in model_names() for c in yield_checks(n)],
                         ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_every_registered_model_passes_the_public_checks(name, check):
    """goldrush.models.checks: state round trip, scores, bad input, no look-ahead, bounded state."""
    check(name)


def test_bad_parameters_and_states_are_named():
    with pytest.raises(ModelError, match="levels"):
        make_model("anomaly_detection", levels=0)
    with pytest.raises(ModelError, match="shrink"):
        make_model("anomaly_detection", shrink=1.5)
    with pytest.raises(ModelError, match="window"):
        make_model("anomaly_detection", window=4, segments=8)
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ModelError, match="direction"):
        make_model("performance_degradation", direction="sideways")
    with pytest.raises(ModelError, match="dependencies"):
        make_model("cascading_failure", dependencies={"a": "b"})
    with pytest.raises(ModelError, match="not a model state"):
        Model.from_state({"x": 1})
    state = make_model("trend_analysis").to_state()
    with pytest.raises(ModelError, match="not a EventModel"):
        EventModel.from_state(state)


# -- what each model means ----------------------------------------------------

def test_default_detector_flags_a_level_shift_once():
    rng = random.Random(3)
    xs = [10 + rng.gauss(0, 1) for _ in range(2000)] + [30 + rng.gauss(0, 1) for _ in range(300)]
    scores = make_model("anomaly_detection").update_many(xs)
    assert scores[:2000].max() < scores[2000:2005].max()
    assert (scores[2000:] > 0).sum() <= 3  # sparse: the first alert, not every sample


def test_default_detector_sees_a_value_in_a_gap_of_the_range():
    # Two modes, [0, 0.4] and [0.6, 1]; 0.5 was never seen. The grid spans the range seen so far plus a
    # 10 % margin on 8 levels (CAD OSE's 3 bits), fine enough for that gap to be bins of its own. The
    # former defaults (a 75 % margin on 10 levels: bins of 0.25 of the range) fold it into seen bins.
    for seed in range(4):
        rng = random.Random(seed)
        xs = [0.0, 1.0] + [rng.choice((rng.uniform(0, 0.4), rng.uniform(0.6, 1.0))) for _ in range(1500)] + [0.5]
        now = make_model("anomaly_detection").update_many(xs)
        before = make_model("anomaly_detection", levels=10, order=3, margin=0.75, history=1000).update_many(xs)
        assert now[-1] > 0 and (now[200:-1] > 0).sum() == 0
        assert before[-1] == 0


def test_default_detector_is_the_same_under_any_shift_of_its_grids_by_a_tile():
    # The K tiles are offset by 0, 1/K, …: the novelty is their average, the expected share of new
    # contexts over K evenly spaced alignments. Moving every grid by a multiple of 1/K of a bin only
    # relabels the tiles, so no lucky alignment can be picked by moving the grid (docs/models.md §4).
    rng = random.Random(11)
    xs = [10 + 5 * math.sin(i / 30) + rng.gauss(0, 1) + (25 if 1500 < i < 1510 else 0) for i in range(3000)]
    base = make_model("anomaly_detection")
    expected = base.update_many(xs)
    assert (expected > 0).any()
    for shift in (1, 3, 8):
        moved = make_model("anomaly_detection")
        moved._offsets = tuple(o + shift / moved.tiles for o in moved._offsets)
        assert np.array_equal(moved.update_many(xs), expected)


def test_default_detector_grid_narrows_when_an_old_spike_leaves_the_history():
    # Defect: the grid only widened. After one spike of 5000 over values near 10, every later value
    # fell in the same bin for good, so 40 (30 standard deviations above the last 3000 values) was
    # not new. Now the grid re-forms once the remembered values span under `shrink` of it.
    for seed in range(6):
        rng = random.Random(seed)
        xs = [10 + rng.gauss(0, 1) for _ in range(300)] + [5000.0] + [10 + rng.gauss(0, 1) for _ in range(3000)]
        xs.append(40.0)
        now = make_model("anomaly_detection").update_many(xs)
        never = make_model("anomaly_detection", shrink=0.0).update_many(xs)
        assert now[-1] > 0.9 and never[-1] == 0.0
        assert (now[301:-1] > 0).sum() <= 2  # the narrower grid's new extremes of the noise


def test_a_state_saved_before_shrink_existed_keeps_its_grid_that_only_widens():
    # Restoring must continue the saved model's behaviour: a state without `shrink` in its params
    # (written before the parameter existed) restores with shrink 0, not the new default.
    rng = random.Random(2)
    xs = [10 + rng.gauss(0, 1) for _ in range(300)] + [5000.0] + [10 + rng.gauss(0, 1) for _ in range(2500)]
    later = [10 + rng.gauss(0, 1) for _ in range(700)] + [40.0]
    old = make_model("anomaly_detection", tiles=2, base=0.45, shrink=0.0)
    old.update_many(xs)
    state = old.to_state()
    del state["params"]["shrink"]
    restored = Model.from_state(json.loads(json.dumps(state)))
    assert restored.params()["shrink"] == 0.0
    assert np.array_equal(restored.update_many(later), old.update_many(later))
    assert Model.from_state(make_model("anomaly_detection").to_state()).params()["shrink"] == 0.25


def test_default_detector_flags_a_new_day_shape_inside_the_known_range():
    # A daily cycle (48 samples a day) and one flat day: every value and every step of it was seen
    # before, so no context is new and the grid alone (window 0) stays silent. The stretch's shape
    # is new: its distance to the nearest earlier stretch (the discord) exceeds every one so far.
    day = 48
    found = 0
    for seed in range(8):
        rng = random.Random(seed)
        xs = [10 + 8 * math.sin(2 * math.pi * i / day) + rng.gauss(0, 0.5) for i in range(60 * day)]
        flat = len(xs)
        xs += [10 + 2 * math.sin(2 * math.pi * i / day) + rng.gauss(0, 0.5) for i in range(day)]
        xs += [10 + 8 * math.sin(2 * math.pi * i / day) + rng.gauss(0, 0.5) for i in range(10 * day)]
        now = make_model("anomaly_detection").update_many(xs)
        grid = make_model("anomaly_detection", window=0).update_many(xs)
        assert grid[flat:flat + day].max() == 0
        found += now[flat:flat + day].max() > 0.5
    assert found >= 7  # one seed's noise set off a discord just before the flat day, which its rest hid


def test_default_detector_discords_in_noise_are_about_one_per_horizon():
    # In a stationary series the newest discord score is the largest of the last `horizon` samples'
    # about once per horizon: that is its false alarm rate, whatever the series' scale.
    for seed in range(4):
        rng = random.Random(seed)
        xs = [1e6 + 1e3 * rng.gauss(0, 1) for _ in range(30_000)]
        extra = set(np.nonzero(make_model("anomaly_detection").update_many(xs))[0]) - set(
            np.nonzero(make_model("anomaly_detection", window=0).update_many(xs))[0])
        assert 1 <= len(extra) <= 30_000 // 6000 + 3


def test_default_detector_state_round_trip_keeps_the_discord_mid_block():
    # Restored between two block ends (blocks, the partial block, the discord scores, its last
    # crossing), the model must give the same alerts, discord alerts included.
    rng = random.Random(8)
    xs = [10 + 8 * math.sin(2 * math.pi * i / 48) + rng.gauss(0, 0.5) for i in range(3001)]
    later = [10 + 2 * math.sin(2 * math.pi * i / 48) + rng.gauss(0, 0.5) for i in range(200)]
    model = make_model("anomaly_detection")
    model.update_many(xs)
    restored = Model.from_state(json.loads(json.dumps(model.to_state())))
    expected = model.update_many(later)
    assert expected.max() > 0.5 and make_model("anomaly_detection", window=0).update_many(xs + later)[3001:].max() == 0
    assert np.array_equal(restored.update_many(later), expected)


def test_a_state_saved_before_the_discord_existed_keeps_it_off():
    # A state without `window` in its params (written before the discord signal) restores with
    # window 0 and goes on exactly as the saved model would have.
    rng = random.Random(5)
    xs = [10 + 5 * math.sin(i / 8) + rng.gauss(0, 1) for i in range(3000)]
    later = [10 + rng.gauss(0, 1) for i in range(3000)]
    old = make_model("anomaly_detection", window=0)
    old.update_many(xs)
    state = old.to_state()
    for key in ("window", "segments", "horizon"):
        del state["params"][key]
    for key in ("blocks", "acc", "cnt", "dists", "dlast"):
        del state["state"][key]
    restored = Model.from_state(json.loads(json.dumps(state)))
    assert restored.params()["window"] == 0
    assert np.array_equal(restored.update_many(later), old.update_many(later))
    assert Model.from_state(make_model("anomaly_detection").to_state()).params()["window"] == 192


def test_trend_analysis_sees_slope_and_change_point():
    m = make_model("trend_analysis")
    rng = random.Random(4)
    flat = [m.update_one(5 + rng.gauss(0, 1), float(i)) for i in range(300)]
    assert np.mean(flat) < 0.6
    up = [m.update_one(5 + 0.2 * i + rng.gauss(0, 1), 300.0 + i) for i in range(100)]
    assert up[-1] > 0.99 and m.slope > 0.1 and m.confidence > 0.99
    assert m.change_points and m.change_points[0][1] == "up"


def test_performance_degradation_needs_a_sustained_rise():
    m = make_model("performance_degradation")
    rng = random.Random(5)
    normal = [m.update_one(rng.lognormvariate(5, 0.3)) for _ in range(3000)]
    assert max(normal) < 1.0
    slow = [m.update_one(rng.lognormvariate(6, 0.3)) for _ in range(50)]
    assert max(slow) == 1.0


def test_load_oscillation_wants_growing_regular_swings():
    grow = make_model("load_oscillation")
    flat = make_model("load_oscillation")
    rng = random.Random(6)
    g = [grow.update_one(0.5 + (0.05 + 0.4 * i / 2700) * math.sin(2 * math.pi * i / 360) + rng.uniform(-.02, .02))
         for i in range(2700)]
    f = [flat.update_one(0.5 + 0.3 * math.sin(2 * math.pi * i / 360) + rng.uniform(-.02, .02)) for i in range(2700)]
    assert max(g) >= 0.8 and max(f) < 0.8  # 0.8: load_oscillation_model's bound


def _ev(name: str, t: float, **data) -> object:
    return decode({"name": name, "timestamp": t, "tenant": "t", "source": data.get("service"), "data": data})


def test_cascading_failure_counts_distinct_services_and_follows_the_map():
    m = make_model("cascading_failure")
    assert m.update_event(_ev("x.failure", 0, service="a")) == 0.0
    assert m.update_event(_ev("x.failure", 1, service="a")) == 0.0  # same service twice
    assert m.update_event(_ev("x.failure", 2, service="b")) == 0.0
    assert m.update_event(_ev("x.failure", 3, service="c")) > 0.9
    assert m.failing == ["a", "b", "c"]
    assert m.update_event(_ev("x.failure", 200, service="d")) == 0.0  # the window moved on
    dep = make_model("cascading_failure", dependencies={"b": ["a"], "c": ["b"]})
    for i, s in enumerate(["a", "z", "y"]):
        dep.update_event(_ev("x.failure", i, service=s))
    assert dep.update_event(_ev("x.failure", 3, service="b")) == 0.0  # a–b linked, z and y are not
    assert dep.update_event(_ev("x.failure", 4, service="c")) > 0.9  # a–b–c


def test_variety_imbalance_is_ashby_in_bits():
    m = make_model("variety_imbalance")
    ok = [m.update_event(_ev("vsm_core.variety.calculated", i, input_variety=5, output_variety=4)) for i in range(10)]
    assert max(ok) < 0.2
    bad = [m.update_event(_ev("vsm_core.variety.calculated", 10 + i, input_variety=10, output_variety=1))
           for i in range(10)]
    assert bad[-1] == 1.0 and m.deficit_bits > 2


def test_emerging_opportunity_needs_rise_and_spare_capacity():
    def run(util: float) -> float:
        m = make_model("emerging_opportunity")
        rng = random.Random(8)
        s = 0.0
        for i in range(100):
            m.update_event(_ev("vsm_core.system3.resources", i, utilization=util))
            s = m.update_event(_ev("vsm_core.system1.operation", i + 0.5, performance_score=50 + 0.3 * i + rng.uniform(-1, 1)))
        return s

    assert run(0.2) > 0.99 and run(0.8) == 0.0


def test_a_model_registered_first_keeps_the_built_ins():
    """A user's model registered before any lookup used to hide every built-in (a fresh interpreter)."""
    import subprocess
    import sys

    code = """
from goldrush.models.base import Model
from goldrush.models.registry import make_model, model_names, register_model

@register_model
class Mine(Model):
    name = "mine"
    def score_one(self, x, t=None): return 0.0
    def learn_one(self, x, t=None): pass

make_model("anomaly_detection")
print(" ".join(model_names()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "mine" in out and "anomaly_detection" in out and "cascading_failure" in out


def test_load_oscillation_ignores_a_noisy_steady_load():
    """Random wobbles of a noisy but steady load used to pass for a growing oscillation
    (2 false alerts per tenant-day on the simulator's `normal`): swings must beat the noise."""
    rng = random.Random(9)
    xs = [rng.uniform(0.72, 0.9) for _ in range(40_000)]
    assert max(make_model("load_oscillation").update_many(xs)) < 0.8
    assert max(make_model("load_oscillation", amplitude=0.0).update_many(xs)) >= 0.8  # without the gate


def test_the_sensitivity_knob_moves_the_discord_threshold_too():
    # pattern_detection_sensitivity must scale every threshold a model alerts on: the discord's
    # false-alarm rate on noise rises at sensitivity 1 and falls at 0.4, with the grid's novelty off.
    from goldrush.models.sensitivity import evidence_factor

    rng = random.Random(3)
    xs = [1e6 + 1e3 * rng.gauss(0, 1) for _ in range(30_000)]
    alerts = {}
    for s in (1.0, 0.8, 0.4):
        model = make_model("anomaly_detection", base=1.0, beyond=evidence_factor(s))
        alerts[s] = int(np.count_nonzero(model.update_many(xs)))
    assert alerts[1.0] > alerts[0.8] >= alerts[0.4]
