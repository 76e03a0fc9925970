"""What the pattern-switch tests share: the events, messages of them, matches counted by id, and
the at-least-once comparison of a run with a crash in it against `replay_versions`."""

from __future__ import annotations

from collections import Counter

from goldrush.events.codec import dumps_bytes
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


def batched(events: list[dict], size: int = 50) -> list[bytes]:
    return [dumps_bytes(events[i:i + size]) for i in range(0, len(events), size)]


def by_subsystem() -> dict:
    """A pattern keyed by (tenant, subsystem), a key_by `ALL` does not have."""
    d = next(p.to_dict() for p in ALL if p.name == "response_time_degradation")
    return {**d, "name": "slow_subsystem", "key_by": ["tenant", "subsystem"],
            "clauses": [{**d["clauses"][0], "count": [">=", 4]}],
            "actions": [{"type": "algedonic_alert", "severity": "medium"}]}


def compacted(switches: list[dict]) -> list[dict]:
    """As goldrush.patterns.applied keeps them: the last record per tenant and version."""
    return list({(s["tenant"], s["version"]): s for s in switches}.values())


def assert_published_as_replayed(expected, *runs) -> None:
    """Every match and action the runs published is one `expected` has, equal to it, and none is
    missing; one may be published twice (at least once), never one replay does not have."""
    replayed = {m.match_id: m.to_dict() for m in expected}
    published = [m for run in runs for m in run.out.matches]
    assert set(match_ids(published)) == set(replayed)
    assert [m.to_dict() for m in published] == [replayed[m.match_id] for m in published]
    replayed_actions = {a.action_id: a.to_dict() for a in expected.actions}
    actions = [a for run in runs for a in run.out.actions]
    assert {a.action_id for a in actions} == set(replayed_actions)
    assert [a.to_dict() for a in actions] == [replayed_actions[a.action_id] for a in actions]
