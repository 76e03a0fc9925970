"""`goldrush bench scenarios`: how matches are judged against incidents, and its summary line."""

from __future__ import annotations

import re
from collections import defaultdict

from goldrush import Pattern, event, sequence
from goldrush.bench import scenarios
from goldrush.bench.scenarios import GRACE, KIND, WARMUP, Tally, score_run
from goldrush.cli import main as cli
from goldrush.patterns import ALL
from goldrush.simulator import Incident

T0 = 1_000_000.0


def _failure(tenant: str, t: float) -> dict:
    return {"name": "vsm_core.system1.failure", "timestamp": t, "tenant": tenant, "data": {"service": "db"}}


def test_matches_are_true_in_an_incident_of_their_kind_and_false_elsewhere():
    p = Pattern("failure_cascade", sequence(event("vsm_core.system1.failure")))  # every failure matches
    truth = [Incident("a", "cascade", T0 + 2000, T0 + 2900), Incident("a", "oscillation", T0 + 5000, T0 + 5900),
             Incident("b", "cascade", T0, T0 + 900)]  # cut by the trace's start: left out
    times = {"a": [T0 + 100, T0 + 2030, T0 + 2040, T0 + 2900 + GRACE / 2, T0 + 5100, T0 + 7000],
             "b": [T0 + 950]}
    events = sorted((_failure(tn, t) for tn, ts in times.items() for t in ts), key=lambda e: e["timestamp"])
    tallies: dict[str, Tally] = defaultdict(Tally)
    score_run([p], events, truth, T0, T0 + 8000, tallies)
    t = tallies["failure_cascade"]
    # T0+100: warm-up; 2030, 2040 and the late one within GRACE: true; 5100 (another kind), 7000: false;
    # b's only match is in an incident cut by the trace's start.
    assert WARMUP > 100 and (t.true, t.false) == (3, 2)
    assert (t.found, t.incidents, t.delays) == (1, 1, [30.0])
    assert t.precision == 0.6 and t.recall == 1.0


def test_every_built_in_pattern_knows_what_it_finds():
    assert {p.name for p in ALL} == set(KIND)


def test_the_command_ends_with_the_summary_line(capsys, monkeypatch):
    monkeypatch.setattr(scenarios, "WARMUP", 600.0)
    code = cli(["bench", "scenarios", "--seeds", "1", "--strengths", "1", "--tenants", "2", "--hours", "1.5",
                "--rate", "3", "--tradeoff", "1"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert re.fullmatch(r"scenarios recall=\d\.\d\d precision=\d\.\d\d median_delay_s=(\d+|nan) "
                        r"false_alerts_per_tenant_day=\d+\.\d\d", out[-1]), out[-1]
    assert any(line.startswith("cascading_failure_model") for line in out)
    assert any("sensitivity    1:" in line for line in out)


def test_bad_options_are_named(capsys):
    assert cli(["bench", "scenarios", "--sensitivity", "2"]) == 2
    assert "sensitivities must be 0-1" in capsys.readouterr().err
