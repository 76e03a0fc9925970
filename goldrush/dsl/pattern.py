"""`Pattern`: a named conjunction of clauses with its key, cooldown and actions (SEMANTICS §6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from goldrush.dsl.actions import action_from_dict, check_actions
from goldrush.dsl.clauses import (
    CLAUSE_PLUGINS,
    CLAUSE_TYPES,
    KEY_ATTRIBUTES,
    Clause,
    EventSpec,
    Sequence,
    _dump_seconds,
    _optional_seconds,
    clause_label,
    load_clause_plugin,
)
from goldrush.dsl.durations import Duration
from goldrush.dsl.expr import field_path
from goldrush.errors import PatternError


def _key_by(key_by: Any) -> tuple[str, ...]:
    if isinstance(key_by, str):
        key_by = (key_by,)
    if not isinstance(key_by, tuple | list) or not all(isinstance(k, str) and k for k in key_by):
        raise PatternError(f"key_by must be a tuple of field names, got {key_by!r}")
    for k in key_by:
        if k not in KEY_ATTRIBUTES and not all(field_path(k)):
            raise PatternError(f"key_by field {k!r} is not a valid field name")
    keys = tuple(dict.fromkeys(k for k in key_by if k != "tenant"))
    return ("tenant", *keys)


@dataclass(frozen=True, init=False)
class Pattern:
    """A named conjunction of clauses, evaluated independently per key."""

    name: str
    clauses: tuple[Clause, ...]
    key_by: tuple[str, ...] = ("tenant",)
    cooldown: float | None = None
    actions: tuple[Any, ...] = field(default=())
    description: str = ""

    def __init__(self, name: str, *clauses: Clause, key_by: Any = ("tenant",),
                 cooldown: Duration | None = None, action: Any = None, description: str = ""):
        if not isinstance(name, str) or not name:
            raise PatternError(f"a pattern needs a non-empty string name, got {name!r}")
        if not clauses:
            raise PatternError("a pattern needs at least one clause", pattern=name)
        normalized = []
        for i, clause in enumerate(clauses, 1):
            label = clause_label(i, clause)
            if isinstance(clause, EventSpec | str):
                raise PatternError("an event spec is not a clause: wrap it in sequence(), recent(), "
                                   "frequency() or concurrent()", pattern=name, clause=label)
            if not isinstance(clause, Clause):
                raise PatternError(f"unknown operator {type(clause).__name__}: use sequence, concurrent, "
                                   f"frequency, trend or recent", pattern=name, clause=label)
            try:
                normalized.append(clause.normalized())
            except PatternError as exc:
                raise exc.located(pattern=name, clause=label) from None
        sequences = [i for i, c in enumerate(normalized, 1) if c.op == "sequence"]
        if len(sequences) > 1:
            raise PatternError(f"a pattern has at most one sequence clause, found {len(sequences)} "
                               f"(clauses {', '.join(f'#{i}' for i in sequences)})", pattern=name)
        try:
            keys = _key_by(key_by)
            cool = _optional_seconds(cooldown, "cooldown")
        except PatternError as exc:
            raise exc.located(pattern=name) from None
        if action is None:
            actions: tuple[Any, ...] = ()
        elif isinstance(action, list | tuple):
            actions = tuple(action)
        else:
            actions = (action,)
        try:
            actions = check_actions(actions, keys)
        except PatternError as exc:
            raise exc.located(pattern=name, clause="action") from None
        if not isinstance(description, str):
            raise PatternError("description must be a string", pattern=name)
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "clauses", tuple(normalized))
        set_(self, "key_by", keys)
        set_(self, "cooldown", cool)
        set_(self, "actions", actions)
        set_(self, "description", description)

    @property
    def sequence(self) -> Sequence | None:
        for c in self.clauses:
            if c.op == "sequence":
                return c  # type: ignore[return-value]
        return None

    def with_actions(self, *actions: Any) -> Pattern:
        """The same pattern with these actions instead (built-ins stay untouched)."""
        try:
            return self._copy(actions=check_actions(tuple(actions), self.key_by))
        except PatternError as exc:
            raise exc.located(pattern=self.name, clause="action") from None

    def add_actions(self, *actions: Any) -> Pattern:
        """The same pattern with these actions added to its own."""
        return self.with_actions(*self.actions, *actions)

    def _copy(self, **changes: Any) -> Pattern:
        new = object.__new__(Pattern)
        for name in ("name", "clauses", "key_by", "cooldown", "actions", "description"):
            object.__setattr__(new, name, changes.get(name, getattr(self, name)))
        return new

    def renamed(self, name: str) -> Pattern:
        return self._copy(name=name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "key_by": list(self.key_by),
            "cooldown": _dump_seconds(self.cooldown),
            "clauses": [c.to_dict() for c in self.clauses],
        }
        if self.actions:
            out["actions"] = [a.to_dict() for a in self.actions]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pattern:
        if not isinstance(d, dict) or "name" not in d:
            raise PatternError(f"a serialised pattern must be an object with a name, got {d!r}")
        clauses = []
        for i, c in enumerate(d.get("clauses", []), 1):
            op = c.get("op") if isinstance(c, dict) else None
            if not load_clause_plugin(op):
                raise PatternError(f"unknown operator {op!r} (clause kinds of other packages are found through "
                                   f"the {CLAUSE_PLUGINS!r} entry points: is the package installed?)",
                                   pattern=d["name"], clause=f"#{i}")
            try:
                clauses.append(CLAUSE_TYPES[op].from_dict(c))  # type: ignore[attr-defined]
            except (KeyError, TypeError) as exc:
                raise PatternError(f"malformed {op} clause: {exc}", pattern=d["name"], clause=f"#{i} ({op})") from None
        actions = None
        if d.get("actions"):
            actions = [action_from_dict(a) for a in d["actions"]]
        return cls(d["name"], *clauses, key_by=tuple(d.get("key_by", ("tenant",))),
                   cooldown=d.get("cooldown"), action=actions, description=d.get("description", ""))


__all__ = ["Pattern"]
