"""A pattern set as data: its JSON form checked and compiled once, and what changes between two
sets (used by `goldrush patterns`, `PatternStore` and the worker that switches sets live)."""

from __future__ import annotations

from typing import Any

from goldrush.compiler.compiled import CompiledSet
from goldrush.compiler.definitions import definition_id
from goldrush.dsl import Pattern
from goldrush.errors import PatternError


class PatternSetRejected(PatternError):
    """A pattern set that will not run; whatever set was running keeps running."""


def compile_set(docs: list[Any]) -> list[Pattern]:
    """Patterns from their JSON form (or `Pattern`s), validated and compiled once;
    `PatternSetRejected` says what is wrong."""
    try:
        if not isinstance(docs, list) or not docs:
            raise PatternError("a pattern set is a non-empty list of patterns")
        patterns = [d if isinstance(d, Pattern) else Pattern.from_dict(d) for d in docs]
        names = [p.name for p in patterns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PatternError(f"two patterns are named {dup[0]!r}")
        CompiledSet(patterns)
    except PatternSetRejected:
        raise
    except PatternError as exc:
        raise PatternSetRejected(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any failure to build the set is a rejection, never a crash
        raise PatternSetRejected(f"{type(exc).__name__}: {exc}") from exc
    return patterns


def diff_sets(old: list[Pattern], new: list[Pattern]) -> dict[str, list[str]]:
    """Pattern names by what a switch from `old` to `new` does to them: `unchanged` (same
    definition id: state kept), `edited` (state starts fresh), `added`, `removed`; `retuned`
    are unchanged patterns whose cooldown, actions or description differ (state kept)."""
    before = {p.name: p for p in old}
    after = {p.name: p for p in new}
    out: dict[str, list[str]] = {"added": [], "removed": [], "edited": [], "retuned": [], "unchanged": []}
    for name, p in after.items():
        q = before.get(name)
        if q is None:
            out["added"].append(name)
        elif definition_id(q) != definition_id(p):
            out["edited"].append(name)
        elif q.to_dict() != p.to_dict():
            out["retuned"].append(name)
        else:
            out["unchanged"].append(name)
    out["removed"] = [name for name in before if name not in after]
    return out
