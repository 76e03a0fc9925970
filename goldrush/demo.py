"""`goldrush demo`: embedded broker + a worker + the simulator + a live view of what fires.

Everything runs on loopback and stops cleanly on Ctrl-C or when the simulated
stream is done (and the last matches had time to come out).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter

from .broker import EmbeddedBroker, free_port, stop_process
from .cli_args import port_number, positive_float, positive_int
from .client import EventProducer
from .durations import option_seconds
from .kafka_cli import _pretty
from .simulator import simulate
from .topics import ACTIONS, MATCHES


async def _show(bootstrap: str, counts: Counter, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(MATCHES, *ACTIONS.values(), bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=300)).items():
                for r in records:
                    counts["actions" if tp.topic != MATCHES else "matches"] += 1
                    counts[tp.topic] += 1
                    print(_pretty(tp.topic, r.value), flush=True)
    finally:
        await consumer.stop()


def _rates_line(web_port: int) -> str | None:
    """One line from the worker's /rates view (its Faust windowed tables), or None."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/rates", timeout=2) as r:
            doc = json.loads(r.read())
    except (OSError, ValueError):
        return None
    if not doc["events"]:
        return None  # nothing counted yet
    events = sum(e["per_second"] for e in doc["events"])
    tenants = len({e["tenant"] for e in doc["events"]})
    by_pattern: Counter = Counter()
    for m in doc["matches"]:
        by_pattern[m["pattern"]] += m["per_second"]
    top = ", ".join(f"{p} {r * 60:.0f}/min" for p, r in by_pattern.most_common(3))
    return f"-- live rates: {events:,.0f} events/s over {tenants} tenants; matches: {top or 'none yet'}"


async def _rates(web_port: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=5)
        except TimeoutError:
            line = await asyncio.to_thread(_rates_line, web_port)
            if line:
                print(line, flush=True)


async def _run(args: argparse.Namespace, bootstrap: str) -> Counter:
    counts: Counter = Counter()
    stop = asyncio.Event()
    viewer = asyncio.create_task(_show(bootstrap, counts, stop))
    rates = asyncio.create_task(_rates(args.web_port, stop))
    events = simulate(args.scenario, tenants=args.tenants, rate=args.rate,
                      duration=option_seconds(args.duration, what="--duration"), disorder=0.5)
    sent = 0
    async with EventProducer(bootstrap, batch=100) as producer:
        for ev in events:
            await producer.send(ev)
            sent += 1
            if sent % 1000 == 0:
                await asyncio.sleep(1000 / args.speed)  # pace: --speed events per wall second
    counts["events"] = sent
    quiet_since, last = time.monotonic(), -1
    while time.monotonic() - quiet_since < 6:  # until nothing new arrives for 6 s
        await asyncio.sleep(0.5)
        total = counts["matches"] + counts["actions"]
        if total != last:
            quiet_since, last = time.monotonic(), total
    stop.set()
    await viewer
    await rates
    return counts


def _wait_ready(web_port: int, worker: subprocess.Popen, timeout: float = 120) -> bool:
    """Until the worker's /ready says 200 (its source consumer and stages have joined their groups)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/ready", timeout=2):
                return True
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.3)  # not listening yet, or 503 while it joins and recovers
    return False


def run_demo(args: argparse.Namespace) -> int:
    option_seconds(args.duration, what="--duration")  # refused now, not after the broker and worker started
    port = args.port or free_port()
    log = tempfile.NamedTemporaryFile("w", prefix="goldrush-demo-worker-", suffix=".log", delete=False)  # noqa: SIM115
    with EmbeddedBroker(port) as broker:
        print(f"embedded broker on {broker.bootstrap}; worker log: {log.name}", file=sys.stderr)
        worker = subprocess.Popen(
            [sys.executable, "-m", "goldrush.cli", "worker", "--broker", broker.bootstrap, "--partitions", "2",
             "--web-port", str(args.web_port), "--app-id", "goldrush-demo"],
            stdout=log, stderr=subprocess.STDOUT)
        print(f"worker starting (web views on 127.0.0.1:{args.web_port}) …", file=sys.stderr)
        try:
            if not _wait_ready(args.web_port, worker):
                print(f"the worker did not become ready; its log: {log.name}", file=sys.stderr)
                return 1
            print(f"worker ready; simulating {args.duration} of '{args.scenario}' for {args.tenants} tenants …",
                  file=sys.stderr)
            counts = asyncio.run(_run(args, broker.bootstrap))
        except KeyboardInterrupt:
            print("\ninterrupted: shutting down", file=sys.stderr)
            return 130
        finally:
            stop_process(worker, 15)
            log.close()
    print(f"\n{counts['events']} events → {counts['matches']} matches, {counts['actions']} actions "
          f"({', '.join(f'{t.rsplit(chr(46), 1)[-1]}: {n}' for t, n in sorted(counts.items()) if t.startswith('goldrush.actions'))})",
          file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="embedded broker + worker + simulator + live view of matches and actions")
    p.add_argument("--scenario", default="mixed",
                   choices=["normal", "variety_imbalance", "oscillation", "cascade", "opportunity", "mixed"])
    p.add_argument("--tenants", type=positive_int, default=5)
    p.add_argument("--rate", type=positive_float, default=5.0, help="events per second of event time")
    p.add_argument("--duration", default="4h", help="event time to simulate (default 4h)")
    p.add_argument("--speed", type=positive_float, default=3000.0, help="events sent per wall-clock second")
    p.add_argument("--port", type=port_number, help="broker port (default: a free one)")
    p.add_argument("--web-port", type=port_number, default=6066)
    p.set_defaults(handler=run_demo)
