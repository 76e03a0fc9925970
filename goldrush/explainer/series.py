"""The figures a replay report plots, per clause and key, kept bounded in memory.

Each series is (time, value, confidence) points: a frequency clause's window count, a trend
clause's metric samples with the slope confidence, an anomaly clause's model score. A series
longer than `CAP` points is thinned to half by `downsample`, which keeps the lowest and highest
point of each bucket, so the peaks a person looks for survive any length of input.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

CAP = 20_000  # points per (clause, key) before thinning

Point = tuple[float, float, Any]


def downsample(points: list, limit: int) -> list:
    """At most `limit` points (tuples, time first, value second): each of `limit // 2`
    buckets keeps its lowest and highest point, in time order."""
    if len(points) <= limit:
        return points
    buckets = limit // 2
    size = len(points) / buckets
    out = []
    for b in range(buckets):
        bucket = points[int(b * size):int((b + 1) * size)]
        if bucket:
            lo = min(bucket, key=lambda p: p[1])
            hi = max(bucket, key=lambda p: p[1])
            out += [lo] if lo is hi else sorted((lo, hi), key=lambda p: p[0])
    return out


class SeriesStore:
    """(clause number, key text) → points, thinned when a series passes `cap`."""

    def __init__(self, cap: int = CAP):
        self.cap = cap
        self.points: dict[tuple[int, str], list[Point]] = defaultdict(list)

    def add(self, clause: int, key: str, t: float, value: float, confidence: Any = None) -> None:
        pts = self.points[clause, key]
        pts.append((t, value, confidence))
        if len(pts) > self.cap:
            pts[:] = downsample(pts, self.cap // 2)

    def by_clause(self) -> dict[int, dict[str, list[Point]]]:
        out: dict[int, dict[str, list[Point]]] = defaultdict(dict)
        for (clause, key), pts in sorted(self.points.items()):
            out[clause][key] = pts
        return out
