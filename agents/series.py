"""Label values and series counts the web views can always serve.

Event names and tenants come from producers: a lone surrogate made `/metrics` and `/rates`
answer 500 for as long as the worker ran (UTF-8 cannot encode it), and 200 k tenants made a
13 MB scrape. Every value is made printable UTF-8 of bounded length, and per-(tenant, name)
series are cut to the busiest ones plus one aggregate row, so a scrape has a bounded size
and the totals stay right.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

MAX_LABEL_CHARS = 120  # longer values are cut, marked with "…"
TOP_SERIES = 50  # per-(tenant, name) rate series kept in /metrics; the rest are summed into OTHER
OTHER = "(other)"  # tenant and name of the aggregate row of the series cut off


def label_value(value: object, limit: int = MAX_LABEL_CHARS) -> str:
    """`value` as valid UTF-8 text of at most `limit` characters.

    Lone surrogates become their escape (`\\ud800`), so two different bad names stay
    told apart; quotes, backslashes and newlines are escaped by the exposition format.
    """
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class Rate(NamedTuple):
    tenant: str
    name: str
    per_second: float


class Bounded(NamedTuple):
    """The busiest series, and what the others add up to."""

    top: list[Rate]
    other_series: int  # how many series were summed into `other_per_second`
    other_per_second: float


def busiest(rows: Iterable[tuple[str, str, float]], limit: int = TOP_SERIES) -> Bounded:
    """The `limit` highest rates (ties by tenant and name, so a scrape is stable), labels made safe."""
    ordered = sorted(rows, key=lambda r: (-r[2], r[0], r[1]))
    top = [Rate(label_value(t), label_value(n), r) for t, n, r in ordered[:limit]]
    rest = ordered[limit:]
    return Bounded(top, len(rest), sum(r for _, _, r in rest))
