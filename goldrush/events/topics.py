"""Topic names: one place, so the CLI, the clients and the runtime agree."""

from __future__ import annotations

import os

SOURCE_TOPICS = (
    "vsm.events",
    "vsm-system1-operations",
    "vsm-system2-coordination",
    "vsm-system3-control",
    "vsm-system4-intelligence",
    "vsm-system5-policy",
    "vsm-algedonic-signals",
    "vsm-variety-measurements",
)
DEFAULT_SOURCE = "vsm.events"
MATCHES = "goldrush.matches"
DEADLETTER = "goldrush.deadletter"
LATE = "goldrush.late"
ACTIONS = {
    "autoscale": "goldrush.actions.autoscale",
    "algedonic_alert": "goldrush.actions.algedonic",
    "coordination_adjustment": "goldrush.actions.coordination",
}
# Short names accepted by `goldrush tail --topic`.
ALIASES = {
    "matches": (MATCHES,),
    "actions": tuple(ACTIONS.values()),
    "deadletter": (DEADLETTER,),
    "late": (LATE,),
    "autoscale": (ACTIONS["autoscale"],),
    "algedonic": (ACTIONS["algedonic_alert"],),
    "coordination": (ACTIONS["coordination_adjustment"],),
}


def default_broker() -> str:
    """`GOLDRUSH_BROKER`, else localhost:9092 (the embedded broker's default port)."""
    return os.environ.get("GOLDRUSH_BROKER", "localhost:9092")


def resolve(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        out.extend(ALIASES.get(n, (n,)))
    return tuple(dict.fromkeys(out))
