"""`goldrush.explain`: why a pattern did (or did not) match, from the engine's own decisions.

The patterns run exactly as in `replay` (same compiled set, reorder buffer and policies);
one of them is watched (`observer.Observer`). The result says, per clause, what its
event specs saw and why the rest were not selected, which matches happened with the
events and clause states behind them, and, without a match, the nearest miss.

>>> from goldrush import F, Pattern, event, frequency, explain
>>> p = Pattern("burst", frequency(event("app.error", F.code >= 500), (">=", 3), within="1m"))
>>> events = [{"name": "app.error", "timestamp": t, "data": {"code": c}} for t, c in [(0, 503), (5, 404)]]
>>> explain([p], events, pattern="burst").reason
'clause #1 (frequency) never held; nearest: count 1 (needs >= 3 in 1m) [tenant=default]'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goldrush.dsl.durations import Duration
from goldrush.engine.replay import Rejected, feed, read_jsonl
from goldrush.events.envelope import parse_timestamp
from goldrush.explainer.checks import did_you_mean

from .observer import Observer
from .text import main_reason, spec_line, state_text, when
from .watch import Watch

HOLD_EXAMPLES = 5


@dataclass
class Explanation:
    """A structured explanation; `to_dict()` is JSON-ready, `text()` is for people."""

    doc: dict[str, Any]

    @property
    def matches(self) -> list[dict[str, Any]]:
        return self.doc["matches"]

    @property
    def reason(self) -> str:
        return self.doc["main_reason"]

    def to_dict(self) -> dict[str, Any]:
        return self.doc

    def text(self) -> str:
        return render(self.doc)


def explain(patterns: Any, events: Iterable[Any] | str | Path, *, pattern: str, tenant: str | None = None,
            key: dict[str, Any] | None = None, match: str | None = None, at: Any = None,
            allowed_lateness: Duration = "2s") -> Explanation:
    """Explain `pattern` over `events` (dicts, `Event`s or a JSONL path), as replay evaluates it.

    `tenant`/`key` narrow it to one tenant or key (`{"source": "checkout"}`); `match` picks
    one match by its `match_id`; `at` (epoch seconds or ISO 8601) asks for the clause states
    of each key at that time. Raises `KeyError` for an unknown pattern or match id.
    """
    at_t = None if at is None else parse_timestamp(at, "at")
    obs = Observer(patterns, [pattern], allowed_lateness=allowed_lateness, tenant=tenant,
                   key=None if key is None else {k: str(v) for k, v in key.items()}, at=at_t)
    rejected = run(obs, events)
    doc = document(obs, obs.watches[pattern], rejected, tenant, key, at_t)
    if match is not None:
        chosen = [m for m in doc["matches"] if m["match"]["match_id"] == match]
        if not chosen:
            ids = ", ".join(m["match"]["match_id"] for m in doc["matches"][:5]) or "none"
            raise KeyError(f"pattern {pattern!r} has no match with id {match!r} in these events "
                           f"({len(doc['matches'])} matches; first ids: {ids})")
        doc["match"] = chosen[0]
    return Explanation(doc)


def run(obs: Observer, events: Iterable[Any] | str | Path, keep: bool = True) -> list[Rejected] | RejectedCount:
    """Feed `events` through the observer as replay does; the rejected inputs (with `keep=False`,
    only how many: a second pass over a file of bad lines must not hold them all)."""
    rejected: list[Rejected] | RejectedCount = [] if keep else RejectedCount()
    for _ in feed(obs, _numbered(events, rejected.append), rejected.append,
                  late=None if keep else _drop):  # the observer has tallied them
        pass
    return rejected


def _drop(ev: Any) -> None:
    """Late events of a pass that keeps only counts."""


class RejectedCount:
    """Stands in for the list of rejected inputs where only their number is needed."""

    def __init__(self) -> None:
        self.n = 0

    def append(self, rejected: Rejected) -> None:
        self.n += 1

    def __len__(self) -> int:
        return self.n


def _numbered(events: Iterable[Any] | str | Path, reject: Callable[[Rejected], None]) -> Iterable[tuple[int, Any]]:
    if isinstance(events, str | Path):
        with open(events, "rb") as f:
            yield from read_jsonl(f, reject)
        return
    yield from enumerate(events)


def document(obs: Observer, w: Watch, rejected: Sized, tenant: str | None = None,
             key: dict[str, Any] | None = None, at: float | None = None) -> dict[str, Any]:
    """The JSON-ready explanation of one watched pattern."""
    hint = None
    unseen = [s for c in w.clauses for s in c.specs if not s.seen and s.glob is not None]
    for spec in unseen:
        if spec.glob not in obs.names:
            hint = did_you_mean(spec.glob, obs.names)
            if hint:
                break
    doc: dict[str, Any] = {
        "pattern": w.cp.name, "key_by": list(w.cp.key_by), "tenant": tenant, "key": key,
        "events_read": obs.buffer.arrivals + obs.late_total + len(rejected), "rejected": len(rejected),
        "late": obs.late_total, "observations": w.observations, "clauses": [c.to_dict() for c in w.clauses],
        "matches": w.matches, "holds": w.holds, "hold_counts": dict(w.hold_counts),
        "nearest_miss": w.closest.state, "did_you_mean": hint,
    }
    if at is not None:
        doc["at"] = {"time": at, "keys": w.at_states}
    doc["main_reason"] = main_reason(doc)
    if tenant is not None and tenant not in obs.tenants_seen:
        hint = did_you_mean(tenant, obs.tenants_seen)
        doc["main_reason"] = f"no event of tenant {tenant!r} in the input" + (
            f" (did you mean {hint}?)" if hint else f" ({len(obs.tenants_seen)} tenants seen)")
    return doc


def render(doc: dict[str, Any]) -> str:
    """The explanation as text: verdict, clause tallies, matches, holds, nearest miss."""
    scope = "".join(f" {k}={v}" for k, v in (("tenant", doc["tenant"]),) if v) + "".join(
        f" {k}={v}" for k, v in (doc["key"] or {}).items())
    lines = [f"pattern {doc['pattern']}  key_by {tuple(doc['key_by'])}{scope}",
             f"events read {doc['events_read']} (rejected {doc['rejected']}, late {doc['late']}); "
             f"evaluated for this pattern at {doc['observations']} events",
             f"verdict: {doc['main_reason']}", ""]
    for c in doc["clauses"]:
        lines.append(f"clause {c['label']}: held at {c['held']} of {c['observed']} evaluations"
                     + (f", first at {when(c['first_held'])}" if c["first_held"] is not None else ""))
        for s in c["specs"]:
            lines.append(f"  {spec_line(s)}")
        if c["peak"] and not c["held"]:
            lines.append(f"  nearest: {state_text(c['peak'])} at {when(c['peak']['at'])} [{c['peak']['key']}]")
    chosen = [doc["match"]] if "match" in doc else doc["matches"][:20]
    if chosen:
        lines += ["", f"matches ({len(doc['matches'])}{', showing ' + str(len(chosen)) if len(chosen) < len(doc['matches']) else ''}):"]
    for m in chosen:
        lines += _match_lines(m)
    if doc["holds"]:
        lines += ["", "not matched although the clauses got far: " + ", ".join(f"{k} ×{n}" for k, n in doc["hold_counts"].items())]
        lines += [f"  {when(h['at'])} [{h['key']}] {h['text']}" for h in doc["holds"][:HOLD_EXAMPLES]]
    near = doc["nearest_miss"]
    if near and not doc["matches"]:
        lines += ["", f"nearest miss: {when(near['at'])} [{near['key']}]"]
        lines += [f"  #{s['clause']} {'held' if s['holds'] else 'did not hold'}: {state_text(s)}"
                  for s in near["clauses"]]
    if "at" in doc:
        lines += ["", f"clause states at {when(doc['at']['time'])}:"]
        for key, snap in doc["at"]["keys"].items():
            lines.append(f"  [{key}] (its last event before: {snap['last_event']} at {when(snap['last_event_at'])}):")
            lines += [f"    #{s['clause']} {_verdict(s['holds'])}: {state_text(s)}" for s in snap["clauses"]]
    return "\n".join(lines)


def _verdict(holds: bool | None) -> str:
    return "fires only at an event" if holds is None else "holds" if holds else "does not hold"


def _match_lines(m: dict[str, Any]) -> list[str]:
    rec = m["match"]
    out = [f"  {when(rec['timestamp'])} [{','.join(f'{k}={v}' for k, v in rec['key'].items())}] "
           f"match_id {rec['match_id']}"]
    for e in m["events"]:
        out.append(f"    event {e['id']} {e['name']} at {when(e['timestamp'])} data {e['data']}")
    for s in m["clauses"]:
        out.append(f"    #{s['clause']}: {state_text(s)}")
    for a in m["actions"]:
        out.append(f"    action {a['type']} {a.get('params', {})}")
    for k, n in m["held_by_policy"].items():
        out.append(f"    action held by policy: {k} ×{n}")
    return out


__all__ = ["Explanation", "explain", "Observer", "document", "run"]
