"""The `anomaly(...)` clause: a model's current score, compared, as a durative condition.

A numeric model (e.g. `anomaly_detection`, `trend_analysis`) is fed the samples of
`metric` of the pattern's key in event-time order; an event model (e.g.
`cascading_failure`) is fed the key's events whose names it reads. The clause holds
while the score of the latest input satisfies `score` — and, with `within`, only
for that long after the input. The model lives in the key's state, so it is
snapshotted, restored and expired (`forget`) like every other operator's state.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from goldrush.dsl import Clause, EventSpec, Metric, register_clause
from goldrush.dsl.durations import Duration, format_seconds, to_seconds
from goldrush.errors import PatternError

from .base import EventModel, Model, ModelError, Stateful, VectorModel
from .registry import make_model, model_class

log = logging.getLogger("goldrush.models")

#: model name → updates that raised. A model registered by a user may fail on some input;
#: the event is then left unscored (like a missing sample) instead of stopping every
#: pattern and every tenant that shares the batch. Replay and the worker count alike.
MODEL_ERRORS: Counter[str] = Counter()

SCORE_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
DEFAULT_FORGET = 86400.0


def _score(score: Any) -> tuple[str, float]:
    if (not isinstance(score, tuple | list) or len(score) != 2 or score[0] not in SCORE_OPS
            or isinstance(score[1], bool) or not isinstance(score[1], int | float) or not 0 <= score[1] <= 1):
        raise PatternError(f"score must be (op, s) with op one of {' '.join(SCORE_OPS)} and s from 0 to 1, "
                           f"e.g. ('>', 0.9); got {score!r}")
    return (score[0], float(score[1]))


@register_clause
@dataclass(frozen=True)
class Anomaly(Clause):
    metric: Any = None
    model: str = "anomaly_detection"
    score: Any = (">", 0.9)
    params: Any = None
    within: Any = None
    forget: Any = DEFAULT_FORGET
    measures: Any = None  # anomaly(metrics=[...]): the metrics a vector model scores together
    op: ClassVar[str] = "anomaly"

    def normalized(self) -> Anomaly:
        try:
            cls = model_class(self.model) if isinstance(self.model, str) else None
        except ModelError as exc:
            raise PatternError(str(exc)) from None
        if cls is None:
            raise PatternError(f"model must be a model name, got {self.model!r}")
        params = {} if self.params is None else self.params
        if not isinstance(params, dict):
            raise PatternError(f"params must be a dict of model parameters, got {params!r}")
        try:
            make_model(self.model, **params)  # fail now, at definition, not on the first event
        except ModelError as exc:
            raise PatternError(f"model {self.model!r}: {exc}") from None
        m = Metric(self.metric) if isinstance(self.metric, str) else self.metric
        ms = _measures(self.model, cls, m, self.measures)
        if issubclass(cls, Model):
            if not isinstance(m, Metric):
                raise PatternError(f"model {self.model!r} scores a number: give metric(...) or a metric name")
            m = m.normalized()
        elif issubclass(cls, VectorModel):
            m = None
        elif m is not None:
            raise PatternError(f"model {self.model!r} reads whole events ({', '.join(make_model(self.model, **params).events)}); "
                               "it takes no metric")
        within = None if self.within is None else to_seconds(self.within, what="anomaly within")
        forget = to_seconds(self.forget, what="anomaly forget")
        if forget <= 0:
            raise PatternError(f"forget must be a positive duration, got {self.forget!r}")
        return Anomaly(m, self.model, _score(self.score), dict(params), within, forget, ms)

    def metrics(self) -> tuple[Metric, ...]:
        return self.measures or (() if self.metric is None else (self.metric,))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "model": self.model, "score": list(self.score)}
        if self.metric is not None:
            out["metric"] = self.metric.to_dict()
        if self.params:
            out["params"] = self.params
        if self.within is not None:
            out["within"] = format_seconds(self.within)
        if self.forget != DEFAULT_FORGET:
            out["forget"] = format_seconds(self.forget)
        if self.measures:
            out["metrics"] = [m.to_dict() for m in self.measures]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Anomaly:
        m = d.get("metric")
        return cls(None if m is None else Metric.from_dict(m), d.get("model", "anomaly_detection"),
                   tuple(d.get("score", (">", 0.9))), d.get("params"), d.get("within"),
                   d.get("forget", DEFAULT_FORGET),
                   None if d.get("metrics") is None else [Metric.from_dict(m) for m in d["metrics"]])

    def compile(self, slot: int, compiled: Any) -> AnomalyOp:
        if self.measures:
            return AnomalyOp(slot, self, mids=tuple(compiled.add_metric(m) for m in self.measures))
        if self.metric is not None:
            return AnomalyOp(slot, self, mid=compiled.add_metric(self.metric))
        events = make_model(self.model, **self.params).events
        return AnomalyOp(slot, self, gids=tuple(compiled.add_spec(EventSpec(g)) for g in events))


def anomaly(metric: Metric | str | None = None, *, model: str = "anomaly_detection",
            score: tuple[str, float] = (">", 0.9), params: dict[str, Any] | None = None,
            within: Duration | None = None, forget: Duration = DEFAULT_FORGET,
            metrics: list[Metric | str] | None = None) -> Anomaly:
    """Durative: holds while `model`'s score of the key's latest input satisfies `score`.

    A vector model (e.g. `multivariate_pca`) takes `metrics=[...]` instead of `metric`:
    the key's latest value of each, scored together.
    """
    return Anomaly(metric, model, score, params, within, forget, metrics)


def _measures(model: str, cls: type, metric: Any, measures: Any) -> tuple[Metric, ...] | None:
    """The normalised `metrics=[...]` of a vector model; None for the other kinds (which refuse them)."""
    if not issubclass(cls, VectorModel):
        if measures is not None:
            raise PatternError(f"model {model!r} does not score several metrics together: give metric=..., "
                               "or use a vector model such as 'multivariate_pca'")
        return None
    if metric is not None:
        raise PatternError(f"model {model!r} scores several metrics together: give metrics=[...], not metric")
    if isinstance(measures, str | Metric) or not isinstance(measures, list | tuple) or not measures:
        raise PatternError(f"model {model!r} needs metrics=[...], a non-empty list of metric(...) or names; "
                           f"got {measures!r}")
    out = tuple((Metric(m) if isinstance(m, str) else m) for m in measures)
    for i, m in enumerate(out, 1):
        if not isinstance(m, Metric):
            raise PatternError(f"metrics[{i}] must be metric(...) or a name, got {m!r}")
    out = tuple(m.normalized() for m in out)
    if len(set(out)) != len(out):
        raise PatternError(f"model {model!r}: metrics lists the same metric twice")
    return out


class AnomalyState:
    __slots__ = ("model", "score", "at", "last", "seen")

    def __init__(self) -> None:
        self.model: Stateful | None = None  # made on the first input: most keys never get one
        self.score = 0.0
        self.at: float | None = None
        self.last: list[float | None] | None = None  # a vector model's latest value of each metric
        self.seen: float | None = None  # time of a vector model's latest sample, scored or not


class AnomalyOp:
    """Runs one model per key; `holds` compares its latest score."""

    __slots__ = ("slot", "clause", "mid", "gids", "metric_ids", "cmp", "bound", "within", "forget", "numeric",
                 "vector")
    cost = 1

    def __init__(self, slot: int, clause: Anomaly, mid: int | None = None, gids: tuple[int, ...] = (),
                 mids: tuple[int, ...] = ()):
        self.slot, self.clause, self.mid, self.gids = slot, clause, mid, gids
        self.vector = mids
        self.metric_ids = mids or (() if mid is None else (mid,))
        self.cmp = SCORE_OPS[clause.score[0]]
        self.bound = clause.score[1]
        self.within, self.forget = clause.within, clause.forget
        self.numeric = mid is not None

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, AnomalyOp | None]:
        """(name makes the pattern relevant, the operator to update for it): `goldrush.operators.base.Operator`."""
        if self.numeric:
            return False, self if self.mid in metric_hit else None
        if self.vector:
            return False, self if metric_hit.intersection(self.vector) else None
        hit = bool(spec_hit.intersection(self.gids))
        return hit, self if hit else None

    def new_state(self) -> AnomalyState:
        return AnomalyState()

    def _model(self, st: AnomalyState) -> Any:
        if st.model is None:
            st.model = make_model(self.clause.model, **self.clause.params)
        return st.model

    def _vector(self, st: AnomalyState, t: float, samples: list) -> list[float] | None:
        """The key's latest value of every metric once each has had one (carried forward), else None."""
        last = st.last
        if last is None:
            last = st.last = [None] * len(self.vector)
        hit = False
        for i, mid in enumerate(self.vector):
            v = samples[mid]
            if v is not None:
                last[i] = v
                hit = True
        if not hit:
            return None
        st.seen = t
        return None if None in last else last  # type: ignore[return-value]

    def update(self, st: AnomalyState, t: float, vals: list, samples: list, ev: Any = None) -> None:
        try:
            if self.numeric:
                v = samples[self.mid]
                if v is None:
                    return
                score = self._model(st).update_one(v, t)
            elif self.vector:
                x = self._vector(st, t, samples)
                if x is None:
                    return
                score = self._model(st).update_one(x, t)
            else:
                for g in self.gids:
                    if vals[g]:
                        break
                else:
                    return
                score = self._model(st).update_event(ev)
        except Exception as exc:  # noqa: BLE001 - counted and logged; see MODEL_ERRORS
            self._failed(exc)
            return
        st.score = score
        st.at = t

    def _failed(self, exc: Exception) -> None:
        name = self.clause.model
        MODEL_ERRORS[name] += 1
        n = MODEL_ERRORS[name]
        if n == 1 or n % 1000 == 0:  # the first with its traceback, then a reminder now and then
            log.error("model %r raised on an update (%d so far); the event is left unscored", name, n,
                      exc_info=exc)

    def holds(self, st: AnomalyState, t: float) -> bool:
        if st.at is None or (self.within is not None and t - st.at > self.within):
            return False
        return self.cmp(st.score, self.bound)

    def expire(self, st: AnomalyState, t: float) -> None:
        latest = st.at if st.seen is None else st.seen
        if latest is not None and t - latest > self.forget:
            st.model, st.score, st.at, st.last, st.seen = None, 0.0, None, None, None

    def is_empty(self, st: AnomalyState) -> bool:
        return st.model is None and st.last is None

    def dump(self, st: AnomalyState) -> Any:
        if self.is_empty(st):
            return None
        out = {"model": None if st.model is None else st.model.to_state(), "score": st.score, "at": st.at}
        if self.vector:
            out["last"], out["seen"] = st.last, st.seen
        return out

    def load(self, data: Any) -> AnomalyState:
        st = AnomalyState()
        if data is not None:
            cls = Model if self.numeric else VectorModel if self.vector else EventModel
            st.model = None if data["model"] is None else cls.from_state(data["model"])
            st.score, st.at = float(data["score"]), data["at"]
            if self.vector:
                st.last, st.seen = data.get("last"), data.get("seen")
        return st
