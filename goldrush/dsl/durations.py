"""Duration spellings of SEMANTICS §2, parsed once at pattern build time."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from goldrush.errors import PatternError

_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SEED_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}
_UNIT_RE = re.compile(r"^\s*([-+]?[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]+)\s*$")
_SEED_RE = re.compile(r"^\s*(seconds|minutes|hours|days)_([0-9]+(?:\.[0-9]+)?)\s*$")

Duration = timedelta | int | float | str


def to_seconds(value: Duration, *, what: str = "duration", allow_zero: bool = False) -> float:
    """Float seconds for any accepted spelling; `PatternError` for anything else.

    Pattern durations must be positive; the engine's lateness may be 0 (`allow_zero`).
    """
    if isinstance(value, bool):
        raise PatternError(f"{what} must be a duration, got the boolean {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_string(value, what)
    else:
        raise PatternError(
            f"{what} must be a timedelta, a number of seconds or a string like '30s', "
            f"got {type(value).__name__} {value!r}"
        )
    if not math.isfinite(seconds):
        raise PatternError(f"{what} must be finite, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "0 or more" if allow_zero else "positive"
        raise PatternError(f"{what} must be {bound}, got {value!r}")
    return seconds


def option_seconds(text: str, *, what: str, allow_zero: bool = False) -> float:
    """A command-line duration: a string with a unit as in patterns, or a bare number of seconds
    (`--lateness 0`, `--duration 90`), which is what people type at a prompt."""
    try:
        number = float(text)
    except ValueError:
        return to_seconds(text, what=what, allow_zero=allow_zero)
    return to_seconds(number, what=what, allow_zero=allow_zero)


def _parse_string(text: str, what: str) -> float:
    lowered = text.lower()
    seed = _SEED_RE.match(lowered)
    if seed:
        return float(seed.group(2)) * _SEED_UNITS[seed.group(1)]
    m = _UNIT_RE.match(lowered)
    if m and m.group(2) in _UNIT_SECONDS:
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise PatternError(
        f"{what} {text!r} is not a duration: use e.g. '500ms', '1.5s', '30s', '5m', '5min', "
        f"'2h', '1d' or 'seconds_30', 'minutes_5', 'hours_1', 'days_1'"
    )


def format_seconds(seconds: float) -> str | float:
    """A readable form that parses back to exactly the same float (for serialisation).

    Whole numbers of days, hours, minutes or seconds become strings ("5m"); anything
    else stays a number of seconds, because e.g. "300ms" would not read back exactly.
    """
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return seconds
