"""Replay across pattern-set versions: reproduce a streaming run during which the set changed.

A *history* is what `goldrush patterns history --json` prints (and `PatternStore.history()`
returns): the versions, each with its patterns, and the switches the workers recorded, one per
tenant and version: `{"tenant": t, "version": v, "after": T}`. The rule (docs/semantics.md,
"Changing the pattern set"): an event of tenant t with timestamp `ts` is evaluated with the
highest version v that has a switch for t with `after` null or `ts > after`; a tenant with no
switch at all uses the first version. At each change of version, the tenant's state moves to
the new set as on a worker: kept for patterns whose definition id is unchanged, fresh otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any

from goldrush.dsl import Pattern
from goldrush.dsl.durations import Duration, to_seconds
from goldrush.engine.engine import Engine
from goldrush.engine.reorder import LATE, ReorderBuffer
from goldrush.engine.replay import Rejected, ReplayResult, _by_index
from goldrush.errors import PatternError
from goldrush.events.envelope import DEFAULT_MAX_FUTURE, Event, InvalidEvent, decode, future_limit
from goldrush.events.match import Match


def _patterns(entry: dict[str, Any]) -> list[Pattern]:
    return [p if isinstance(p, Pattern) else Pattern.from_dict(p) for p in entry["patterns"]]


def _engines(history: dict[str, Any], lateness: float) -> dict[int, Engine]:
    """An engine per version that ran. A version the workers rejected (it does not compile) never
    ran: no switch names it."""
    refused = {r.get("version") for r in history.get("rejected", ()) if isinstance(r, dict)}
    engines = {}
    for v in sorted(history["versions"], key=lambda v: v["version"]):
        if v["version"] in refused:
            continue
        try:
            engines[v["version"]] = Engine(_patterns(v), allowed_lateness=lateness)
        except PatternError as exc:
            raise PatternError(f"pattern-set version {v['version']} of the history does not compile, and its "
                               f"'rejected' list does not name it: {exc}") from exc
    if not engines:
        raise ValueError("the history holds no pattern-set version that ran")
    return engines


def replay_versions(history: dict[str, Any], events: Iterable[Any], *, allowed_lateness: Duration = "2s",
                    actions: bool = False, max_future: Duration | None = DEFAULT_MAX_FUTURE) -> ReplayResult:
    """Like `goldrush.replay`, with the pattern set of each event chosen by `history`.
    Matches carry `pattern_set_version`."""
    lateness = to_seconds(allowed_lateness, what="allowed_lateness", allow_zero=True)
    engines = _engines(history, lateness)
    first = min(engines)
    # tenant → [(version, after)], highest version first
    switches: dict[str, list[tuple[int, float | None]]] = {}
    for s in history.get("switches", []):
        if s["version"] in engines:
            switches.setdefault(s["tenant"], []).append((s["version"], s.get("after")))
    for entries in switches.values():
        entries.sort(key=lambda e: e[0], reverse=True)
    current: dict[str, int] = {}  # tenant → the version its state is in
    buffer = ReorderBuffer(lateness)
    limit = future_limit(max_future)
    rejected: list[Rejected] = []
    late: list[Event] = []
    matches: list[Match] = []
    produced: list[Any] = []
    duplicates = 0
    # id(event) → its input index, while it waits in the reorder buffer: an evaluation failure is
    # reported at the input's index, as `replay` does (it said -1)
    at: dict[int, int] = {}

    def version_for(ev: Event) -> int:
        for version, after in switches.get(ev.tenant, ()):
            if after is None or ev.timestamp > after:
                return version
        return first

    def evaluate(released: list[Event]) -> None:
        for ev in released:
            version = version_for(ev)
            was = current.get(ev.tenant)
            engine = engines[version]
            if was is not None and was != version:
                old = engines[was]
                engine.restore_tenant(ev.tenant, old.snapshot_tenant(ev.tenant))
                old.unload_tenant(ev.tenant)
            current[ev.tenant] = version
            index = at.pop(id(ev), -1)
            matches.extend(dataclasses.replace(m, pattern_set_version=version) for m in engine.process_many([ev]))
            produced.extend(a.model_copy(update={"pattern_set_version": version}) for a in engine.drain_actions())
            for failed, error in engine.failed:
                rejected.append(Rejected(index, "evaluation_failed", f"evaluating the event failed: {error}",
                                         failed.to_dict()))
            engine.failed.clear()

    count = 0
    for index, obj in enumerate(events):
        count = index + 1
        if type(obj) is Event:
            ev = obj
        else:
            try:
                ev = decode(obj, limit, True)
            except InvalidEvent as exc:
                rejected.append(Rejected(index, exc.code, exc.message, obj))
                continue
        released: list[Event] = []
        at[id(ev)] = index
        accepted = buffer.push(ev, released)
        if accepted is LATE:
            late.append(ev)
        elif accepted is not True:
            duplicates += 1
        if accepted is not True:
            at.pop(id(ev), None)
        evaluate(released)
    released = []
    buffer.flush(released)
    evaluate(released)
    rejected.sort(key=_by_index)
    result = ReplayResult(produced if actions else matches)
    result.matches, result.actions, result.rejected, result.late = matches, produced, rejected, late
    result.events, result.duplicates = count, duplicates
    result.suppressed = Counter()
    for engine in engines.values():
        result.suppressed.update(engine.suppressed)
    result.engine = engines[max(engines)]
    return result
