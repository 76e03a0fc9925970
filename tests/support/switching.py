"""What the pattern-switch tests share: the events, and matches counted by id."""

from __future__ import annotations

from collections import Counter

from goldrush.simulator import simulate


def match_ids(matches) -> Counter:
    """Matches by id, with their counts: nothing lost shows as a key, nothing doubled as a count of 1."""
    return Counter(m.match_id for m in matches)


def mixed_halves() -> tuple[list[dict], int]:
    """Three tenants of simulated `mixed` events for an hour, and where their middle is."""
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    return events, len(events) // 2
