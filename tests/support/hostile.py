"""Hostile inputs: single plausible events that once took a deployment down (issue #16).

Shared by the replay tests and the streaming tests, so both paths see the same bytes.
"""

from __future__ import annotations

import json

T0 = 1_767_225_600.0  # 2026-01-01, the simulator's start
FAILURE = "vsm_core.system1.failure"
RESOURCES = "vsm_core.system3.resources"


def line(obj: dict) -> bytes:
    """JSON as a buggy producer may write it: lone surrogates escaped, integers of any size."""
    return json.dumps(obj).encode()


def good_events(tenant: str = "good", t0: float = T0) -> list[dict]:
    """A failure cascade: a failure_cascade match and a critical algedonic alert."""
    return [{"name": FAILURE, "timestamp": t0 + i, "tenant": tenant, "id": f"{tenant}-{t0:.0f}-f{i}",
             "data": {"service": f"svc{i}"}} for i in range(4)]


def hostile_messages(t0: float = T0) -> list[tuple[str, bytes, str | None]]:
    """(label, message bytes, expected dead-letter code or None when the event is valid)."""
    low = [{"name": RESOURCES, "timestamp": t0 + i, "tenant": "huge-instances", "id": f"hi-{i}",
            "data": {"utilization": 0.1, "instances": 1e300}} for i in range(6)]
    return [
        *[(f"tenant named like a mark #{i}", line(e), None) for i, e in enumerate(good_events("buffered\x00ghost"))],
        ("450 kB tenant", line({"name": FAILURE, "timestamp": t0, "tenant": "t" * 450_000}), "too_long"),
        ("500 kB source", line({"name": FAILURE, "timestamp": t0, "source": "s" * 500_000}), "too_long"),
        ("400-digit timestamp", line({"name": FAILURE, "timestamp": 10**400}), "bad_timestamp"),
        ("lone surrogate tenant", line({"name": FAILURE, "timestamp": t0, "tenant": "\ud800"}), "bad_unicode"),
        ("lone surrogate name", line({"name": "vsm\ud800", "timestamp": t0}), "bad_unicode"),
        ("non-UTF-8 800 kB", b"\xff\xfe" + b"\x80" * 800_000, "invalid_json"),
        ("400-digit metric", line({"name": RESOURCES, "timestamp": t0, "tenant": "digits",
                                   "data": {"utilization": 10**400}}), "number_out_of_range"),
        ("year 9999", line({"name": FAILURE, "timestamp": "9999-12-31T23:59:59", "tenant": "good"}),
         "future_timestamp"),
        *[(f"instances 1e300 #{i}", line(e), None) for i, e in enumerate(low)],
    ]


def duplicated(events: list[dict], copies: int = 3) -> list[dict]:
    """Each event followed by `copies` re-sends of it (a producer retrying)."""
    return [e for ev in events for e in [ev] * (1 + copies)]
