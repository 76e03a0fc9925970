"""What the pattern-switch tests share: the events, and matches counted by id."""

from __future__ import annotations

from collections import Counter

from goldrush.patterns import ALL
from goldrush.simulator import simulate


def match_ids(matches) -> Counter:
    """Matches by id, with their counts: nothing lost shows as a key, nothing doubled as a count of 1."""
    return Counter(m.match_id for m in matches)


def mixed_halves() -> tuple[list[dict], int]:
    """Three tenants of simulated `mixed` events for an hour, and where their middle is."""
    events = list(simulate("mixed", tenants=3, rate=5, duration=3600, disorder=0.5))
    return events, len(events) // 2


def v2_docs() -> list[dict]:
    """Version 2 of `ALL` as pattern documents, with tenant-keyed edits only: an edited threshold, a
    removed pattern, a new one; the rest (and every pattern of the key stage) unchanged."""
    docs = [p.to_dict() for p in ALL if p.name != "low_utilization"]
    for d in docs:
        if d["name"] == "algedonic_signal_frequency":
            d["clauses"][0]["count"] = [">", 4]
    new = dict(next(d for d in docs if d["name"] == "failure_cascade"), name="failure_burst")
    new["clauses"] = [dict(new["clauses"][0], count=[">=", 2])]
    return [*docs, new]
