"""`goldrush worker`: build the app from a config and run it until stopped."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from goldrush.cli.args import MAX_FUTURE_HELP, max_future, port_number, positive_float, positive_int
from goldrush.dsl.durations import option_seconds
from goldrush.events.envelope import DEFAULT_MAX_FUTURE
from goldrush.events.topics import SOURCE_TOPICS, default_broker
from goldrush.loader import DEFAULT_PATTERNS

from .config import WorkerConfig


def banner(cfg: WorkerConfig, app: Any) -> str:
    """What this worker runs, said once at start: the default log level is quiet otherwise."""
    host = app.goldrush_host
    patterns = host.compiled.patterns  # both stages'
    groups = sum(1 for g in host.stage.groups if g.live)
    key_stage = f"key stage on ({groups} key group{'s' * (groups != 1)})" if groups else "no key stage"
    source = cfg.patterns or DEFAULT_PATTERNS
    if host.version is not None:
        source = f"the goldrush.patterns topic, version {host.version} (followed)"
    elif cfg.pattern_store:
        source += " (the goldrush.patterns topic is followed; it holds no version yet)"
    return (f"goldrush worker {cfg.app_id!r}: broker {cfg.broker}; {len(patterns)} patterns from "
            f"{source}, {key_stage}; lateness {host.engine.lateness:g} s; "
            f"sources {', '.join(cfg.topics)}; web http://{cfg.web_host}:{cfg.web_port}/ (dashboard; "
            "/health /ready /metrics /rates)")


async def _partition_counts(broker: str) -> dict[str, int]:
    """Partitions of every topic on the broker; raises KafkaConnectionError (one line from
    `goldrush`) when no broker answers, before Faust would fail with a traceback per service."""
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=broker)
    try:
        await client.bootstrap()
        cluster = await client.fetch_all_metadata()
    finally:
        await client.close()
    return {t: len(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}


async def _cluster_id(broker: str) -> str | None:
    """The cluster id the broker reports (aiokafka's public `describe_cluster`)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    try:
        await admin.start()
        return (await admin.describe_cluster())["cluster_id"]
    except Exception:  # noqa: BLE001 - the broker answered metadata just before: unknown means "not tansu"
        return None
    finally:
        await admin.close()


def is_embedded(cluster_id: str | None) -> bool:
    """tansu (the embedded broker: `goldrush broker`, `goldrush demo`, the tests) reports its
    default cluster id, which goldrush's EmbeddedBroker also passes explicitly. A tansu started
    with another id is taken for Apache Kafka: Faust keeps its 1.5 s fetch wait (slower, not wrong)."""
    from goldrush.kafka.broker import CLUSTER_ID

    return cluster_id == CLUSTER_ID


def partitions_changed(cfg: WorkerConfig, existing: dict[str, int]) -> str | None:
    """Why the worker cannot start with `cfg.partitions`, if the app's state topics have another count.

    Faust keeps the existing topics as they are, and the worker then addressed partitions
    that do not exist: it crashed ("Unrecognized partition") at its first key-expiry note.
    """
    other = {topic: n for topic, n in existing.items() if n != cfg.partitions}
    if not other:
        return None
    counts, names = sorted(set(other.values())), sorted(other)
    named = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    return (f"--partitions {cfg.partitions}, but app {cfg.app_id!r} keeps its state in topics with "
            f"{' and '.join(map(str, counts))} partitions ({named}). The count is fixed on "
            f"the first start: run with --partitions {counts[0]}, or with a new --app-id to start with fresh state")


def run_worker(cfg: WorkerConfig, loglevel: str = "warning", faust_loglevel: str = "warning") -> int:
    from goldrush.cli.check import startup_warnings

    from .app import build_app
    from .faust_worker import GoldrushWorker
    from .web_server import web_port_problem

    problem = web_port_problem(cfg.web_host, cfg.web_port)
    if problem:
        print(f"goldrush worker: {problem}", file=sys.stderr)
        return 2
    existing = asyncio.run(_partition_counts(cfg.broker))
    cfg = cfg.model_copy(update={"embedded_broker": is_embedded(asyncio.run(_cluster_id(cfg.broker)))})
    initial = history = None
    if cfg.pattern_store:
        from .pattern_watch import initial_set, recorded_history

        initial = asyncio.run(initial_set(cfg))
        history = asyncio.run(recorded_history(cfg, initial[1], initial[2]))
    app = build_app(cfg, initial, history)
    why = partitions_changed(cfg, {t: existing[t] for t in app.goldrush_partitioned if existing.get(t)})
    if why:
        print(f"goldrush worker: {why}", file=sys.stderr)
        return 2
    print(banner(cfg, app), file=sys.stderr, flush=True)
    for line in startup_warnings([cp.pattern for cp in app.goldrush_host.compiled.patterns]):
        print(f"goldrush worker: {line}", file=sys.stderr, flush=True)
    worker = GoldrushWorker(app, stop_timeout=cfg.stop_timeout, loglevel=faust_loglevel, own_loglevel=loglevel,
                            status=cfg.status_every > 0, quiet=True)
    worker.execute_from_commandline()
    return 0


def follows_pattern_store(patterns: str | None, option: str | None) -> bool | None:
    """Whether the worker follows goldrush.patterns: by default unless `--patterns` names a fixed
    set; None when both are asked for."""
    if option is None:
        return not patterns
    if option == "on" and patterns:
        return None
    return option == "on"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run a streaming worker (Faust) on Kafka")
    p.add_argument("--broker", default=default_broker(), help="bootstrap server (env GOLDRUSH_BROKER)")
    p.add_argument("--patterns", help="pattern file or module: run these, and never follow the goldrush.patterns "
                                      "topic (default: follow it; the built-ins until a set is pushed)")
    p.add_argument("--pattern-store", choices=("on", "off"), default=None,
                   help="follow the goldrush.patterns topic (`goldrush patterns push`): default on, "
                        "off with --patterns")
    p.add_argument("--topics", nargs="+", default=list(SOURCE_TOPICS),
                   help="source topics (default: vsm.events and the seed's seven per-system topics)")
    p.add_argument("--filter", action="append", default=[], metavar="TOPIC=GLOB[,GLOB]",
                   help="keep only these event names from TOPIC (repeatable)")
    p.add_argument("--lateness", default="2s", help="allowed lateness for reordering, e.g. 500ms or 0 (default 2s)")
    p.add_argument("--partitions", type=positive_int, default=4,
                   help="partitions of the internal topics and tables, made on the first start: the most "
                        "workers that can share the work (default 4)")
    p.add_argument("--web-port", type=port_number, default=6066, help="port of the dashboard (/), /health, /ready, /metrics, /rates")
    p.add_argument("--web-host", default="127.0.0.1", help="the one address the web views listen on (0.0.0.0: every interface, in containers)")
    p.add_argument("--fetch-wait", type=positive_float, default=0.1, metavar="SECONDS",
                   help="longest the broker may hold a fetch that has no data yet (default 0.1; Faust's "
                        "own consumer is shortened only on the embedded broker, which holds a fetch that long)")
    p.add_argument("--stop-timeout", type=positive_float, default=15.0, metavar="SECONDS",
                   help="exit hard if a graceful stop takes longer (default 15; state is in the changelogs)")
    p.add_argument("--key-stage", choices=("on", "off"), default="on",
                   help="on: patterns keyed finer than the tenant run where each key is (spreads a hot tenant); "
                        "off: every pattern runs where its tenant is (fewer hops, more events/s per worker)")
    p.add_argument("--in-place", choices=("on", "off"), default="on",
                   help="on: events of tenants whose engine-in partition this worker owns are evaluated where "
                        "they are read, without the trip through engine-in; off: every event takes it (default on)")
    p.add_argument("--in-place-keys", choices=("on", "off"), default="on",
                   help="on: when this worker owns every keyed partition (one worker), finer keys are evaluated "
                        "beside their tenants, without the trips through the keyed and verdicts topics (default on)")
    p.add_argument("--key-expiry", default="30s",
                   help="how often idle key-stage keys are let go (their state equals a fresh key's); "
                        "0 keeps every key (default 30s)")
    p.add_argument("--checkpoint-every", default="5s", metavar="DURATION",
                   help="how often a busy tenant's state is written to its changelog; its input is "
                        "committed only then, so a crash redoes at most this much (default 5s; 0: every batch)")
    p.add_argument("--max-future", type=max_future, default=DEFAULT_MAX_FUTURE, metavar="DURATION",
                   help=MAX_FUTURE_HELP)
    p.add_argument("--unload-after", default="5m", metavar="DURATION",
                   help="unload a tenant's state from memory after it is unused this long; it stays in "
                        "the changelog and is reloaded by its next event (default 5m)")
    p.add_argument("--app-id", default="goldrush",
                   help="consumer group, internal topic prefix and name of the state (default goldrush)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="Faust's bookkeeping directory; the tables themselves are in memory and Kafka "
                        "(default: <temp dir>/goldrush-faust/<app-id>)")
    levels = ("debug", "info", "warning", "error")
    p.add_argument("--loglevel", default="warning", choices=levels,
                   help="goldrush's own log lines (default warning; info logs restores, rebalances and key expiry)")
    p.add_argument("--faust-loglevel", default="warning", choices=levels,
                   help="log lines of Faust, aiokafka and the web server (default warning)")
    p.add_argument("--status-every", default="60s", metavar="DURATION",
                   help="log a status line (events/s, late, matches, actions, lag) this often; 0: never (default 60s)")

    def handler(args: argparse.Namespace) -> int:
        filters: dict[str, list[str]] = {}
        for f in args.filter:
            topic, _, globs = f.partition("=")
            if not globs:
                print(f"goldrush worker: --filter {f!r}: expected TOPIC=GLOB[,GLOB]", file=sys.stderr)
                return 2
            filters.setdefault(topic, []).extend(g for g in globs.split(",") if g)
        lateness = option_seconds(args.lateness, what="--lateness", allow_zero=True)
        store = follows_pattern_store(args.patterns, args.pattern_store)
        if store is None:
            print("goldrush worker: --patterns FILE and --pattern-store on exclude each other", file=sys.stderr)
            return 2
        cfg = WorkerConfig(broker=args.broker, app_id=args.app_id, patterns=args.patterns, topics=args.topics,
                           pattern_store=store,
                           event_filters=filters, lateness=lateness, partitions=args.partitions,
                           web_port=args.web_port, web_host=args.web_host, fetch_wait=args.fetch_wait,
                           data_dir=args.data_dir,
                           status_every=option_seconds(args.status_every, what="--status-every", allow_zero=True),
                           stop_timeout=args.stop_timeout, key_stage=args.key_stage == "on",
                           in_place=args.in_place == "on", in_place_keys=args.in_place_keys == "on",
                           key_expiry=option_seconds(args.key_expiry, what="--key-expiry", allow_zero=True),
                           max_future=args.max_future,
                           checkpoint_every=option_seconds(args.checkpoint_every, what="--checkpoint-every",
                                                           allow_zero=True),
                           unload_after=option_seconds(args.unload_after, what="--unload-after"))
        return run_worker(cfg, args.loglevel, args.faust_loglevel)

    p.set_defaults(handler=handler)
