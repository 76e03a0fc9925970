"""The `goldrush` command line: one argparse tree, handlers imported lazily.

Every subcommand has `--help`; errors the user can fix go to stderr as one
line and exit 2 (bad pattern or usage) or 1 (runtime failure).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from goldrush.cli.args import (
    MAX_FUTURE_HELP,
    max_future,
    non_negative_float,
    port_number,
    positive_float,
    positive_int,
)
from goldrush.cli.help import show_defaults
from goldrush.errors import PatternError
from goldrush.events.envelope import DEFAULT_MAX_FUTURE
from goldrush.events.topics import DEFAULT_SOURCE, default_broker
from goldrush.loader import DEFAULT_PATTERNS


def _replay(args: argparse.Namespace) -> int:
    from goldrush.cli.replay import run_replay

    return run_replay(args)


def _check(args: argparse.Namespace) -> int:
    import json

    from goldrush.cli.check import findings_for, print_findings
    from goldrush.compiler.compiled import CompiledSet
    from goldrush.loader import load_patterns

    patterns = load_patterns(args.patterns)
    compiled = CompiledSet(patterns)
    findings = findings_for(patterns, args.events)
    out = {"patterns": [p.to_dict() for p in patterns], "compiled": compiled.describe(),
           "warnings": [f.to_dict() for f in findings]}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return print_findings(findings, args.strict)
    for p in patterns:
        print(f"# {p.name}: OK")
        print(json.dumps(p.to_dict(), indent=2, default=str))
    print("# compiled")
    for pred in out["compiled"]["predicates"]:
        print(f"predicate {pred['id']}: event {pred['event']!r} where {pred['where']}")
        if pred["code"]:
            print("    " + pred["code"].rstrip().replace("\n", "\n    "))
    for cp in out["compiled"]["patterns"]:
        print(f"pattern {cp['name']}: key_by={cp['key_by']} evaluation order {cp['evaluation_order']} "
              f"definition {cp['definition']}")
    return print_findings(findings, args.strict)


def _simulate(args: argparse.Namespace) -> int:
    from goldrush.dsl.durations import option_seconds
    from goldrush.events.codec import dumps
    from goldrush.simulator import simulate

    start = {"start": time.time()} if args.realtime else {}
    events = simulate(args.scenario, tenants=args.tenants, rate=args.rate,
                      duration=option_seconds(args.duration, what="--duration"), seed=args.seed,
                      disorder=args.disorder, **start)
    if args.kafka:
        import asyncio

        from goldrush.simulator import to_kafka

        if args.out:
            raise SystemExit("goldrush simulate: --kafka and --out are exclusive")
        sent = asyncio.run(to_kafka(events, args.broker, args.topic, args.batch, args.rate if args.realtime else None))
        print(f"sent {sent} events to {args.topic} at {args.broker}", file=sys.stderr)
        return 0
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115
    try:
        for e in events:
            out.write(dumps(e) + "\n")
    finally:
        if args.out:
            out.close()
    return 0


def _broker(args: argparse.Namespace) -> int:
    from goldrush.kafka.broker import BrokerUnavailable, EmbeddedBroker

    broker = EmbeddedBroker(args.port, args.host, quiet=False)
    try:
        broker.start()
    except BrokerUnavailable as exc:
        print(f"goldrush broker: {exc}", file=sys.stderr)
        return 1
    print(f"embedded broker on {broker.bootstrap} (memory storage); Ctrl-C stops it", file=sys.stderr)
    import signal

    # The broker runs in a session of its own: a SIGTERM here must stop it too (via the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        assert broker.process is not None
        return broker.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def _schema(args: argparse.Namespace) -> int:
    import json

    if args.what == "actions":
        from goldrush.actions.records import action_schema

        doc = action_schema()
    elif args.what == "events":
        from goldrush.cli.check import schema_events

        print(schema_events(args.json))
        return 0
    else:
        from goldrush.events.match import match_schema

        doc = match_schema()
    print(json.dumps(doc, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="goldrush", description="Pattern detection for VSM event streams."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_replay(sub)
    _add_check(sub)
    _add_simulate(sub)
    _add_broker(sub)
    _add_schema(sub)
    _add_bench(sub)
    for register in _EXTENSIONS:
        register(sub)
    return show_defaults(parser)


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="back-test patterns on recorded events (JSONL), no Kafka")
    p.add_argument("patterns", nargs="?", default=None,
                   help=f"a .py/.json file or dotted module (default {DEFAULT_PATTERNS}); "
                        "with one argument it is INPUT")
    p.add_argument("input", nargs="?", default=None, help="JSONL file of events, or - for stdin")
    p.add_argument("--lateness", default="2s", help="allowed lateness for reordering, e.g. 500ms or 0 (default 2s)")
    p.add_argument("--out", help="write matches here instead of stdout")
    p.add_argument("--rejected", metavar="FILE", help="write rejected inputs with reasons (JSONL)")
    p.add_argument("--late", metavar="FILE", help="write late events (JSONL)")
    p.add_argument("--max-future", type=max_future, default=DEFAULT_MAX_FUTURE, metavar="DURATION",
                   help=MAX_FUTURE_HELP)
    p.add_argument("--actions", action="store_true",
                   help="print the actions the matches produced (policies applied) instead of matches")
    p.add_argument("--no-reasons", action="store_true",
                   help="skip the second pass that finds why patterns with 0 matches matched nothing")
    p.add_argument("--pattern-history", metavar="FILE.json",
                   help="replay a run during which the pattern set changed: the versions and switches "
                        "`goldrush patterns history --json` prints (instead of PATTERNS)")
    p.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML report: summary, match and action timelines, "
                        "the series each frequency/trend/anomaly clause evaluated")
    p.set_defaults(handler=_replay)


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="compile patterns and show what they compiled to")
    p.add_argument("patterns", nargs="?", default=None,
                   help=f"a .py/.json file or dotted module (default {DEFAULT_PATTERNS})")
    p.add_argument("--json", action="store_true", help="one JSON document instead of text")
    from goldrush.cli.check import add_check_arguments

    add_check_arguments(p)
    p.set_defaults(handler=_check)


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="generate realistic VSM events whose scenarios make patterns fire")
    p.add_argument("--scenario", default="mixed",
                   choices=["normal", "variety_imbalance", "oscillation", "cascade", "opportunity", "mixed"],
                   help="what the simulated systems go through")
    p.add_argument("--rate", type=positive_float, default=50.0, help="events per second of event time (default 50)")
    p.add_argument("--duration", default="1h", help="event time covered, e.g. 30m or 90 (seconds) (default 1h)")
    p.add_argument("--tenants", type=positive_int, default=5, help="simulated tenants")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same events")
    p.add_argument("--disorder", type=non_negative_float, default=0.0,
                   help="jitter timestamps back by up to this many seconds (out-of-order arrival)")
    p.add_argument("--out", help="JSONL file to write (default stdout)")
    p.add_argument("--kafka", action="store_true", help="produce to Kafka instead of writing JSONL")
    p.add_argument("--broker", default=default_broker(), help="bootstrap server (env GOLDRUSH_BROKER)")
    p.add_argument("--topic", default=DEFAULT_SOURCE,
                   help=f"source topic for --kafka (default {DEFAULT_SOURCE}; 'by-subsystem' routes each "
                        "event to the seed's per-system topic)")
    p.add_argument("--batch", type=positive_int, default=100, help="events per Kafka message with --kafka (default 100)")
    p.add_argument("--realtime", action="store_true",
                   help="stamp events from now and pace them at --rate per wall-clock second (live feeds)")
    p.set_defaults(handler=_simulate)


def _add_broker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker in the foreground")
    p.add_argument("--port", type=port_number, default=9092, help="port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (and to advertise to clients)")
    p.set_defaults(handler=_broker)


def _add_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print a JSON schema for consumers")
    p.add_argument("what", choices=["actions", "matches", "events"],
                   help="actions and matches: the records goldrush publishes; events: what producers send")
    p.add_argument("--json", action="store_true",
                   help="events: the catalogue and the envelope's JSON Schema as JSON (default: text)")
    p.set_defaults(handler=_schema)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (figures for notes and the README; never tests)")
    bench = p.add_subparsers(dest="bench", metavar="BENCH")
    bench.required = True
    b = bench.add_parser("replay", help="replay throughput vs json.loads of the same events")
    b.add_argument("--events", type=positive_int, default=300_000, help="simulated events replayed")
    b.add_argument("--tenants", type=positive_int, default=1000, help="tenants the events are spread over")
    b.add_argument("--repeat", type=positive_int, default=3, help="rounds; the best of each is kept")
    b.add_argument("--patterns", choices=["seed", "all"], default="seed",
                   help="the seed's three patterns (default) or every built-in pattern and trigger")
    b.add_argument("--json", action="store_true", help="print the figures as JSON too")
    b.set_defaults(handler=_bench_replay)
    b = bench.add_parser("nab", help="score a detector on the Numenta Anomaly Benchmark (58 series)")
    b.add_argument("--data", metavar="DIR", default=None,
                   help="NAB checkout with data/ and labels/ (default: $GOLDRUSH_NAB_DATA or ../shared/data/nab)")
    b.add_argument("--detector", metavar="NAME", default="anomaly_detection",
                   help="a numeric model name (default: anomaly_detection; windowed_gaussian calibrates)")
    b.add_argument("--results-dir", metavar="DIR", default=None,
                   help="also write per-series scores in NAB's results layout for the official scorer")
    b.set_defaults(handler=_bench_nab)
    b = bench.add_parser("e2e", help="worker vs raw aiokafka on the embedded broker, and detection latency")
    b.add_argument("--events", type=positive_int, default=100_000, help="events of the throughput runs")
    b.add_argument("--batch", type=positive_int, default=100, help="events per message in the batched run")
    b.add_argument("--rate", type=positive_float, default=200.0, help="events/s of the latency run")
    b.add_argument("--seconds", type=positive_float, default=30.0, help="length of each latency run")
    b.add_argument("--json", action="store_true", help="print the figures as JSON too")
    b.set_defaults(handler=_bench_e2e)
    b = bench.add_parser("models", help="samples/s of every anomaly model on one core")
    b.add_argument("--samples", type=positive_int, default=200_000, help="samples (or events) each model reads")
    b.add_argument("--repeat", type=positive_int, default=3, help="runs per model; the best is kept")
    b.set_defaults(handler=_bench_models)
    _scenarios_parser(bench)


def _bench_replay(args: argparse.Namespace) -> int:
    import json

    from goldrush.bench.replay import main as bench_main

    result = bench_main(args.events, args.tenants, args.repeat, args.patterns)
    if args.json:
        print(json.dumps(result))
    return 0


def _bench_nab(args: argparse.Namespace) -> int:
    from goldrush.bench.nab import main as nab_main
    from goldrush.models.base import ModelError
    from goldrush.nab.corpus import CorpusMissing

    try:
        nab_main(args.data, args.detector, args.results_dir)
    except (CorpusMissing, ModelError) as exc:
        print(f"goldrush bench nab: {exc}", file=sys.stderr)
        return 2
    return 0


def _bench_e2e(args: argparse.Namespace) -> int:
    import json

    from goldrush.bench.e2e import main as e2e_main

    result = e2e_main(args.events, args.batch, args.rate, args.seconds)
    if args.json:
        print(json.dumps(result))
    return 0


def _bench_models(args: argparse.Namespace) -> int:
    from goldrush.bench.models import main as models_main

    models_main(args.samples, args.repeat)
    return 0


def _scenarios_parser(bench: argparse._SubParsersAction) -> None:
    from goldrush.bench.scenarios import register

    register(bench)


def _kafka_commands(sub: argparse._SubParsersAction) -> None:
    from goldrush.cli.kafka import register

    register(sub)


def _worker_command(sub: argparse._SubParsersAction) -> None:
    from goldrush.agents.worker import register

    register(sub)


def _demo_command(sub: argparse._SubParsersAction) -> None:
    from goldrush.cli.demo import register

    register(sub)


def _patterns_command(sub: argparse._SubParsersAction) -> None:
    from goldrush.cli.patterns import register

    register(sub)


def _explain_command(sub: argparse._SubParsersAction) -> None:
    from goldrush.explainer.cli import register

    register(sub)


# Subcommands that live in their own modules register themselves here.
_EXTENSIONS: list[Callable[[argparse._SubParsersAction], None]] = [_kafka_commands, _worker_command, _demo_command,
                                                                   _explain_command, _patterns_command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PatternError as exc:
        print(f"goldrush: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        from aiokafka.errors import KafkaConnectionError

        if not isinstance(exc, KafkaConnectionError):
            raise
        broker = getattr(args, "broker", None) or default_broker()
        print(f"goldrush {args.command}: cannot reach a Kafka broker at {broker} "
              f"(--broker or GOLDRUSH_BROKER): {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
