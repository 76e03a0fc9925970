"""Back-testing: run the engine over recorded events, no Kafka (SEMANTICS §6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .compiler import CompiledSet
from .dsl import Pattern
from .durations import Duration
from .engine import Engine
from .events import Event, InvalidEvent, decode
from .gctune import throughput_gc
from .match import Match


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that was not an event: where it was, why, and the input itself."""

    index: int
    code: str
    reason: str
    input: Any

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "reason": self.reason, "input": self.input}


class ReplayResult(list):
    """The matches, in the order found, plus what did not become a match.

    `rejected`: inputs that are not events (with reasons); `late`: events that
    arrived below their tenant's watermark; `events`: how many inputs were read;
    `suppressed`: matches held back by cooldown, per pattern; `matches` and
    `actions`: both record lists (the list itself holds one of them).
    """

    rejected: list[Rejected]
    late: list[Event]
    events: int
    suppressed: Counter
    engine: Engine
    matches: list[Match]
    actions: list[Any]

    def rejected_by_reason(self) -> Counter:
        return Counter(r.code for r in self.rejected)

    def matches_by_pattern(self) -> Counter:
        return Counter(m.pattern for m in self)


BATCH = 512  # events decoded and reordered per engine pass: amortises the per-call set-up


def feed(engine: Engine, items: Iterable[tuple[int, Any]], rejected: list[Rejected]) -> Iterator[Match]:
    """Decode and push `(index, input)` pairs, yielding matches as they become final.

    Inputs that are not events are appended to `rejected`; end of input flushes
    the reorder buffer. Shared by `replay` and the `goldrush replay` command.
    """
    with throughput_gc():
        yield from _feed(engine, items, rejected)


def _feed(engine: Engine, items: Iterable[tuple[int, Any]], rejected: list[Rejected]) -> Iterator[Match]:
    batch: list[Event] = []
    append = batch.append
    for index, obj in items:
        if type(obj) is Event:
            append(obj)
        else:
            try:
                append(decode(obj))
            except InvalidEvent as exc:
                rejected.append(Rejected(index, exc.code, exc.message, obj))
                continue
        if len(batch) >= BATCH:
            yield from engine.push_many(batch)
            batch.clear()
    yield from engine.push_many(batch)
    yield from engine.flush()


def replay(
    patterns: Iterable[Pattern] | CompiledSet,
    events: Iterable[Any],
    *,
    allowed_lateness: Duration = "2s",
    actions: bool = False,
) -> ReplayResult:
    """Run `patterns` over `events` (envelope dicts or `Event`s); never raises on bad input.

    The result is the list of matches, or with `actions=True` the list of action
    records their bound actions produced (policies applied); both are also
    attributes of the result.
    """
    engine = Engine(patterns, allowed_lateness=allowed_lateness)
    rejected: list[Rejected] = []
    counted = _Counted(events)
    matches = list(feed(engine, counted, rejected))
    produced = engine.drain_actions()
    result = ReplayResult(produced if actions else matches)
    result.matches = matches
    result.actions = produced
    result.rejected = rejected
    result.late = engine.late
    result.events = counted.count
    result.suppressed = engine.suppressed
    result.engine = engine
    return result


class _Counted:
    """`enumerate` that remembers how many items it gave out."""

    def __init__(self, items: Iterable[Any]):
        self.items = items
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for index, obj in enumerate(self.items):
            self.count = index + 1
            yield index, obj
