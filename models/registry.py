"""Model names → classes, so patterns and states can name a model in JSON."""

from __future__ import annotations

from typing import Any

from .base import Model, ModelError

_MODELS: dict[str, type[Model]] = {}


def register_model(cls: type[Model]) -> type[Model]:
    _MODELS[cls.name] = cls
    return cls


def _builtins() -> None:
    if _MODELS:
        return
    from .context import ContextAnomaly
    from .gaussian import WindowedGaussian

    for cls in (ContextAnomaly, WindowedGaussian):
        register_model(cls)


def model_class(name: str) -> type[Model]:
    _builtins()
    try:
        return _MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}") from None


def make_model(name: str, **params: Any) -> Model:
    cls = model_class(name)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"model {name!r}: {exc}") from None


def model_names() -> list[str]:
    _builtins()
    return sorted(_MODELS)
