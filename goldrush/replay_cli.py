"""`goldrush replay`: JSONL in, one JSON match per line out, a summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import IO, Any

from .durations import option_seconds
from .engine import Engine
from .jsonio import BadJSON, dumps, loads
from .loader import load_patterns
from .progress import count_lines, progress
from .rejects import exit_status, replay_rejected
from .replay import Rejected, feed


def read_jsonl(stream: IO[bytes], rejected: list[Rejected],
               shown: Callable[[int], None] = lambda done: None) -> Iterator[Any]:
    """Parsed objects; lines that are not JSON become rejections (line numbers from 1)."""
    for lineno, line in enumerate(stream, 1):
        if lineno % 1000 == 0:
            shown(lineno)
        if not line.strip():
            continue
        try:
            yield lineno, loads(line)
        except BadJSON as exc:
            text = line.decode("utf-8", "replace").rstrip("\n")
            rejected.append(Rejected(lineno, "invalid_json", f"not JSON: {exc}", text[:4096]))


def run_replay(args: argparse.Namespace) -> int:
    patterns_spec, input_spec = args.patterns, args.input
    if input_spec is None:
        patterns_spec, input_spec = None, patterns_spec
    if input_spec is None:
        print("goldrush replay: INPUT is required (a JSONL file or -)", file=sys.stderr)
        return 2
    patterns = load_patterns(patterns_spec)
    engine = Engine(patterns, allowed_lateness=option_seconds(args.lateness, what="--lateness", allow_zero=True))
    rejected: list[Rejected] = []
    matches: Counter[str] = Counter()
    with ExitStack() as stack:
        if input_spec == "-":
            source = sys.stdin.buffer
        else:
            try:
                source = stack.enter_context(open(input_spec, "rb"))
            except OSError as exc:
                print(f"goldrush replay: cannot read {input_spec}: {exc.strerror}", file=sys.stderr)
                return 2
        out = stack.enter_context(open(args.out, "w")) if args.out else sys.stdout
        write = out.write

        actions: Counter[str] = Counter()
        # A bar only on a terminal, and not when matches go to that terminal too
        bar = sys.stderr.isatty() and (bool(args.out) or not sys.stdout.isatty())
        total = count_lines(source) if bar and source.seekable() else None
        shown = stack.enter_context(progress(total, "replaying", enabled=bar))
        for m in feed(engine, read_jsonl(source, rejected, shown), rejected):
            matches[m.pattern] += 1
            if args.actions:
                for a in engine.drain_actions():
                    actions[a.type] += 1
                    write(dumps(a.to_dict()) + "\n")
            else:
                write(dumps(m.to_dict()) + "\n")
    events = engine.buffer.arrivals + len(engine.late) + len(rejected)
    if args.rejected:
        with open(args.rejected, "w") as f:
            for r in sorted(rejected, key=lambda r: r.index):
                f.write(dumps(replay_rejected(r.to_dict())) + "\n")
    if args.late:
        with open(args.late, "w") as f:
            for ev in engine.late:
                f.write(dumps(ev.to_dict()) + "\n")
    _summary(events, rejected, len(engine.late), matches, engine.suppressed)
    if args.actions:
        held = {k: v for k, v in engine.policies.stats.items() if not k.startswith("emitted_")}
        print(f"actions: {sum(actions.values())}" + "".join(f"\n  {k}: {v}" for k, v in sorted(actions.items())),
              file=sys.stderr)
        if held:
            print("held back by policy: " + ", ".join(f"{k}: {v}" for k, v in sorted(held.items())), file=sys.stderr)
    return exit_status(len(rejected))


def _summary(events: int, rejected: list[Rejected], late: int, matches: Counter, suppressed: Counter) -> None:
    err = sys.stderr
    print(f"events read: {events}", file=err)
    by_reason = Counter(r.code for r in rejected)
    print(f"rejected: {len(rejected)}" + ("" if not by_reason else " (" + ", ".join(
        f"{code}: {n}" for code, n in by_reason.most_common()) + ")"), file=err)
    for r in sorted(rejected, key=lambda r: r.index)[:5]:
        print(f"  line {r.index}: {r.reason}", file=err)
    print(f"late: {late}", file=err)
    print(f"matches: {sum(matches.values())}", file=err)
    for name, n in sorted(matches.items()):
        extra = f" (+{suppressed[name]} suppressed by cooldown)" if suppressed.get(name) else ""
        print(f"  {name}: {n}{extra}", file=err)
