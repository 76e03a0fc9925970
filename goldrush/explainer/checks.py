"""Static checks of patterns against an event catalogue (`goldrush check`).

A pattern that names an event nobody sends, a field no event has or a key field the
events it reads lack is valid — it compiles and runs — but it can never match. These
checks say so before a replay returns `matches: 0`, with a "did you mean" where a
near name exists. They are warnings: a worker runs the patterns anyway; `--strict`
makes them errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from goldrush.catalogue import VSM_CATALOGUE, Catalogue, EventInfo, json_kind
from goldrush.dsl import KEY_ATTRIBUTES, Metric, Pattern, clause_label
from goldrush.dsl.expr import render


@dataclass(frozen=True)
class Finding:
    """One warning: what is wrong, where (pattern, clause) and the nearest known name."""

    code: str
    pattern: str
    clause: str | None
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = f"pattern {self.pattern!r}" + (f", clause {self.clause}" if self.clause else "")
        hint = f"; did you mean {self.suggestion}?" if self.suggestion else ""
        return f"{where}: {self.message}{hint}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "pattern": self.pattern, "clause": self.clause,
                "message": self.message, "suggestion": self.suggestion, "text": str(self)}


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The closest options, quoted, or None."""
    close = difflib.get_close_matches(word, sorted(set(options)), n=2, cutoff=0.6)
    if len(close) == 2:  # a second guess only when it is about as close as the first
        ratio = [difflib.SequenceMatcher(None, word, c).ratio() for c in close]
        close = close[:1] if ratio[1] < ratio[0] - 0.02 else close
    return " or ".join(repr(c) for c in close) or None


def check_patterns(patterns: Iterable[Pattern], catalogue: Catalogue = VSM_CATALOGUE) -> list[Finding]:
    """Every finding for every pattern, in pattern and clause order."""
    out: list[Finding] = []
    for pattern in patterns:
        out += _check_pattern(pattern, catalogue)
    return out


def _check_pattern(pattern: Pattern, cat: Catalogue) -> list[Finding]:
    found: list[Finding] = []
    read: list[EventInfo] = []
    clause_reads: list[tuple[str, list[EventInfo]]] = []
    for i, clause in enumerate(pattern.clauses, 1):
        label = clause_label(i, clause)

        def say(code: str, message: str, suggestion: str | None = None, label: str = label) -> None:
            found.append(Finding(code, pattern.name, label, message, suggestion))

        for spec in clause.specs():
            infos = cat.matching(spec.name)
            if not infos:
                say("unknown_event", f"no event in {cat.source} is named {spec.name!r}",
                    did_you_mean(spec.name, cat.names()))
                continue
            read += infos
            clause_reads.append((label, infos))
            if spec.where is not None:
                _check_where(spec.where, spec.name, infos, cat.source, say)
        for m in clause.metrics():
            read += _check_metric(m, cat, say)
    known_keys = {f for info in read for f in info.fields}
    for label, infos in clause_reads:
        for key in pattern.key_by[1:]:
            if key not in KEY_ATTRIBUTES and key not in known_keys:
                continue  # no event has it at all: reported once, for key_by
            lacking = [info.name for info in infos if not _carries(info, key)]
            if not lacking:
                continue
            never = len(lacking) == len(infos)
            found.append(Finding(
                "key_field_missing", pattern.name, label,
                f"reads {', '.join(lacking)}, which carries no {key!r}: with key_by {pattern.key_by} "
                f"such events are not seen by this pattern" + (", so this clause never holds" if never else "")))
    _check_key_by(pattern, read, cat.source, found)
    return found


def _carries(info: EventInfo, key: str) -> bool:
    return key in info.attributes if key in KEY_ATTRIBUTES else key in info.fields


def _check_key_by(pattern: Pattern, read: list[EventInfo], where_of: str, found: list[Finding]) -> None:
    """A key_by data field no event the pattern reads has (a typo like 'sourec')."""
    if not read:
        return
    fields = {f for info in read for f in info.fields}
    for key in pattern.key_by[1:]:
        if key in KEY_ATTRIBUTES or key in fields:
            continue
        found.append(Finding("unknown_key_field", pattern.name, "key_by",
                             f"key field {key!r} is neither an envelope attribute (tenant, source, subsystem) "
                             f"nor a data field of the events this pattern reads in {where_of}: no event "
                             f"has a key, so the pattern never matches",
                             did_you_mean(key, [*KEY_ATTRIBUTES, *fields])))


