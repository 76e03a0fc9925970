"""`goldrush replay`: JSONL in, one JSON match per line out, a summary on stderr."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

from .durations import option_seconds
from .engine import Engine
from .jsonio import BadJSON, dumps, loads
from .loader import load_patterns
from .replay import Rejected, feed
from .replay_reasons import Tee, reasons_of, zero_match_reasons


def read_jsonl(stream: IO[bytes], rejected: list[Rejected]) -> Iterator[Any]:
    """Parsed objects; lines that are not JSON become rejections (line numbers from 1)."""
    for lineno, line in enumerate(stream, 1):
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
    lateness = option_seconds(args.lateness, what="--lateness", allow_zero=True)
    report = getattr(args, "report", None)
    if report:  # the engine itself, with every pattern watched for the plots (same matches)
        from .explainer import Observer

        engine: Engine = Observer(patterns, allowed_lateness=lateness, keep_series=True)
    else:
        engine = Engine(patterns, allowed_lateness=lateness)
    rejected: list[Rejected] = []
    matches: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    all_actions: list[Any] = []
    tee = None
    with ExitStack() as stack:
        if input_spec == "-":
            tee = Tee(sys.stdin.buffer)
            stack.callback(tee.close)
            source: Any = tee
        else:
            try:
                source = stack.enter_context(open(input_spec, "rb"))
            except OSError as exc:
                print(f"goldrush replay: cannot read {input_spec}: {exc.strerror}", file=sys.stderr)
                return 2
        out = stack.enter_context(open(args.out, "w")) if args.out else sys.stdout
        write = out.write
        for m in feed(engine, read_jsonl(source, rejected), rejected):
            matches[m.pattern] += 1
            produced = engine.drain_actions()
            all_actions += produced
            if args.actions:
                for a in produced:
                    actions[a.type] += 1
                    write(dumps(a.to_dict()) + "\n")
            else:
                write(dumps(m.to_dict()) + "\n")
        _write_side_files(args, rejected, engine)
        zero = [p.name for p in patterns if not matches[p.name]]
        if report:
            reasons = reasons_of(engine, rejected)  # type: ignore[arg-type]
        elif getattr(args, "no_reasons", False):
            reasons = {}
        else:
            reasons = zero_match_reasons(patterns, input_spec if tee is None else tee.path, lateness, zero)
    events = engine.buffer.arrivals + len(engine.late) + len(rejected)
    _summary(events, rejected, len(engine.late), [p.name for p in patterns], matches, engine.suppressed, reasons)
    if args.actions:
        held = {k: v for k, v in engine.policies.stats.items() if not k.startswith("emitted_")}
        print(f"actions: {sum(actions.values())}" + "".join(f"\n  {k}: {v}" for k, v in sorted(actions.items())),
              file=sys.stderr)
        if held:
            print("held back by policy: " + ", ".join(f"{k}: {v}" for k, v in sorted(held.items())), file=sys.stderr)
    if report:
        from .report import write_report

        write_report(report, engine, patterns, rejected, all_actions, reasons)  # type: ignore[arg-type]
        print(f"report: {report}", file=sys.stderr)
    return 0


def _write_side_files(args: argparse.Namespace, rejected: list[Rejected], engine: Engine) -> None:
    if args.rejected:
        with open(args.rejected, "w") as f:
            for r in sorted(rejected, key=lambda r: r.index):
                f.write(dumps(r.to_dict()) + "\n")
    if args.late:
        with open(args.late, "w") as f:
            for ev in engine.late:
                f.write(dumps(ev.to_dict()) + "\n")


def _summary(events: int, rejected: list[Rejected], late: int, names: list[str], matches: Counter,
             suppressed: Counter, reasons: dict[str, str]) -> None:
    """Counts, then every pattern: its matches, or 0 and the main reason it had none."""
    err = sys.stderr
    print(f"events read: {events}", file=err)
    by_reason = Counter(r.code for r in rejected)
    print(f"rejected: {len(rejected)}" + ("" if not by_reason else " (" + ", ".join(
        f"{code}: {n}" for code, n in by_reason.most_common()) + ")"), file=err)
    for r in sorted(rejected, key=lambda r: r.index)[:5]:
        print(f"  line {r.index}: {r.reason}", file=err)
    print(f"late: {late}", file=err)
    print(f"matches: {sum(matches.values())}", file=err)
    for name in names:
        extra = f" (+{suppressed[name]} suppressed by cooldown)" if suppressed.get(name) else ""
        why = f" — {reasons[name]}" if not matches[name] and name in reasons else ""
        print(f"  {name}: {matches[name]}{extra}{why}", file=err)
