"""Model names → classes, so patterns and states can name a model in JSON."""

from __future__ import annotations

from typing import Any

from .base import ModelError, Stateful

_MODELS: dict[str, type[Stateful]] = {}
_BUILTINS_LOADED = False


def register_model(cls: type[Stateful]) -> type[Stateful]:
    """Make `cls` known by its `name` (a built-in of the same name is replaced)."""
    _builtins()  # first, so that a model registered before any lookup neither hides nor loses to them
    _MODELS[cls.name] = cls
    return cls


def _builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from .context import ContextAnomaly
    from .degradation import PerformanceDegradation
    from .gaussian import WindowedGaussian
    from .multivariate import MultivariatePCA
    from .oscillation import LoadOscillation
    from .trend import TrendAnalysis
    from .vsm_events import CascadingFailure, EmergingOpportunity, VarietyImbalance

    for cls in (ContextAnomaly, WindowedGaussian, TrendAnalysis, PerformanceDegradation, LoadOscillation,
                CascadingFailure, VarietyImbalance, EmergingOpportunity, MultivariatePCA):
        _MODELS[cls.name] = cls


def model_class(name: str) -> type[Stateful]:
    _builtins()
    try:
        return _MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}") from None


def make_model(name: str, **params: Any) -> Stateful:
    cls = model_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"model {name!r}: {exc}") from None


def model_names() -> list[str]:
    _builtins()
    return sorted(_MODELS)


Stateful.lookup = staticmethod(model_class)