def _check_metric(m: Metric, cat: Catalogue, say: Any) -> list[EventInfo]:
    infos = list(cat.events.values()) if m.event is None else cat.matching(m.event)
    if m.event is not None and not infos:
        say("unknown_event", f"metric {m.name!r} reads events named {m.event!r}, which {cat.source} never has",
            did_you_mean(m.event, cat.names()))
        return []
    path = ".".join(m.path)
    having = [info for info in infos if path in info.fields]
    if not having:
        options = {f for info in infos for f in info.fields}
        events = "any event" if m.event is None else f"{m.event!r} events"
        say("unknown_field", f"metric {m.name!r} reads data.{path}, which {events} in {cat.source} never has",
            did_you_mean(path, options))
    elif not any("number" in info.fields[path].types for info in having):
        say("type_never_holds", f"metric {m.name!r} reads data.{path}, which is never a number "
            f"({'|'.join(sorted(having[0].fields[path].types))}): the metric has no samples")
    return having if m.event is None else infos


def _check_where(node: tuple, glob: str, infos: list[EventInfo], where_of: str, say: Any) -> None:
    fields: dict[str, set[str]] = {}
    values: dict[str, set[str] | None] = {}
    for info in infos:
        for path, f in info.fields.items():
            fields.setdefault(path, set()).update(f.types)
            if path in values and values[path] is None:
                continue
            values[path] = None if not f.values else (values.get(path) or set()) | f.values
    reported: set[str] = set()
    for sub in _walk(node):
        kind = sub[0]
        if kind == "field":
            path = ".".join(sub[1])
            if path not in fields and path not in reported:
                reported.add(path)
                say("unknown_field", f"{glob!r} events in {where_of} have no field {path!r} "
                    f"(they have: {', '.join(sorted(fields)) or 'none'}): the condition is UNKNOWN for every event",
                    did_you_mean(path, fields))
        elif kind == "cmp":
            _check_cmp(sub, fields, values, say)
        elif kind == "isin" and sub[1][0] == "field":
            path = ".".join(sub[1][1])
            known = values.get(path)
            if known:
                for member in sub[2]:
                    if isinstance(member, str) and member not in known:
                        say("unknown_value", f"{render(sub)}: {member!r} is not a value {path!r} takes "
                            f"({', '.join(sorted(map(repr, known)))})", did_you_mean(member, known))
        elif kind == "arith":
            for operand in sub[2:]:
                if operand[0] == "field":
                    path = ".".join(operand[1])
                    types = fields.get(path)
                    if types and "number" not in types:
                        say("type_never_holds", f"{render(sub)}: arithmetic needs numbers, but {path!r} is "
                            f"{'|'.join(sorted(types))}: UNKNOWN for every event")


def _check_cmp(node: tuple, fields: dict[str, set[str]], values: dict[str, set[str] | None], say: Any) -> None:
    op, a, b = node[1], node[2], node[3]
    if a[0] == "const":
        a, b = b, a
    if a[0] != "field" or b[0] != "const":
        return
    path = ".".join(a[1])
    types = fields.get(path)
    if not types:
        return
    const_kind = json_kind(b[1])
    ok = const_kind in types and (const_kind != "boolean" or op in ("==", "!="))
    if not ok:
        why = "booleans compare only with == and !=" if const_kind == "boolean" and const_kind in types else (
            f"{path!r} is {'|'.join(sorted(types))}, compared with a {const_kind}")
        say("type_never_holds", f"{render(node)} can never be TRUE: {why} (UNKNOWN for every event)")
        return
    known = values.get(path)
    if known and isinstance(b[1], str) and op == "==" and b[1] not in known:
        say("unknown_value", f"{render(node)}: {b[1]!r} is not a value {path!r} takes "
            f"({', '.join(sorted(map(repr, known)))}), so this is never TRUE", did_you_mean(b[1], known))


def _walk(node: tuple) -> Iterator[tuple]:
    """Every sub-node of a where node."""
    yield node
    kind = node[0]
    if kind in ("and", "or"):
        for n in node[1]:
            yield from _walk(n)
    elif kind == "not":
        yield from _walk(node[1])
    elif kind in ("cmp", "arith"):
        yield from _walk(node[2])
        yield from _walk(node[3])
    elif kind in ("isin", "exists"):
        yield from _walk(node[1])
