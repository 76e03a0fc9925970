"""Back-testing: run the engine over recorded events, no Kafka (SEMANTICS §6)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from goldrush.compiler.compiled import CompiledSet
from goldrush.dsl import Pattern
from goldrush.dsl.durations import Duration
from goldrush.engine.engine import Engine
from goldrush.engine.gctune import throughput_gc
from goldrush.events.codec import BadJSON, loads_flagged
from goldrush.events.envelope import (
    DEFAULT_MAX_FUTURE,
    Event,
    InvalidEvent,
    decode,
    future_limit,
)
from goldrush.events.match import Match


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
    `suppressed`: matches held back by cooldown, per pattern; `duplicates`: events
    left out as copies of an id still in the reorder window; `matches` and
    `actions`: both record lists (the list itself holds one of them).
    """

    rejected: list[Rejected]
    late: list[Event]
    events: int
    suppressed: Counter
    duplicates: int
    engine: Engine
    matches: list[Match]
    actions: list[Any]

    def rejected_by_reason(self) -> Counter:
        return Counter(r.code for r in self.rejected)

    def matches_by_pattern(self) -> Counter:
        return Counter(m.pattern for m in self)


BATCH = 512  # events decoded and reordered per engine pass: amortises the per-call set-up


def feed(engine: Engine, items: Iterable[tuple[int, Any]], reject: Callable[[Rejected], None], *,
         max_future: Duration | None = DEFAULT_MAX_FUTURE, untrusted: bool = True,
         late: Callable[[Event], None] | None = None) -> Iterator[Match]:
    """Decode and push `(index, input)` pairs, yielding matches as they become final.

    Inputs that are not events, and events whose evaluation failed, go to `reject`; end of
    input flushes the reorder buffer. Shared by `replay` and the `goldrush replay` command.
    `untrusted=False` is for inputs orjson parsed (see `goldrush.events.decode`).
    With `late`, late events are handed to it after each batch instead of kept in `engine.late`.
    """
    limit = future_limit(max_future)
    positions = _Positions(reject, late)
    with throughput_gc():
        yield from _feed(engine, items, positions, limit, untrusted)


def _feed(engine: Engine, items: Iterable[tuple[int, Any]], positions: _Positions,
          limit: float | None, untrusted: bool) -> Iterator[Match]:
    batch: list[Event] = []
    reject = positions.reject
    append = batch.append
    for index, obj in items:
        if type(obj) is Event:
            ev = obj
        else:
            try:
                ev = decode(obj, limit, untrusted)
            except InvalidEvent as exc:
                reject(Rejected(index, exc.code, exc.message, obj))
                continue
        append(ev)
        positions.at[id(ev)] = index
        if len(batch) >= BATCH:
            yield from engine.push_many(batch)
            batch.clear()
            positions.report(engine)
    yield from engine.push_many(batch)
    yield from engine.flush()
    positions.report(engine)


class _Positions:
    """Hands on what a batch did not evaluate: failures with their input index, and late events."""

    def __init__(self, reject: Callable[[Rejected], None], late: Callable[[Event], None] | None) -> None:
        self.reject = reject
        self.late = late
        self.at: dict[int, int] = {}  # id(event) → index; the event is alive while buffered or failed
        self.bound = 4 * BATCH

    def report(self, engine: Engine) -> None:
        if self.late is not None and engine.late:
            for ev in engine.late:
                self.late(ev)
            engine.late.clear()
        reject = self.reject
        for ev, error in engine.failed:
            reject(Rejected(self.at.get(id(ev), -1), "evaluation_failed", f"evaluating the event failed: {error}",
                            ev.to_dict()))
        engine.failed.clear()
        if len(self.at) > self.bound:  # amortised: forget the events no longer buffered
            held = {id(e) for buf in engine.buffer.tenants.values() for e in buf.queue}
            self.at = {k: v for k, v in self.at.items() if k in held}
            self.bound = 2 * len(self.at) + 4 * BATCH


def replay(
    patterns: Iterable[Pattern] | CompiledSet,
    events: Iterable[Any],
    *,
    allowed_lateness: Duration = "2s",
    actions: bool = False,
    max_future: Duration | None = DEFAULT_MAX_FUTURE,
) -> ReplayResult:
    """Run `patterns` over `events` (envelope dicts or `Event`s); never raises on bad input.

    The result is the list of matches, or with `actions=True` the list of action
    records their bound actions produced (policies applied); both are also
    attributes of the result. Events stamped more than `max_future` ahead of the wall
    clock are rejected (None: no limit), as the worker rejects them.

    >>> from goldrush import F, Pattern, event, recent, replay
    >>> p = Pattern("hot", recent(event("cpu", F.load > 0.9), within="1m"))
    >>> result = replay([p], [{"name": "cpu", "timestamp": 5, "data": {"load": 0.95}},
    ...                       {"name": "cpu", "timestamp": "oops"}])
    >>> [(m.pattern, m.timestamp) for m in result], [r.code for r in result.rejected]
    ([('hot', 5.0)], ['bad_timestamp'])
    """
    engine = Engine(patterns, allowed_lateness=allowed_lateness)
    rejected: list[Rejected] = []
    counted = _Counted(events)
    matches = list(feed(engine, counted, rejected.append, max_future=max_future))
    rejected.sort(key=_by_index)
    produced = engine.drain_actions()
    result = ReplayResult(produced if actions else matches)
    result.matches = matches
    result.actions = produced
    result.rejected = rejected
    result.late = engine.late
    result.events = counted.count
    result.suppressed = engine.suppressed
    result.duplicates = engine.stats["duplicates"]
    result.engine = engine
    return result


def _by_index(r: Rejected) -> int:
    return r.index


class _Counted:
    """`enumerate` that remembers how many items it gave out."""

    def __init__(self, items: Iterable[Any]):
        self.items = items
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for index, obj in enumerate(self.items):
            self.count = index + 1
            yield index, obj


PREFIX_CHARS = 4096  # of a rejected line kept in the --rejected file


def read_jsonl(stream: IO[bytes], reject: Callable[[Rejected], None],
               shown: Callable[[int], None] = lambda done: None) -> Iterator[tuple[int, Any]]:
    """Parsed objects; lines that are not JSON become rejections (line numbers from 1).

    Lines only the lenient parser reads are checked here as untrusted input, as the worker checks
    them (goldrush.events.decode), so that feed can skip those checks for the others."""
    for lineno, line in enumerate(stream, 1):
        if lineno % 1000 == 0:
            shown(lineno)
        if not line.strip():
            continue
        try:
            obj, lenient = loads_flagged(line)
        except BadJSON as exc:
            reject(Rejected(lineno, "invalid_json", f"not JSON: {exc}", _prefix(line)))
            continue
        if lenient:
            try:
                decode(obj, None, True)
            except InvalidEvent as exc:
                reject(Rejected(lineno, exc.code, exc.message, _prefix(line)))
                continue
        yield lineno, obj


def _prefix(line: bytes) -> str:
    """A rejected line as text, at most PREFIX_CHARS of it (a 100 MB line is reported, not copied)."""
    text = line[:PREFIX_CHARS * 4].decode("utf-8", "replace").rstrip("\n")
    return text[:PREFIX_CHARS]
