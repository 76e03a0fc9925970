"""Test helpers for users' own patterns (in the spirit of Quix Streams' `sdf.test()`).

    from goldrush.testing import run_patterns

    run = run_patterns([slow_checkout], "tests/checkout_events.jsonl")
    run.assert_matched("slow_checkout", count=1, key={"source": "checkout"})
    run.assert_not_matched("variety_imbalance")
    run.assert_actions("autoscale", count=1, params={"direction": "scale_out"})

The patterns run through `replay` (the engine the worker runs), actions and policies
included. A failed assertion is an `AssertionError` that lists what did happen and, when
a pattern did not match, why not (`goldrush.explain`'s verdict and clause tallies).

>>> from goldrush import F, Pattern, event, frequency
>>> from goldrush.actions import AlgedonicAlert
>>> burst = Pattern("burst", frequency(event("app.error"), (">=", 2), within="1m"),
...                 action=AlgedonicAlert(severity="high"))
>>> run = run_patterns(burst, [{"name": "app.error", "timestamp": t} for t in (0, 10)])
>>> [m.timestamp for m in run.assert_matched("burst", count=1, at=10)]
[10.0]
>>> [a.params.severity for a in run.assert_actions("algedonic_alert", count=1)]
['high']
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from goldrush.dsl import Pattern
from goldrush.dsl.durations import Duration
from goldrush.engine.replay import ReplayResult, replay
from goldrush.events.codec import BadJSON, loads
from goldrush.events.envelope import parse_timestamp
from goldrush.events.match import Match
from goldrush.explainer import explain
from goldrush.explainer.checks import did_you_mean


def _events(events: Iterable[Any] | str | Path) -> list[Any]:
    """Events from dicts, `Event`s or a JSONL file (lines that are not JSON are kept, to be rejected)."""
    if isinstance(events, str | Path):
        out: list[Any] = []
        with open(events, "rb") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        out.append(loads(line))
                    except BadJSON as exc:
                        raise AssertionError(f"{events}, line {lineno}: not JSON: {exc}") from None
        return out
    return list(events)


class PatternRun:
    """The matches and actions of a run, with assertions that explain their failures."""

    def __init__(self, patterns: list[Pattern], events: list[Any], result: ReplayResult,
                 allowed_lateness: Duration):
        self.patterns, self.events, self.result = patterns, events, result
        self.allowed_lateness = allowed_lateness

    @property
    def matches(self) -> list[Match]:
        return self.result.matches

    @property
    def actions(self) -> list[Any]:
        return self.result.actions

    def matches_of(self, pattern: str, *, tenant: str | None = None, key: dict[str, Any] | None = None,
                   at: Any = None) -> list[Match]:
        """The matches of `pattern`, narrowed to a tenant, key fields (a subset) and a time."""
        self._known(pattern)
        t = None if at is None else parse_timestamp(at, "at")
        return [m for m in self.matches if m.pattern == pattern
                and (tenant is None or m.tenant == tenant)
                and (key is None or all(m.key.get(k) == v for k, v in key.items()))
                and (t is None or m.timestamp == t)]

    def assert_matched(self, pattern: str, *, count: int | None = None, tenant: str | None = None,
                       key: dict[str, Any] | None = None, at: Any = None,
                       event_ids: list[str] | None = None) -> list[Match]:
        """At least one (or exactly `count`) match of `pattern` as narrowed; they are returned."""
        found = self.matches_of(pattern, tenant=tenant, key=key, at=at)
        if event_ids is not None:
            found = [m for m in found if m.event_ids == event_ids]
        if (count is None and not found) or (count is not None and len(found) != count):
            want = f"{count}" if count is not None else "at least one"
            narrowed = _narrowing(tenant, key, at, event_ids)
            raise AssertionError(f"expected {want} match{'' if count in (None, 1) else 'es'} of {pattern!r}{narrowed}, "
                                 f"got {len(found)}\n{self._story(pattern, tenant, key)}")
        return found

    def assert_not_matched(self, pattern: str, *, tenant: str | None = None,
                           key: dict[str, Any] | None = None) -> None:
        found = self.matches_of(pattern, tenant=tenant, key=key)
        if found:
            listed = "\n".join(f"  {m.to_dict()}" for m in found[:10])
            raise AssertionError(f"expected no match of {pattern!r}{_narrowing(tenant, key, None, None)}, "
                                 f"got {len(found)}:\n{listed}")

    def assert_actions(self, type: str, *, count: int | None = None, pattern: str | None = None,
                       tenant: str | None = None, params: dict[str, Any] | None = None) -> list[Any]:
        """Action records of `type` (e.g. "autoscale"), narrowed; `params` is a subset of theirs."""
        found = []
        for a in self.actions:
            d = a.to_dict()
            if d["type"] == type and (pattern is None or d["pattern"] == pattern) \
                    and (tenant is None or d["tenant"] == tenant) \
                    and (params is None or all(d["params"].get(k) == v for k, v in params.items())):
                found.append(a)
        if (count is None and not found) or (count is not None and len(found) != count):
            listed = "\n".join(f"  {a.to_dict()}" for a in self.actions[:10]) or "  (none)"
            held = {k: v for k, v in self.result.engine.policies.stats.items() if not k.startswith("emitted_")}
            raise AssertionError(
                f"expected {count if count is not None else 'at least one'} {type!r} action(s)"
                f"{'' if pattern is None else f' of {pattern!r}'}{'' if params is None else f' with {params}'}, "
                f"got {len(found)}; all actions:\n{listed}" + (f"\nheld back by policy: {held}" if held else ""))
        return found

    def assert_no_rejections(self) -> None:
        """Every input was a valid event, and none was late."""
        problems = [f"  input {r.index}: {r.reason}" for r in self.result.rejected[:10]]
        problems += [f"  late: {e!r}" for e in self.result.late[:10]]
        if problems:
            raise AssertionError(f"{len(self.result.rejected)} rejected and {len(self.result.late)} late inputs:\n"
                                 + "\n".join(problems))

    def explain(self, pattern: str, **narrowing: Any) -> Any:
        """`goldrush.explain` over the same events."""
        return explain(self.patterns, self.events, pattern=pattern, allowed_lateness=self.allowed_lateness,
                       **narrowing)

    def _story(self, pattern: str, tenant: str | None, key: dict[str, Any] | None) -> str:
        others = [m.to_dict() for m in self.matches if m.pattern == pattern][:5]
        seen = "\n".join(f"  {m}" for m in others) or "  (none)"
        why = self.explain(pattern, tenant=tenant, key=key)
        return f"matches of {pattern!r} in the run:\n{seen}\nwhy:\n{why.text()}"

    def _known(self, pattern: str) -> None:
        names = [p.name for p in self.patterns]
        if pattern not in names:
            hint = did_you_mean(pattern, names)
            raise AssertionError(f"no pattern named {pattern!r} in this run"
                                 + (f"; did you mean {hint}?" if hint else f" (patterns: {', '.join(names)})"))


def _narrowing(tenant: str | None, key: dict[str, Any] | None, at: Any, event_ids: list[str] | None) -> str:
    parts = [f"{k}={v!r}" for k, v in (("tenant", tenant), ("key", key), ("at", at), ("event_ids", event_ids))
             if v is not None]
    return f" ({', '.join(parts)})" if parts else ""


def run_patterns(patterns: Pattern | Iterable[Pattern], events: Iterable[Any] | str | Path, *,
                 allowed_lateness: Duration = "2s") -> PatternRun:
    """Run `patterns` over `events` (dicts, `Event`s or a JSONL path) with actions and policies."""
    pats = [patterns] if isinstance(patterns, Pattern) else list(patterns)
    evs = _events(events)
    return PatternRun(pats, evs, replay(pats, evs, allowed_lateness=allowed_lateness), allowed_lateness)


__all__ = ["PatternRun", "run_patterns"]
