"""`goldrush replay`: JSONL in, one JSON match per line out, a summary on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from contextlib import ExitStack
from typing import IO, Any

from goldrush.cli.rejects import exit_status, replay_rejected
from goldrush.cli.replay_reasons import Tee, reasons_of, zero_match_reasons
from goldrush.dsl.durations import option_seconds
from goldrush.engine.engine import Engine
from goldrush.engine.replay import Rejected, feed, read_jsonl
from goldrush.events.codec import ORIGINAL_BYTES, bounded_original, dumps
from goldrush.explainer import Observer
from goldrush.loader import load_patterns
from goldrush.progress import count_lines, progress


class Rejections:
    """Counts rejected inputs by reason, keeps the first few for the summary, and writes each
    to the --rejected file as it comes (none is held in memory)."""

    def __init__(self, out: IO[str] | None):
        self.out = out
        self.by_code: Counter[str] = Counter()
        self.first: list[Rejected] = []

    def __len__(self) -> int:
        return sum(self.by_code.values())

    def __call__(self, r: Rejected) -> None:
        self.by_code[r.code] += 1
        if len(self.first) < 5:
            self.first.append(r)
        if self.out is not None:
            record = replay_rejected(r.to_dict())
            text = _record(record)
            if len(text) > ORIGINAL_BYTES:  # a huge input is reported by its prefix, size and digest
                del record["input"]
                record.update(bounded_original(_record(r.input).encode("utf-8", "surrogatepass"), "input"))
                text = _record(record)
            self.out.write(text + "\n")


def _record(obj: Any) -> str:
    """JSON of a record whose input may hold what JSON cannot carry (lone surrogates, huge integers)."""
    try:
        return dumps(obj)
    except (TypeError, ValueError):
        return json.dumps(obj, default=str, ensure_ascii=True)


def run_replay(args: argparse.Namespace) -> int:
    patterns_spec, input_spec = args.patterns, args.input
    if input_spec is None:
        patterns_spec, input_spec = None, patterns_spec
    if input_spec is None:
        print("goldrush replay: INPUT is required (a JSONL file or -)", file=sys.stderr)
        return 2
    if getattr(args, "pattern_history", None):
        if patterns_spec is not None:
            print("goldrush replay: give PATTERNS or --pattern-history, not both", file=sys.stderr)
            return 2
        return _replay_history(args, input_spec)
    patterns = load_patterns(patterns_spec)
    lateness = option_seconds(args.lateness, what="--lateness", allow_zero=True)
    report = getattr(args, "report", None)
    engine = _engine(patterns, lateness, bool(report))
    matches: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    reported_actions: list[Any] = []  # kept only for --report
    late = 0
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
        rejected = Rejections(stack.enter_context(open(args.rejected, "w")) if args.rejected else None)
        late_out = stack.enter_context(open(args.late, "w")) if args.late else None
        write = out.write

        def on_late(ev: Any) -> None:
            nonlocal late
            late += 1
            if late_out is not None:
                late_out.write(_record(ev.to_dict()) + "\n")

        # A bar only on a terminal, and not when matches go to that terminal too
        bar = sys.stderr.isatty() and (bool(args.out) or not sys.stdout.isatty())
        total = count_lines(source) if bar and tee is None and source.seekable() else None
        shown = stack.enter_context(progress(total, "replaying", enabled=bar))
        for m in feed(engine, read_jsonl(source, rejected, shown), rejected, max_future=args.max_future,
                      untrusted=False, late=on_late):
            matches[m.pattern] += 1
            produced = engine.drain_actions()
            if report:
                reported_actions += produced
            if args.actions:
                for a in produced:
                    actions[a.type] += 1
                    write(_record(a.to_dict()) + "\n")
            else:
                write(_record(m.to_dict()) + "\n")
        zero = [p.name for p in patterns if not matches[p.name]]
        if report:
            reasons = reasons_of(engine, rejected)  # type: ignore[arg-type]
        elif getattr(args, "no_reasons", False):
            reasons = {}
        else:
            reasons = zero_match_reasons(patterns, input_spec if tee is None else tee.path, lateness, zero)
    # a failed evaluation was an arrival, then a rejection: count it once
    events = (engine.buffer.arrivals + late + engine.stats["duplicates"] + len(rejected)
              - rejected.by_code["evaluation_failed"])
    _summary(events, rejected, late, engine.stats["duplicates"], [p.name for p in patterns], matches,
             engine.suppressed, reasons)
    if args.actions:
        _action_summary(engine, actions)
    if report:
        from goldrush.cli.report import write_report

        write_report(report, engine, patterns, rejected, reported_actions, reasons)  # type: ignore[arg-type]
        print(f"report: {report}", file=sys.stderr)
    return exit_status(len(rejected))


def _replay_history(args: argparse.Namespace, input_spec: str) -> int:
    """--pattern-history: the pattern set of each event chosen by the recorded versions and switches
    (`goldrush patterns history --json`; goldrush/engine/versions.py)."""
    from goldrush.engine.versions import replay_versions

    try:
        with open(args.pattern_history, "rb") as f:
            history = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"goldrush replay: cannot read {args.pattern_history}: {exc}", file=sys.stderr)
        return 2
    lateness = option_seconds(args.lateness, what="--lateness", allow_zero=True)
    with ExitStack() as stack:
        try:
            source = sys.stdin.buffer if input_spec == "-" else stack.enter_context(open(input_spec, "rb"))
        except OSError as exc:
            print(f"goldrush replay: cannot read {input_spec}: {exc.strerror}", file=sys.stderr)
            return 2
        rejected = Rejections(stack.enter_context(open(args.rejected, "w")) if args.rejected else None)
        objs = (obj for _, obj in read_jsonl(source, rejected))
        result = replay_versions(history, objs, allowed_lateness=lateness, actions=args.actions,
                                 max_future=args.max_future)
        out = stack.enter_context(open(args.out, "w")) if args.out else sys.stdout
        for record in result:
            out.write(_record(record.to_dict()) + "\n")
        if args.late:
            with open(args.late, "w") as late_out:
                for ev in result.late:
                    late_out.write(_record(ev.to_dict()) + "\n")
    for r in result.rejected:
        rejected(r)
    by_version = Counter(m.pattern_set_version for m in result.matches)
    print(f"events read: {result.events + len(rejected)}\nrejected: {len(rejected)}\nlate: {len(result.late)}\n"
          f"matches: {len(result.matches)} (" + ", ".join(f"version {v}: {n}" for v, n in sorted(by_version.items()))
          + ")", file=sys.stderr)
    return exit_status(len(rejected))


def _engine(patterns: list[Any], lateness: float, report: bool) -> Engine:
    """With --report, the engine itself with every pattern watched for the plots (same matches)."""
    if report:
        return Observer(patterns, allowed_lateness=lateness, keep_series=True)
    return Engine(patterns, allowed_lateness=lateness)


def _action_summary(engine: Engine, actions: Counter[str]) -> None:
    held = {k: v for k, v in engine.policies.stats.items() if not k.startswith("emitted_")}
    print(f"actions: {sum(actions.values())}" + "".join(f"\n  {k}: {v}" for k, v in sorted(actions.items())),
          file=sys.stderr)
    if held:
        print("held back by policy: " + ", ".join(f"{k}: {v}" for k, v in sorted(held.items())), file=sys.stderr)


def _summary(events: int, rejected: Rejections, late: int, duplicates: int, names: list[str], matches: Counter,
             suppressed: Counter, reasons: dict[str, str]) -> None:
    """Counts, then every pattern: its matches, or 0 and the main reason it had none."""
    err = sys.stderr
    print(f"events read: {events}", file=err)
    by_reason = rejected.by_code
    print(f"rejected: {len(rejected)}" + ("" if not by_reason else " (" + ", ".join(
        f"{code}: {n}" for code, n in by_reason.most_common()) + ")"), file=err)
    for r in rejected.first:
        print(f"  line {r.index}: {r.reason}", file=err)
    print(f"late: {late}", file=err)
    if duplicates:
        print(f"duplicates: {duplicates} (an id already in its tenant's reorder window)", file=err)
    print(f"matches: {sum(matches.values())}", file=err)
    for name in names:
        extra = f" (+{suppressed[name]} suppressed by cooldown)" if suppressed.get(name) else ""
        why = f" — {reasons[name]}" if not matches[name] and name in reasons else ""
        print(f"  {name}: {matches[name]}{extra}{why}", file=err)
