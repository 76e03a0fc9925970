"""Argument types for the command line: a bad number is refused by argparse, naming the option,
before anything starts (a broker, a worker), not by a traceback from deep inside."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def port_number(text: str) -> int:
    """A TCP port to listen on; 0 would let the system pick one nobody could then find."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def max_future(text: str) -> float | None:
    """--max-future: a duration (0 and up), or 'none' for no limit."""
    if text.strip().lower() == "none":
        return None
    from goldrush.dsl.durations import to_seconds
    from goldrush.errors import PatternError

    try:
        return to_seconds(text, what="--max-future", allow_zero=True)
    except PatternError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


MAX_FUTURE_HELP = ("reject events stamped further ahead of the wall clock than this, e.g. 1h; "
                   "'none': no limit (default 1d)")
