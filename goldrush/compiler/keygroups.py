"""Splitting a pattern set by `key_by`, so that keys finer than the tenant can be spread out.

Patterns keyed by the tenant alone are evaluated where the tenant's events are
reordered. Each distinct finer `key_by` (e.g. `("tenant", "source")`) forms a
*key group*: its patterns only ever look at one key's history, so they can run
on whichever worker owns that key. The tenant stage decides, per released event,
which groups need it and under which key (`Router`); the key stage evaluates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from goldrush.compiler.compiled import CompiledSet, canonical_key
from goldrush.compiler.runtime import get_path
from goldrush.compiler.threevalued import MISSING, NUMBER_TYPES
from goldrush.dsl import Pattern
from goldrush.events.envelope import Event


@dataclass(frozen=True)
class KeyGroup:
    """The patterns that share one `key_by` finer than the tenant."""

    index: int
    key_by: tuple[str, ...]
    patterns: tuple[Pattern, ...]

    @property
    def has_actions(self) -> bool:
        """Only then must the tenant's action policies wait for this group's verdict."""
        return any(p.actions for p in self.patterns)


def split_key_groups(patterns: Sequence[Pattern]) -> tuple[list[Pattern], list[KeyGroup]]:
    """(patterns keyed by the tenant alone, the key groups in order of first appearance)."""
    local = [p for p in patterns if p.key_by == ("tenant",)]
    by_key: dict[tuple[str, ...], list[Pattern]] = {}
    for p in patterns:
        if p.key_by != ("tenant",):
            by_key.setdefault(p.key_by, []).append(p)
    return local, [KeyGroup(i, key_by, tuple(ps)) for i, (key_by, ps) in enumerate(by_key.items())]


class _GroupRoute:
    """One group's test of one event name: is the event relevant, and under which key."""

    __slots__ = ("group", "waits", "key", "by_name", "metrics")

    def __init__(self, group: int, waits: bool, key: Callable[[Event], Any], by_name: bool,
                 metrics: tuple[tuple[str, tuple[str, ...] | None], ...]):
        self.group = group
        self.waits = waits  # the group has actions: the tenant's policies wait for its verdict
        self.key = key
        self.by_name = by_name
        self.metrics = metrics

    def relevant(self, ev: Event) -> bool:
        """As the engine decides relevance (SEMANTICS §6): named like a spec, or a metric sample."""
        if self.by_name:
            return True
        data = ev.data
        for first, path in self.metrics:
            v = data.get(first, MISSING) if path is None else get_path(data, path)
            if type(v) in NUMBER_TYPES and v - v == 0:
                return True
        return False


class Router:
    """Which key groups need an event, per event name, computed once per name."""

    def __init__(self, groups: Sequence[KeyGroup]):
        self.groups = list(groups)
        self.compiled = [CompiledSet(g.patterns) for g in self.groups]
        self._routes: dict[str, tuple[_GroupRoute, ...]] = {}

    def routes(self, name: str) -> tuple[_GroupRoute, ...]:
        routes = self._routes.get(name)
        if routes is None:
            if len(self._routes) >= 65536:
                self._routes.clear()
            routes = self._routes[name] = tuple(self._build(name))
        return routes

    def _build(self, name: str) -> list[_GroupRoute]:
        out = []
        for group, cs in zip(self.groups, self.compiled, strict=True):
            candidates = cs.plan(name).candidates
            if not candidates:
                continue
            by_name = any(c.by_name for c in candidates)
            wanted = {mid for c in candidates for mid in c.metric_ids}
            metrics = tuple((first, path) for mid, first, path in cs.plan(name).metrics if mid in wanted)
            out.append(_GroupRoute(group.index, group.has_actions, cs.patterns[0].key, by_name, metrics))
        return out


def _same_as_engine(value: Any) -> Any:
    """The representative of `value` under Python equality, which the engine's key dicts use
    (`True == 1 == 1.0`): equal keys must go to one partition, as they share one state."""
    if type(value) is bool:
        return int(value)
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def partition_key(group: int, key: tuple) -> bytes:
    """The Kafka key of a key group's key: every event of one engine key gets the same bytes."""
    return json.dumps([group, *map(_same_as_engine, key)], separators=(",", ":"), allow_nan=True).encode()


def parse_partition_key(text: str) -> tuple[int, tuple] | None:
    """(group, key) back from `partition_key`'s text (a key snapshot's table key), or None.

    Equal to the engine's key: `_same_as_engine` keeps Python equality, and NaNs are made
    canonical again."""
    try:
        group, *key = json.loads(text)
    except (ValueError, TypeError):
        return None
    if type(group) is not int or not key or not isinstance(key[0], str):
        return None
    if any(isinstance(v, list | dict) for v in key):
        return None  # not a key the engine makes (those hold canonical JSON text instead)
    return group, canonical_key(key)
