"""Action specifications: what operators want done when a pattern matches.

These are the user-facing, immutable configuration objects bound to patterns
(`Pattern(..., action=AutoScale(...))`, `pattern.with_actions(...)`). The state
that enforces their policies lives in `policies`; the records they produce are
defined in `action_records`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from goldrush.dsl.durations import Duration, format_seconds, to_seconds
from goldrush.errors import PatternError

SEVERITIES = ("critical", "high", "medium", "low")
# The seed's alerting config: at most N alerts per tenant and severity in any sliding 60 s.
DEFAULT_RATE_LIMITS: dict[str, int | None] = {"critical": None, "high": 10, "medium": 5, "low": 2}


def _whole(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PatternError(f"{what} must be a whole number ≥ {minimum}, got {value!r}")
    return value


class ActionSpec:
    type: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.type}
        for k, v in asdict(self).items():  # type: ignore[call-overload]
            out[k] = format_seconds(v) if k in ("cooldown", "window") and v is not None else v
        return out

    def check_for(self, key_by: tuple[str, ...]) -> None:
        """Raise `PatternError` when this action cannot apply to a pattern keyed like this."""


@dataclass(frozen=True)
class AutoScale(ActionSpec):
    """Propose a new instance count for the service named by the key field `target`.

    Counts stay within [min_instances, max_instances]; at most one scaling action
    per target per `cooldown` of event time. With `target=None` the tenant is
    the unit that scales.
    """

    direction: str = "scale_out"
    step: int = 1
    min_instances: int = 2
    max_instances: int = 20
    cooldown: Any = "5m"
    target: str | None = None
    type: ClassVar[str] = "autoscale"

    def __post_init__(self) -> None:
        if self.direction not in ("scale_out", "scale_in"):
            raise PatternError(f"AutoScale direction must be 'scale_out' or 'scale_in', got {self.direction!r}")
        _whole(self.step, "AutoScale step", 1)
        _whole(self.min_instances, "AutoScale min_instances", 0)
        _whole(self.max_instances, "AutoScale max_instances", 1)
        if self.min_instances > self.max_instances:
            raise PatternError(f"AutoScale min_instances ({self.min_instances}) exceeds "
                               f"max_instances ({self.max_instances})")
        object.__setattr__(self, "cooldown", to_seconds(self.cooldown, what="AutoScale cooldown"))
        if self.target is not None and (not isinstance(self.target, str) or not self.target):
            raise PatternError(f"AutoScale target must be a key field name, got {self.target!r}")

    def check_for(self, key_by: tuple[str, ...]) -> None:
        if self.target is not None and self.target not in key_by:
            raise PatternError(f"AutoScale target {self.target!r} is not one of the pattern's key_by "
                               f"fields {list(key_by)}: add it to key_by so each service scales alone")


@dataclass(frozen=True)
class AlgedonicAlert(ActionSpec):
    """A pain or pleasure signal to System 5, rate-limited per tenant and severity."""

    signal: str = "pain"
    severity: str = "high"
    description: str = ""
    rate_limit: int | None = field(default=-1)  # -1: the severity's default
    window: Any = 60.0
    type: ClassVar[str] = "algedonic_alert"

    def __post_init__(self) -> None:
        if self.signal not in ("pain", "pleasure"):
            raise PatternError(f"AlgedonicAlert signal must be 'pain' or 'pleasure', got {self.signal!r}")
        if self.severity not in SEVERITIES:
            raise PatternError(f"AlgedonicAlert severity must be one of {', '.join(SEVERITIES)}, "
                               f"got {self.severity!r}")
        if not isinstance(self.description, str):
            raise PatternError("AlgedonicAlert description must be a string")
        if self.rate_limit == -1:
            object.__setattr__(self, "rate_limit", DEFAULT_RATE_LIMITS[self.severity])
        elif self.rate_limit is not None:
            _whole(self.rate_limit, "AlgedonicAlert rate_limit", 1)
        object.__setattr__(self, "window", to_seconds(self.window, what="AlgedonicAlert window"))


@dataclass(frozen=True)
class CoordinationAdjustment(ActionSpec):
    """System 2's anti-oscillation response: damp the coordination loop of the key."""

    strategy: str = "dampen"
    factor: float = 0.5
    cooldown: Any = "5m"
    type: ClassVar[str] = "coordination_adjustment"

    def __post_init__(self) -> None:
        if self.strategy not in ("dampen", "hold", "reset"):
            raise PatternError(f"CoordinationAdjustment strategy must be 'dampen', 'hold' or 'reset', "
                               f"got {self.strategy!r}")
        f = self.factor
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            raise PatternError(f"CoordinationAdjustment factor must be in (0, 1], got {f!r}")
        object.__setattr__(self, "cooldown", to_seconds(self.cooldown, what="CoordinationAdjustment cooldown"))


ACTION_TYPES: dict[str, type[ActionSpec]] = {
    c.type: c for c in (AutoScale, AlgedonicAlert, CoordinationAdjustment)
}


def action_from_dict(d: dict[str, Any]) -> ActionSpec:
    if not isinstance(d, dict) or d.get("type") not in ACTION_TYPES:
        raise PatternError(f"unknown action {d!r}: type must be one of {', '.join(ACTION_TYPES)}")
    args = {k: v for k, v in d.items() if k != "type"}
    try:
        return ACTION_TYPES[d["type"]](**args)
    except TypeError as exc:
        raise PatternError(f"bad {d['type']} action: {exc}") from None


def check_actions(actions: tuple[Any, ...], key_by: tuple[str, ...]) -> tuple[ActionSpec, ...]:
    for a in actions:
        if not isinstance(a, ActionSpec):
            raise PatternError(f"an action must be AutoScale, AlgedonicAlert or CoordinationAdjustment, "
                               f"got {type(a).__name__} {a!r}")
        a.check_for(key_by)
    return actions


__all__ = ["AutoScale", "AlgedonicAlert", "CoordinationAdjustment", "ActionSpec", "action_from_dict",
           "Duration"]
