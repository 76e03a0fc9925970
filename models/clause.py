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

from .base import EventModel, Model, ModelError, Stateful
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
        if issubclass(cls, Model):
            if not isinstance(m, Metric):
                raise PatternError(f"model {self.model!r} scores a number: give metric(...) or a metric name")
            m = m.normalized()
        elif m is not None:
            raise PatternError(f"model {self.model!r} reads whole events ({', '.join(make_model(self.model, **params).events)}); "
                               "it takes no metric")
        within = None if self.within is None else to_seconds(self.within, what="anomaly within")
        forget = to_seconds(self.forget, what="anomaly forget")
        if forget <= 0:
            raise PatternError(f"forget must be a positive duration, got {self.forget!r}")
        return Anomaly(m, self.model, _score(self.score), dict(params), within, forget)

    def metrics(self) -> tuple[Metric, ...]:
        return () if self.metric is None else (self.metric,)

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
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Anomaly:
        m = d.get("metric")
        return cls(None if m is None else Metric.from_dict(m), d.get("model", "anomaly_detection"),
                   tuple(d.get("score", (">", 0.9))), d.get("params"), d.get("within"),
                   d.get("forget", DEFAULT_FORGET))

    def compile(self, slot: int, compiled: Any) -> AnomalyOp:
        if self.metric is not None:
            return AnomalyOp(slot, self, mid=compiled.add_metric(self.metric))
        events = make_model(self.model, **self.params).events
        return AnomalyOp(slot, self, gids=tuple(compiled.add_spec(EventSpec(g)) for g in events))


def anomaly(metric: Metric | str | None = None, *, model: str = "anomaly_detection",
            score: tuple[str, float] = (">", 0.9), params: dict[str, Any] | None = None,
            within: Duration | None = None, forget: Duration = DEFAULT_FORGET) -> Anomaly:
    """Durative: holds while `model`'s score of the key's latest input satisfies `score`."""
    return Anomaly(metric, model, score, params, within, forget)


class AnomalyState:
    __slots__ = ("model", "score", "at")

    def __init__(self) -> None:
        self.model: Stateful | None = None  # made on the first input: most keys never get one
        self.score = 0.0
        self.at: float | None = None


class AnomalyOp:
    """Runs one model per key; `holds` compares its latest score."""

    __slots__ = ("slot", "clause", "mid", "gids", "metric_ids", "cmp", "bound", "within", "forget", "numeric")
    cost = 1

    def __init__(self, slot: int, clause: Anomaly, mid: int | None = None, gids: tuple[int, ...] = ()):
        self.slot, self.clause, self.mid, self.gids = slot, clause, mid, gids
        self.metric_ids = () if mid is None else (mid,)
        self.cmp = SCORE_OPS[clause.score[0]]
        self.bound = clause.score[1]
        self.within, self.forget = clause.within, clause.forget
        self.numeric = mid is not None

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, AnomalyOp | None]:
        """(name makes the pattern relevant, the operator to update for it): `goldrush.operators.base.Operator`."""
        if self.numeric:
            return False, self if self.mid in metric_hit else None
        hit = bool(spec_hit.intersection(self.gids))
        return hit, self if hit else None

    def new_state(self) -> AnomalyState:
        return AnomalyState()

    def _model(self, st: AnomalyState) -> Any:
        if st.model is None:
            st.model = make_model(self.clause.model, **self.clause.params)
        return st.model

    def update(self, st: AnomalyState, t: float, vals: list, samples: list, ev: Any = None) -> None:
        try:
            if self.numeric:
                v = samples[self.mid]
                if v is None:
                    return
                score = self._model(st).update_one(v, t)
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
        if st.at is not None and t - st.at > self.forget:
            st.model, st.score, st.at = None, 0.0, None

    def is_empty(self, st: AnomalyState) -> bool:
        return st.model is None

    def dump(self, st: AnomalyState) -> Any:
        return None if st.model is None else {"model": st.model.to_state(), "score": st.score, "at": st.at}

    def load(self, data: Any) -> AnomalyState:
        st = AnomalyState()
        if data is not None:
            cls = EventModel if not self.numeric else Model
            st.model = cls.from_state(data["model"])
            st.score, st.at = float(data["score"]), data["at"]
        return st
