"""The event models: cascading failure, variety imbalance, emerging opportunity.

Each reads whole VSM events of one key (usually a tenant), because its question
spans several services or several kinds of event. Default event names follow the
simulator's catalogue (`vsm_core.system1.failure`, …); every name and field is a
parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from scipy.special import pdtr

from goldrush.compiler.runtime import glob_matcher

from .base import EventModel, ModelError, check_number, field
from .fit import EWStats, SlidingFit


def _globs(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not value or not all(isinstance(v, str) and v for v in value):
        raise ModelError(f"{name} must be an event name glob or a list of them, got {value!r}")
    return tuple(value)


_MEMO_LIMIT = 4096  # distinct event names remembered per predicate; a stream of unique names cannot grow it


def _matcher(globs: tuple[str, ...]) -> Callable[[str], bool]:
    """One predicate for a parameter's name globs, built once and memoised by name.

    Streams carry a handful of event names, so the glob regexes run once per name
    instead of once per event (they were ~8 % of engine time with all built-in patterns).
    """
    ms = [glob_matcher(g) for g in globs]
    memo: dict[str, bool] = {}

    def matches(name: str) -> bool:
        hit = memo.get(name)
        if hit is None:
            hit = any(m(name) for m in ms)
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[name] = hit
        return hit

    return matches


class CascadingFailure(EventModel):
    """Failures spreading across services within `window` seconds.

    The failing set is every service with a failure in the last `window` seconds.
    With a dependency map (`{service: [services it calls]}`) only the services
    linked to the newest failure through the map count (its connected part of the
    failing set); without one, co-occurrence: all of them. A spread of k ≥
    `min_services` scores 1 − P(X ≥ k) for X ~ Poisson(λ), λ being the spread this
    key usually shows at a failure (learned from non-cascading failures), so a
    mesh where three services often fail together needs more to alarm.
    """

    name = "cascading_failure"
    meaning = "failures spreading across (dependent) services within a window: 1 − P(spread ≥ k)"
    evidence = {"score": "tail"}

    def __init__(self, events: Any = ("*.failure",), window: float = 60.0, min_services: int = 3,
                 dependencies: dict[str, list[str]] | None = None, service_field: str = "service",
                 alpha: float = 0.05):
        self.events = _globs("events", events)
        check_number("window", window, 1e-9)
        check_number("min_services", min_services, 2, integer=True)
        check_number("alpha", alpha, 1e-6, 1.0)
        if dependencies is not None and (not isinstance(dependencies, dict) or not all(
                isinstance(k, str) and isinstance(v, list | tuple) and all(isinstance(d, str) for d in v)
                for k, v in dependencies.items())):
            raise ModelError("dependencies must map a service name to a list of service names")
        if not isinstance(service_field, str) or not service_field:
            raise ModelError(f"service_field must be a field name, got {service_field!r}")
        self.window, self.min_services, self.alpha = float(window), min_services, float(alpha)
        self.service_field = service_field
        self.dependencies = None if dependencies is None else {k: list(v) for k, v in dependencies.items()}
        self._links: dict[str, set[str]] = {}
        for svc, deps in (self.dependencies or {}).items():
            for d in deps:
                self._links.setdefault(svc, set()).add(d)
                self._links.setdefault(d, set()).add(svc)
        self._is_failure = _matcher(self.events)
        self._last: dict[str, float] = {}  # service → time of its latest failure
        self._spread = EWStats(self.alpha)
        self.failing: list[str] = []  # the spread behind the latest score, for explanations

    def params(self) -> dict[str, Any]:
        return {"events": list(self.events), "window": self.window, "min_services": self.min_services,
                "dependencies": self.dependencies, "service_field": self.service_field, "alpha": self.alpha}

    def _service(self, ev: Any) -> str | None:
        svc = ev.data.get(self.service_field, ev.source)
        return svc if isinstance(svc, str) and svc else None

    def _failing(self, svc: str, t: float) -> list[str]:
        horizon = t - self.window
        live = {s for s, ts in self._last.items() if ts > horizon}
        live.add(svc)
        if self.dependencies is None:
            return sorted(live)
        part, todo = {svc}, [svc]
        while todo:
            for nxt in self._links.get(todo.pop(), ()):
                if nxt in live and nxt not in part:
                    part.add(nxt)
                    todo.append(nxt)
        return sorted(part)

    def _score(self, k: int) -> float:
        if k < self.min_services:
            return 0.0
        lam = max(self._spread.mean if self._spread.n else 1.0, 1e-3)
        return float(pdtr(k - 1, lam))  # P(X ≤ k − 1) = 1 − P(X ≥ k); a ufunc, not scipy.stats' 110 µs call

    def score_event(self, ev: Any) -> float:
        svc = self._service(ev) if self._is_failure(ev.name) else None
        return 0.0 if svc is None else self._score(len(self._failing(svc, ev.timestamp)))

    def learn_event(self, ev: Any) -> None:
        svc = self._service(ev) if self._is_failure(ev.name) else None
        if svc is None:
            return
        t = ev.timestamp
        self.failing = self._failing(svc, t)
        if len(self.failing) < self.min_services:
            self._spread.add(float(len(self.failing)))
        self._last[svc] = max(t, self._last.get(svc, t))
        horizon = t - self.window
        for s in [s for s, ts in self._last.items() if ts <= horizon]:
            del self._last[s]  # bounded: only services failing within the window stay

    def _dump(self) -> dict[str, Any]:
        return {"last": sorted(self._last.items()), "spread": self._spread.dump(), "failing": self.failing}

    def _load(self, state: dict[str, Any]) -> None:
        self._last = {str(s): float(t) for s, t in state["last"]}
        self._spread.load(state["spread"])
        self.failing = list(state["failing"])


class VarietyImbalance(EventModel):
    """Ashby's requisite variety: the regulator's (output) variety must match the input's.

    The deficit in bits is log2(input / output) — how much disturbance variety
    the regulator cannot absorb. A short exponentially weighted average (`alpha`)
    smooths single readings; score = average deficit / `bits`, in [0, 1]: 1 means
    the input variety exceeds the output variety by 2^`bits` or more, sustained.
    """

    name = "variety_imbalance"
    meaning = "sustained log2(input/output variety) deficit, as a share of `bits`"
    evidence = {"bits": "scale"}

    def __init__(self, events: Any = ("*.variety.calculated",), input_field: str = "input_variety",
                 output_field: str = "output_variety", bits: float = 2.0, alpha: float = 0.3,
                 min_samples: int = 3):
        self.events = _globs("events", events)
        for what, f in (("input_field", input_field), ("output_field", output_field)):
            if not isinstance(f, str) or not f:
                raise ModelError(f"{what} must be a field name, got {f!r}")
        check_number("bits", bits, 1e-6)
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("min_samples", min_samples, 1, integer=True)
        self.input_field, self.output_field = input_field, output_field
        self.bits, self.alpha, self.min_samples = float(bits), float(alpha), min_samples
        self._matches = _matcher(self.events)
        self._deficit = EWStats(self.alpha)

    def params(self) -> dict[str, Any]:
        return {"events": list(self.events), "input_field": self.input_field, "output_field": self.output_field,
                "bits": self.bits, "alpha": self.alpha, "min_samples": self.min_samples}

    def _bits(self, ev: Any) -> float | None:
        if not self._matches(ev.name):
            return None
        i, o = field(ev, self.input_field), field(ev, self.output_field)
        if i is None or o is None or i <= 0.0 or o <= 0.0:
            return None
        return math.log2(i / o)

    def _score(self, n: int, mean: float) -> float:
        return 0.0 if n < self.min_samples else min(1.0, max(0.0, mean / self.bits))

    def score_event(self, ev: Any) -> float:
        d = self._bits(ev)
        if d is None:
            return 0.0
        probe = EWStats(self.alpha).load(self._deficit.dump())
        probe.add(d)
        return self._score(probe.n, probe.mean)

    def learn_event(self, ev: Any) -> None:
        d = self._bits(ev)
        if d is not None:
            self._deficit.add(d)

    @property
    def deficit_bits(self) -> float:
        return self._deficit.mean

    def _dump(self) -> dict[str, Any]:
        return {"deficit": self._deficit.dump()}

    def _load(self, state: dict[str, Any]) -> None:
        self._deficit.load(state["deficit"])


class EmergingOpportunity(EventModel):
    """Sustained improvement with spare capacity: a chance to grow, not a fire.

    Performance readings (`performance_field` of `performance_events`) feed a
    sliding fit over the last `window` readings; capacity readings
    (`utilization_field` of `capacity_events`) a short average. Score = 2·c − 1
    for the confidence c that performance is rising, when the fitted rise over the
    window is at least `min_gain` × the mean level, average utilisation is at most
    `max_utilization` and at least `min_samples` readings exist; else 0.
    """

    name = "emerging_opportunity"
    meaning = "confidence that performance keeps improving while utilisation leaves room"
    evidence = {"min_gain": "scale", "score": "tail"}

    def __init__(self, performance_events: Any = ("*.system1.operation",),
                 capacity_events: Any = ("*.system3.resources",), performance_field: str = "performance_score",
                 utilization_field: str = "utilization", window: int = 120, max_utilization: float = 0.4,
                 alpha: float = 0.2, min_samples: int = 10, min_gain: float = 0.02):
        self.performance_events = _globs("performance_events", performance_events)
        self.capacity_events = _globs("capacity_events", capacity_events)
        self.events = self.performance_events + self.capacity_events
        check_number("window", window, 3, integer=True)
        check_number("max_utilization", max_utilization, 0.0)
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("min_samples", min_samples, 3, integer=True)
        check_number("min_gain", min_gain, 0.0)
        self.min_gain = float(min_gain)
        self.performance_field, self.utilization_field = performance_field, utilization_field
        self.window, self.max_utilization = window, float(max_utilization)
        self.alpha, self.min_samples = float(alpha), min_samples
        self._is_perf = _matcher(self.performance_events)
        self._is_cap = _matcher(self.capacity_events)
        self._fit = SlidingFit(window)
        self._util = EWStats(self.alpha)

    def params(self) -> dict[str, Any]:
        return {"performance_events": list(self.performance_events),
                "capacity_events": list(self.capacity_events), "performance_field": self.performance_field,
                "utilization_field": self.utilization_field, "window": self.window,
                "max_utilization": self.max_utilization, "alpha": self.alpha, "min_samples": self.min_samples,
                "min_gain": self.min_gain}

    def _score(self, fit: SlidingFit, util: EWStats) -> float:
        if len(fit) < self.min_samples or util.n == 0 or util.mean > self.max_utilization:
            return 0.0
        slope, conf = fit.slope()
        n = len(fit)
        level = abs(fit.y0 + fit.sums[1] / n)
        if slope <= 0 or slope * (fit.xs[-1] - fit.xs[0]) < self.min_gain * level:
            return 0.0  # rising, but by too little over the window to be an opportunity
        return max(0.0, 2.0 * conf - 1.0)

    def _apply(self, ev: Any, fit: SlidingFit, util: EWStats) -> bool:
        changed = False
        if self._is_perf(ev.name):
            p = field(ev, self.performance_field)
            if p is not None:
                fit.add(ev.timestamp, p)
                changed = True
        if self._is_cap(ev.name):
            u = field(ev, self.utilization_field)
            if u is not None:
                util.add(u)
                changed = True
        return changed

    def score_event(self, ev: Any) -> float:
        fit = SlidingFit.load(self.window, self._fit.dump())
        util = EWStats(self.alpha).load(self._util.dump())
        return self._score(fit, util) if self._apply(ev, fit, util) else 0.0

    def learn_event(self, ev: Any) -> None:
        self._apply(ev, self._fit, self._util)

    def update_event(self, ev: Any) -> float:
        return self._score(self._fit, self._util) if self._apply(ev, self._fit, self._util) else 0.0

    def _dump(self) -> dict[str, Any]:
        return {"fit": self._fit.dump(), "util": self._util.dump()}

    def _load(self, state: dict[str, Any]) -> None:
        self._fit = SlidingFit.load(self.window, state["fit"])
        self._util.load(state["util"])
