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

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from goldrush import replay
from goldrush.dsl import Pattern
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


def evaluate(sets: dict[str, Sequence[Pattern]], *, seeds: Sequence[int], strengths: Sequence[float],
             tenants: int, hours: float, rate: float) -> tuple[dict[str, dict[str, Tally]], float]:
    """Tallies per pattern set and pattern over every seed × strength on `mixed`, and the
    tenant-days of `normal` run. Each trace is made once and given to every set."""
    tallies: dict[str, dict[str, Tally]] = {label: defaultdict(Tally) for label in sets}
    duration = hours * 3600.0
    for seed in seeds:
        start = START + 600.0 * seed  # the incident schedule shifts with the seed, not only the noise
        truth = incidents("mixed", tenants=tenants, duration=duration, start=start)
        for strength in strengths:
            events = list(simulate("mixed", tenants=tenants, rate=rate * tenants, duration=duration, seed=seed,
                                   start=start, strength=strength))
            for label, patterns in sets.items():
                score_run(patterns, events, truth, start, start + duration, tallies[label])
        quiet = list(simulate("normal", tenants=tenants, rate=rate * tenants, duration=duration, seed=seed,
                              start=start))
        for label, patterns in sets.items():
            normal_alerts(patterns, quiet, start, tallies[label])
    tenant_days = len(seeds) * tenants * (duration - WARMUP) / DAY
    return tallies, tenant_days


def summary(tallies: dict[str, Tally], names: Sequence[str], tenant_days: float) -> tuple[float, float, float, float]:
    """(worst recall, worst precision, slowest median delay, false alerts per tenant-day summed) over `names`."""
    rows = [tallies[n] for n in names]
    delays = [t.median_delay for t in rows if t.delays]
    return (min(t.recall for t in rows), min(t.precision for t in rows), max(delays) if delays else float("nan"),
            sum(t.normal_alerts for t in rows) / tenant_days)


def _table(tallies: dict[str, Tally], names: Sequence[str], tenant_days: float) -> None:
    print(f"{'pattern':32s} {'finds':18s} {'precision':>9s} {'recall':>7s} {'found':>9s} {'median delay s':>15s} "
          f"{'false/tenant-day':>17s}")
    for n in names:
        t = tallies[n]
        print(f"{n:32s} {KIND[n]:18s} {t.precision:9.2f} {t.recall:7.2f} {f'{t.found}/{t.incidents}':>9s} "
              f"{t.median_delay:15.0f} {t.normal_alerts / tenant_days:17.2f}")


def main(seeds: Sequence[int] = (1, 2, 3), strengths: Sequence[float] = (0.7, 1.0, 1.3), tenants: int = 6,
         hours: float = 4.0, rate: float = 5.0, sensitivity: float = 0.8,
         tradeoff: Sequence[float] = (0.4, 0.6, 0.9, 1.0)) -> dict[str, float]:
    from goldrush.models.sensitivity import with_sensitivity
    from goldrush.patterns import ALL, MODEL_PATTERNS

    models = [p.name for p in MODEL_PATTERNS]
    sets = {"all": with_sensitivity(ALL, sensitivity)}
    sets.update({f"{s:g}": with_sensitivity(MODEL_PATTERNS, s) for s in tradeoff if s != sensitivity})
    tallies, days = evaluate(sets, seeds=seeds, strengths=strengths, tenants=tenants, hours=hours, rate=rate)
    print(f"scenarios: mixed (one 15-minute incident an hour per tenant) and normal, seeds "
          f"{', '.join(map(str, seeds))} x strengths {', '.join(f'{s:g}' for s in strengths)}; {tenants} tenants x "
          f"{hours:g} h at {rate:g} events/s each; normal: {days:.2f} tenant-days; sensitivity {sensitivity:g}")
    print("\nthe five named models:")
    _table(tallies["all"], models, days)
    print("\nthe other built-in patterns (not in the summary line):")
    _table(tallies["all"], [p.name for p in ALL if p.name not in models], days)
    print("\npattern_detection_sensitivity trade-off, the five named models (worst recall and precision, "
          "slowest median delay, false alerts per tenant-day summed):")
    rows = {**{label: tallies[label] for label in sets if label != "all"}, f"{sensitivity:g}": tallies["all"]}
    for label in sorted(rows, key=float):
        r, p, d, f = summary(rows[label], models, days)
        print(f"  sensitivity {label:>4s}: recall {r:.2f} precision {p:.2f} median delay {d:5.0f} s "
              f"false alerts/tenant-day {f:.2f}")
    r, p, d, f = summary(tallies["all"], models, days)
    print(f"scenarios recall={r:.2f} precision={p:.2f} median_delay_s={d:.0f} false_alerts_per_tenant_day={f:.2f}")
    return {"recall": r, "precision": p, "median_delay_s": d, "false_alerts_per_tenant_day": f}


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def register(bench: argparse._SubParsersAction) -> None:
    """`goldrush bench scenarios`: its options, next to the other benchmarks."""
    b = bench.add_parser("scenarios", help="named models and built-in patterns against the simulator's incidents")
    b.add_argument("--seeds", type=_floats, default=[1, 2, 3], help="comma-separated (default 1,2,3)")
    b.add_argument("--strengths", type=_floats, default=[0.7, 1.0, 1.3],
                   help="anomaly strengths, comma-separated (default 0.7,1,1.3)")
    b.add_argument("--tenants", type=int, default=6, help="simulated tenants per trace (default 6)")
    b.add_argument("--hours", type=float, default=4.0, help="event time per trace (default 4)")
    b.add_argument("--rate", type=float, default=5.0, help="events/s per tenant (default 5)")
    b.add_argument("--sensitivity", type=float, default=0.8, help="pattern_detection_sensitivity, 0-1 (default 0.8)")
    b.add_argument("--tradeoff", type=_floats, default=[0.4, 0.6, 0.9, 1.0],
                   help="other sensitivities to show the precision/recall trade-off at (default 0.4,0.6,0.9,1)")
    b.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from goldrush.errors import PatternError

    bad = [v for v in (*args.tradeoff, args.sensitivity) if not 0 <= v <= 1]
    if bad or args.tenants < 1 or args.hours * 3600 <= WARMUP or args.rate <= 0 or not args.seeds or not args.strengths:
        print("goldrush bench scenarios: sensitivities must be 0-1, --tenants and --rate positive, "
              f"--hours above {WARMUP / 3600:g} (the warm-up), --seeds and --strengths non-empty", file=sys.stderr)
        return 2
    try:
        main([int(s) for s in args.seeds], args.strengths, args.tenants, args.hours, args.rate, args.sensitivity,
             args.tradeoff)
    except (PatternError, ValueError) as exc:
        print(f"goldrush bench scenarios: {exc}", file=sys.stderr)
        return 2
    return 0
