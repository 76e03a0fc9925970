"""Splitting a pattern set by `key_by`, so that keys finer than the tenant can be spread out.

Patterns keyed by the tenant alone are evaluated where the tenant's events are
reordered. Each distinct finer `key_by` (e.g. `("tenant", "source")`) forms a
*key group*: its patterns only ever look at one key's history, so they can run
on whichever worker owns that key. The tenant stage decides, per released event,
which groups need it and under which key (`Router`); the key stage evaluates it.

A group's number is part of its keys' Kafka keys and table keys, and of the policy queue's
masks. Numbered by order in the set, a `key_by` inserted before others renumbers them, and their
keys' state is then under other keys. A *layout* (a list: entry i is group i's `key_by`, or None
for a number no longer used) fixes the numbers instead: the pattern store gives every version one
(`next_layout`), so that a `key_by` keeps its number for as long as it is used.
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

Layout = list[tuple[str, ...] | None]


@dataclass(frozen=True)
class KeyGroup:
    """The patterns that share one `key_by` finer than the tenant. A group with no patterns (and
    `key_by` ()) holds a number of the layout that this set does not use: nothing is routed to it."""

    index: int
    key_by: tuple[str, ...]
    patterns: tuple[Pattern, ...]

    @property
    def has_actions(self) -> bool:
        """Only then must the tenant's action policies wait for this group's verdict."""
        return any(p.actions for p in self.patterns)

    @property
    def live(self) -> bool:
        return bool(self.patterns)


def finer_key_bys(patterns: Sequence[Pattern]) -> list[tuple[str, ...]]:
    """The distinct `key_by`s finer than the tenant, in order of first appearance."""
    return list(dict.fromkeys(p.key_by for p in patterns if p.key_by != ("tenant",)))


def split_key_groups(patterns: Sequence[Pattern], layout: Sequence[tuple[str, ...] | None] | None = None
                     ) -> tuple[list[Pattern], list[KeyGroup]]:
    """(patterns keyed by the tenant alone, the key groups, group i at index i).

    Without a layout, groups are numbered in order of first appearance. With one, a `key_by` takes
    its number there; one the layout lacks comes after it, in order of first appearance, and
    numbers of the layout the set does not use are empty groups, so that every list and mask
    indexed by group number stays valid. A set with no finer pattern has no groups at all."""
    local = [p for p in patterns if p.key_by == ("tenant",)]
    by_key: dict[tuple[str, ...], list[Pattern]] = {}
    for p in patterns:
        if p.key_by != ("tenant",):
            by_key.setdefault(p.key_by, []).append(p)
    if not by_key:
        return local, []
    numbers = full_layout(layout or [], list(by_key))
    return local, [KeyGroup(i, (), ()) if key_by is None else KeyGroup(i, key_by, tuple(by_key[key_by]))
                   for i, key_by in enumerate(numbers)]


def full_layout(layout: Sequence[tuple[str, ...] | None], key_bys: Sequence[tuple[str, ...]]) -> Layout:
    """`layout` for a set of these `key_by`s: the numbers of those it has, None for the others (and
    for a repeated entry), the `key_by`s it lacks appended in their order."""
    used = set(key_bys)
    out: Layout = []
    for key_by in layout:
        out.append(key_by if key_by in used and key_by not in out else None)
    out += [key_by for key_by in key_bys if key_by not in out]
    return out


def next_layout(previous: Sequence[tuple[str, ...] | None] | None, patterns: Sequence[Pattern]) -> Layout:
    """The layout of a new version of the set, from the one before: every `key_by` still used keeps its
    number, a removed one leaves its number empty, a new one takes the next number never given.

    Numbers are never given again, not even to the same `key_by` back: key snapshots and in-flight
    keyed messages stay under a removed group's number, and a number that always means one
    `key_by` never lets another group's state in (nor brings back state a removed pattern dropped)."""
    previous = list(previous or [])
    key_bys = finer_key_bys(patterns)
    out: Layout = [key_by if key_by in key_bys else None for key_by in previous]
    out += [key_by for key_by in key_bys if key_by not in previous]
    return out


def read_layout(value: Any) -> Layout | None:
    """A layout from its JSON form (a list of `key_by` lists or nulls); None when `value` is not one
    (absent from a version record written before layouts: the set is numbered by order)."""
    if not isinstance(value, list):
        return None
    out: Layout = []
    for entry in value:
        if entry is None:
            out.append(None)
        elif isinstance(entry, list) and entry and all(isinstance(k, str) for k in entry):
            out.append(tuple(entry))
        else:
            return None
    return out


def layout_json(layout: Sequence[tuple[str, ...] | None]) -> list[list[str] | None]:
    return [None if key_by is None else list(key_by) for key_by in layout]


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
        self.groups = [g for g in groups if g.live]
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
