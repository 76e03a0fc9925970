"""The model interface: online, no look-ahead, one score in [0, 1] per sample.

Shaped after River's `learn_one`/`score_one`: `score_one` never changes the model,
`learn_one` never scores. `update_one` is what a stream calls (score, then learn)
and may share work between the two; `update_many` is the batch path. State goes
out as plain JSON-ready data (`to_state`) so the streaming runtime can keep it in
a changelog-backed table and `from_state` resumes with identical scores.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

if TYPE_CHECKING:
    from goldrush.events import Event

STATE_VERSION = 1


class ModelError(ValueError):
    """Bad model name, parameter or state; the message names which."""


def _unregistered(name: str) -> type[Stateful]:
    raise ModelError(f"no model registry to look up {name!r}: import goldrush.models")


class Stateful(ABC):
    """What every model shares: parameters, JSON-ready state, a registry name."""

    name: ClassVar[str]
    #: what the score means, one line, for docs and `goldrush models`
    meaning: ClassVar[str] = ""
    #: the parameters (or "score": the clause's bound) that set how much evidence an alert needs,
    #: and how each takes pattern_detection_sensitivity's factor: "scale", "excess" or "tail"
    evidence: ClassVar[dict[str, str]] = {}
    #: evidence parameters that are shares, kept at most 1 when scaled
    shares: ClassVar[tuple[str, ...]] = ()
    #: model name → class for `from_state`; `goldrush.models.registry` installs its
    #: `model_class` here, so that the interface does not import its own registry
    lookup: ClassVar[Callable[[str], type[Stateful]]] = staticmethod(_unregistered)

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments: `type(self)(**m.params())` is a fresh copy."""

    @abstractmethod
    def _dump(self) -> dict[str, Any]:
        """Learned state only (not parameters), JSON-ready."""

    @abstractmethod
    def _load(self, state: dict[str, Any]) -> None:
        """Inverse of `_dump` on a fresh instance."""

    def to_state(self) -> dict[str, Any]:
        return {"model": self.name, "version": STATE_VERSION, "params": self.params(), "state": self._dump()}

    @classmethod
    def params_from_state(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments from a saved state's `params`. A model that gains a parameter maps
        its absence (a state saved before it existed) to the former behaviour, not the new default."""
        return params

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        if not isinstance(state, dict) or "model" not in state:
            raise ModelError(f"not a model state: {str(state)[:80]!r}")
        if state.get("version") != STATE_VERSION:
            raise ModelError(f"model state version {state.get('version')!r} is not {STATE_VERSION}")
        klass = Stateful.lookup(state["model"])
        if not issubclass(klass, cls):
            raise ModelError(f"state is for model {state['model']!r}, not a {cls.__name__}")
        model = klass(**klass.params_from_state(state["params"]))
        try:
            model._load(state["state"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"bad {klass.name} state: {exc!r}") from None
        return model  # type: ignore[return-value]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class Model(Stateful):
    """A univariate online model over one numeric series (samples in event-time order).

    `t` is the sample's time in seconds; models that need no clock ignore it.
    Non-finite samples score 0.0 and leave the model untouched: a NaN in must
    never turn into a NaN out or poison later scores.
    """

    @abstractmethod
    def score_one(self, x: float, t: float | None = None) -> float:
        """The score `x` would get now; does not change the model."""

    @abstractmethod
    def learn_one(self, x: float, t: float | None = None) -> None:
        """Take `x` into the model without scoring it."""

    def update_one(self, x: float, t: float | None = None) -> float:
        s = self.score_one(x, t)
        self.learn_one(x, t)
        return s

    def update_many(self, xs: Iterable[float], ts: Iterable[float] | None = None) -> np.ndarray:
        """Scores of `xs` in order, each scored before it is learned (== a loop of `update_one`)."""
        xs = np.asarray(xs, dtype=np.float64)
        out = np.empty(len(xs))
        update = self.update_one
        if ts is None:
            for i, x in enumerate(xs.tolist()):
                out[i] = update(x)
        else:
            for i, (x, t) in enumerate(zip(xs.tolist(), np.asarray(ts, dtype=np.float64).tolist(), strict=True)):
                out[i] = update(x, t)
        return out


class VectorModel(Stateful):
    """An online model over several measures of one key at once (a vector per input).

    The measures arrive in a fixed order (the clause's `metrics`); the length is
    fixed by the first vector learned. A vector with a non-finite entry scores 0.0
    and leaves the model untouched, as a non-finite sample does for `Model`.
    """

    @abstractmethod
    def score_one(self, x: Sequence[float], t: float | None = None) -> float:
        """The score `x` would get now; does not change the model."""

    @abstractmethod
    def learn_one(self, x: Sequence[float], t: float | None = None) -> None:
        """Take `x` into the model without scoring it."""

    def update_one(self, x: Sequence[float], t: float | None = None) -> float:
        s = self.score_one(x, t)
        self.learn_one(x, t)
        return s

    def update_many(self, xs: Iterable[Sequence[float]], ts: Iterable[float] | None = None) -> np.ndarray:
        """Scores of the rows of `xs` in order, each scored before it is learned."""
        rows = np.asarray(xs, dtype=np.float64)
        if rows.ndim != 2:
            raise ModelError(f"{self.name}: update_many needs a 2-D array (samples × measures), got {rows.ndim}-D")
        times = [None] * len(rows) if ts is None else np.asarray(ts, dtype=np.float64).tolist()
        update = self.update_one
        return np.array([update(row, t) for row, t in zip(rows.tolist(), times, strict=True)], dtype=np.float64)


def vector(x: Any, dims: int | None) -> list[float] | None:
    """`x` as a list of finite floats of length `dims` (any length when None), or None if it is not one.

    A vector of the wrong length is a caller's bug, not a sample: it raises `ModelError`.
    """
    if type(x) is not list and type(x) is not tuple and (isinstance(x, str | bytes)
                                                         or not isinstance(x, Sequence | np.ndarray)):
        raise ModelError(f"expected a sequence of numbers, got {type(x).__name__}")
    if dims is not None and len(x) != dims:
        raise ModelError(f"expected {dims} measures, got {len(x)}")
    out = []
    for v in x:
        if type(v) is float:  # the common case, from the engine or a list of floats
            if v - v != 0.0:  # NaN or an infinity
                return None
        else:
            v = number(v.item() if isinstance(v, np.generic) else v)
            if v is None:
                return None
        out.append(v)
    return out


class EventModel(Stateful):
    """An online model over whole VSM events of one key (several names and fields).

    `events` lists the name globs it reads; the engine feeds it every event of the
    key whose name matches one of them, in event-time order. Events lacking the
    fields it needs (or carrying non-finite numbers) score 0.0 and teach nothing.
    """

    events: tuple[str, ...]

    @abstractmethod
    def score_event(self, ev: Event) -> float:
        """The score `ev` would get now; does not change the model."""

    @abstractmethod
    def learn_event(self, ev: Event) -> None:
        """Take `ev` into the model."""

    def update_event(self, ev: Event) -> float:
        s = self.score_event(ev)
        self.learn_event(ev)
        return s


def number(x: Any) -> float | None:
    """`x` as a finite float, or None (booleans, strings, NaN and infinities are not numbers)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def field(ev: Event, name: str) -> float | None:
    return number(ev.data.get(name))


def check_number(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                 integer: bool = False) -> None:
    """Validate a constructor parameter, naming it in the error."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        raise ModelError(f"{name} must be a {'whole ' if integer else ''}number, got {value!r}")
    if lo is not None and value < lo:
        raise ModelError(f"{name} must be at least {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ModelError(f"{name} must be at most {hi}, got {value!r}")
