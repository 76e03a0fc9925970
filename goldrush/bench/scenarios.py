"""`goldrush bench scenarios`: every built-in pattern and named model against the simulator's ground truth.

The simulator marks the incidents it injects (`goldrush.simulator.incidents`). Each
pattern is meant to find one kind of incident (`KIND`). On `mixed` traces (one
15-minute incident an hour per tenant, between normal stretches), over several
seeds and anomaly strengths:

- a match is *true* when its tenant has an incident of the pattern's kind at that
  time (up to `GRACE` seconds after its end: an alert for a fading incident is
  late, not false), else *false*; precision = true / all matches;
- an incident is *found* by a pattern when one of its true matches falls in it;
  recall = found / incidents of its kind; delay = first true match − start.

On `normal` (no incident at all) every match is a false alert: reported per
tenant-day. Incidents cut by the trace's edges, and matches in them, are left out
(they start mid-way or are not over), as is everything in the first `WARMUP`
seconds, while the models are still learning what normal is. The last line sums up
the five named models (the worst recall and precision, the slowest median delay,
their false alerts per tenant-day added up) for scripts.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from goldrush.dsl import Pattern
from goldrush.replay import replay
from goldrush.simulator import Incident, incidents, simulate

#: the incident kind each built-in pattern and named model is meant to find
KIND = {
    "variety_imbalance": "variety_imbalance", "variety_overload": "variety_imbalance",
    "variety_imbalance_model": "variety_imbalance",
    "coordination_oscillation": "oscillation", "load_oscillation_model": "oscillation",
    "failure_cascade": "cascade", "cascading_failure_model": "cascade", "response_time_degradation": "cascade",
    "performance_degradation_model": "cascade", "algedonic_signal_frequency": "cascade",
    "opportunity_emergence": "opportunity", "emerging_opportunity_model": "opportunity",
    "low_utilization": "opportunity",
}
START = 1_767_225_600.0
WARMUP = 900.0
GRACE = 60.0
DAY = 86_400.0


@dataclass
class Tally:
    """One pattern's counts, summed over runs."""

    true: int = 0
    false: int = 0
    incidents: int = 0
    found: int = 0
    delays: list[float] = field(default_factory=list)
    normal_alerts: int = 0

    @property
    def precision(self) -> float:
        return self.true / (self.true + self.false) if self.true + self.false else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.incidents if self.incidents else 1.0

    @property
    def median_delay(self) -> float:
        return statistics.median(self.delays) if self.delays else float("nan")


def score_run(patterns: Sequence[Pattern], events: list[dict], truth: list[Incident], t0: float, t1: float,
              tallies: dict[str, Tally]) -> None:
    """Add one trace's matches, judged against its incidents, to `tallies`."""
    by_tenant: dict[str, list[Incident]] = defaultdict(list)
    for inc in truth:
        by_tenant[inc.tenant].append(inc)
    scored = {inc for inc in truth if inc.start > max(t0, t0 + WARMUP - 1e-9) and inc.end < t1}
    firsts: dict[tuple[str, Incident], float] = {}
    for m in replay(patterns, events):
        if m.timestamp < t0 + WARMUP:
            continue
        kind = KIND.get(m.pattern)
        around = [inc for inc in by_tenant[m.tenant] if inc.start <= m.timestamp <= inc.end + GRACE]
        if any(inc not in scored for inc in around):
            continue  # an incident cut by the trace's edges: neither true nor false
        hit = next((inc for inc in around if inc.kind == kind), None)
        tally = tallies[m.pattern]
        if hit is None:
            tally.false += 1
            continue
        tally.true += 1
        firsts.setdefault((m.pattern, hit), m.timestamp)
    for p in patterns:
        kind = KIND.get(p.name)
        tally = tallies[p.name]
        for inc in scored:
            if inc.kind == kind:
                tally.incidents += 1
                first = firsts.get((p.name, inc))
                if first is not None:
                    tally.found += 1
                    tally.delays.append(first - inc.start)


def normal_alerts(patterns: Sequence[Pattern], events: list[dict], t0: float, tallies: dict[str, Tally]) -> None:
    for m in replay(patterns, events):
        if m.timestamp >= t0 + WARMUP:
            tallies[m.pattern].normal_alerts += 1


def evaluate(patterns: Sequence[Pattern], *, seeds: Sequence[int], strengths: Sequence[float], tenants: int,
             hours: float, rate: float) -> tuple[dict[str, Tally], float]:
    """Tallies per pattern over every seed × strength on `mixed`, and the tenant-days of `normal` run."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    duration = hours * 3600.0
    for seed in seeds:
        start = START + 600.0 * seed  # the incident schedule shifts with the seed, not only the noise
        truth = incidents("mixed", tenants=tenants, duration=duration, start=start)
        for strength in strengths:
            events = list(simulate("mixed", tenants=tenants, rate=rate * tenants, duration=duration, seed=seed,
                                   start=start, strength=strength))
            score_run(patterns, events, truth, start, start + duration, tallies)
        quiet = list(simulate("normal", tenants=tenants, rate=rate * tenants, duration=duration, seed=seed,
                              start=start))
        normal_alerts(patterns, quiet, start, tallies)
    tenant_days = len(seeds) * tenants * (duration - WARMUP) / DAY
    return tallies, tenant_days
