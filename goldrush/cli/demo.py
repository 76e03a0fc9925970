"""`goldrush demo`: embedded broker + a worker + the simulator + a live terminal dashboard.

Everything runs on loopback. The broker and the worker run in sessions of their own, so the
terminal's Ctrl-C reaches only the demo, which then stops them in order — simulator, worker,
broker — instead of the broker dying under a worker that then logged thousands of
connection errors for half a minute. The worker's log and data live in one temporary
directory, removed on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goldrush.cli.args import port_number, positive_float, positive_int
from goldrush.cli.demo_view import DemoState, render
from goldrush.dsl.durations import option_seconds
from goldrush.events.codec import BadJSON, loads
from goldrush.events.topics import ACTIONS, MATCHES
from goldrush.kafka.broker import EmbeddedBroker, free_port, stop_process
from goldrush.kafka.client import EventProducer
from goldrush.simulator import simulate

SCENARIOS = ["normal", "variety_imbalance", "oscillation", "cascade", "opportunity", "mixed"]
WORKER_STOP = 2.0  # seconds the worker gets to stop before it is killed (its state is disposable here)
QUIET = 6.0  # the stream is over once nothing new came for this long


async def _consume(bootstrap: str, state: DemoState, stop: asyncio.Event) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(MATCHES, *ACTIONS.values(), bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=300)).items():
                for r in records:
                    try:
                        state.record(tp.topic, loads(r.value))
                    except BadJSON:
                        continue
    finally:
        await consumer.stop()


def _read_rates(web_port: int) -> dict | None:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/rates?limit=200", timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


async def _poll_rates(web_port: int, state: DemoState, stop: asyncio.Event) -> None:
    while not stop.is_set():
        doc = await asyncio.to_thread(_read_rates, web_port)
        if doc is not None:
            state.rates(doc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _run(args: argparse.Namespace, bootstrap: str, state: DemoState) -> None:
    stop = asyncio.Event()
    watchers = [asyncio.create_task(_consume(bootstrap, state, stop)),
                asyncio.create_task(_poll_rates(args.web_port, state, stop))]
    try:
        events = list(simulate(args.scenario, tenants=args.tenants, rate=args.rate,
                               duration=option_seconds(args.duration, what="--duration"), disorder=0.5))
        state.total_events, state.phase = len(events), "simulating"
        async with EventProducer(bootstrap, batch=100) as producer:
            for ev in events:
                await producer.send(ev)
                state.sent += 1
                if state.sent % 1000 == 0:
                    await asyncio.sleep(1000 / args.speed)  # pace: --speed events per wall second
        state.phase = "waiting for the last matches"
        quiet_since, last = time.monotonic(), -1
        while time.monotonic() - quiet_since < QUIET:
            await asyncio.sleep(0.5)
            total = sum(state.matches.values()) + sum(state.actions.values())
            if total != last:
                quiet_since, last = time.monotonic(), total
        state.phase = "done"
    finally:
        stop.set()
        await asyncio.gather(*watchers, return_exceptions=True)


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


def _start_worker(bootstrap: str, web_port: int, workdir: Path) -> tuple[subprocess.Popen, Path]:
    log = workdir / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "goldrush", "worker", "--broker", bootstrap, "--partitions", "2",
             "--web-port", str(web_port), "--app-id", "goldrush-demo", "--data-dir", str(workdir / "faust"),
             "--stop-timeout", str(WORKER_STOP)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # Ctrl-C is the demo's alone
    return worker, log


def _live(args: argparse.Namespace, bootstrap: str, state: DemoState) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    with Live(get_renderable=lambda: render(state), console=console, refresh_per_second=4,
              redirect_stderr=False):
        asyncio.run(_run(args, bootstrap, state))


def run_demo(args: argparse.Namespace) -> int:
    option_seconds(args.duration, what="--duration")  # refused now, not after the broker and worker started
    state = DemoState()
    with tempfile.TemporaryDirectory(prefix="goldrush-demo-") as tmp, \
            EmbeddedBroker(args.port or free_port()) as broker:
        print(f"embedded broker on {broker.bootstrap}; worker web views on http://127.0.0.1:{args.web_port}/ "
              "(a live dashboard there too)", file=sys.stderr)
        worker, log = _start_worker(broker.bootstrap, args.web_port, Path(tmp))
        try:
            print("worker starting …", file=sys.stderr, flush=True)
            if not _wait_ready(args.web_port, worker):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print("the worker did not become ready; the end of its log:", *tail, sep="\n  ", file=sys.stderr)
                return 1
            print(f"worker ready; simulating {args.duration} of '{args.scenario}' for {args.tenants} tenants …",
                  file=sys.stderr, flush=True)
            _live(args, broker.bootstrap, state)
        except KeyboardInterrupt:
            print(f"\ninterrupted: {state.summary()}; stopping the worker and the broker", file=sys.stderr)
            return 130
        finally:  # the simulator has stopped with asyncio.run; then the worker, then (with) the broker
            stop_process(worker, WORKER_STOP)
    print(f"\n{state.summary()}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="embedded broker + worker + simulator + live dashboard of matches and actions")
    p.add_argument("--scenario", default="mixed", choices=SCENARIOS, help="what the simulated systems go through")
    p.add_argument("--tenants", type=positive_int, default=5, help="simulated tenants")
    p.add_argument("--rate", type=positive_float, default=5.0, help="events per second of event time")
    p.add_argument("--duration", default="4h", help="event time to simulate")
    p.add_argument("--speed", type=positive_float, default=3000.0, help="events sent per wall-clock second")
    p.add_argument("--port", type=port_number, help="port of the embedded broker (default: a free one)")
    p.add_argument("--web-port", type=port_number, default=6066, help="port of the worker's web views and dashboard")
    p.set_defaults(handler=run_demo)
