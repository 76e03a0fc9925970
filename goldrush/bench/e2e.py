"""`goldrush bench e2e`: the worker against raw aiokafka on the embedded broker, in one run.

(a) raw aiokafka consumption of a prepared topic (messages read, and read + JSON
parsed), and the floor no worker can beat (goldrush/bench/floor.py: every event
decoded and validated, and forwarded through one internal topic); (b) a `goldrush worker` with the built-in patterns processing the same
events, one event per message and `--batch` events per message, timed from its
readiness (it reads its backlog from then on) until every event went through the
tenant and key stages (its /metrics counters), the same with `--key-stage off`, and with a pattern no event
is relevant to (goldrush/bench/no_pattern.py: the runtime's own cost), next to
in-process `replay(ALL)` of the same events and the worker's stages run in-process
without Kafka (agents/local_run.py), as ratios; (c) detection
latency p50/p99 at a steady moderate rate: wall time from producing the event that
completes a failure cascade to the alert on its action topic.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from goldrush.bench.floor import consume, count_decoded, decode_and_forward
from goldrush.events.codec import loads
from goldrush.events.topics import ACTIONS
from goldrush.kafka.broker import EmbeddedBroker, free_port, stop_process
from goldrush.progress import progress
from goldrush.simulator import simulate

NO_PATTERN = "goldrush.bench.no_pattern"  # the runtime's own cost: every event read, decoded, reordered, none relevant


async def _prepare(bootstrap: str, topic: str, events: list[dict], batch: int) -> int:
    """Produce as users do (`EventProducer`): messages of up to `batch` events of one tenant, keyed by it.

    A message mixing tenants under one tenant's key would spread every tenant
    over all partitions, and the worker would see most events out of order (late).
    """
    from goldrush.client import EventProducer

    async with EventProducer(bootstrap, topic=topic, batch=batch, linger_ms=20, max_batch_size=1 << 20,
                             max_request_size=8 << 20) as producer:
        await producer.send_many(events)
    return producer.sent_messages


def _count_parsed(record: Any) -> int:
    doc = loads(record.value)
    return len(doc) if isinstance(doc, list) else 1


def _metrics(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def _start_worker(bootstrap: str, topic: str, app_id: str, lateness: str = "2s",
                  key_stage: str = "on", patterns: str | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "goldrush", "worker", "--broker", bootstrap, "--topics", topic,
         "--partitions", "2", "--web-port", str(port), "--app-id", app_id, "--lateness", lateness,
         "--key-stage", key_stage, *(() if patterns is None else ("--patterns", patterns))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def _worker_rate(bootstrap: str, topic: str, total: int, app_id: str, key_stage: str = "on",
                 patterns: str | None = None, timeout: float = 600) -> float:
    """Events/s from the worker's readiness (it reads its backlog from then on) until every event went
    through both stages. Not from its first event seen in /metrics: a worker busy with a large
    batch answers late, and work done before that answer went uncounted."""
    proc, port = _start_worker(bootstrap, topic, app_id, key_stage=key_stage, patterns=patterns)
    try:
        deadline = time.monotonic() + timeout
        first = None
        while time.monotonic() < deadline:
            m = _metrics(port)
            if first is None and (m.get("goldrush_ready") == 1.0 or m.get("goldrush_events_in_total", 0) > 0):
                first = time.perf_counter()
            if (m.get("goldrush_events_evaluated_total", 0) >= total
                    and m.get("goldrush_events_keyed_total", 0) >= m.get("goldrush_events_forwarded_total", 0)
                    and m.get("goldrush_policy_waiting", 0) == 0):  # the key stage is done too
                assert first is not None
                return total / (time.perf_counter() - first)
            time.sleep(0.05)
        raise RuntimeError(f"worker evaluated {_metrics(port).get('goldrush_events_evaluated_total')} of {total}")
    finally:
        stop_process(proc, 20)


async def _latency(bootstrap: str, rate: float, seconds: float, lateness: str) -> list[float]:
    """Cascades injected into a steady background stream; seconds from the completing event to its alert."""
    from aiokafka import AIOKafkaConsumer

    from goldrush.client import EventProducer

    proc, port = _start_worker(bootstrap, "lat-events", f"bench-lat-{lateness}", lateness)
    # A short fetch wait: tansu holds a fetch for all of it, which would be measured as the worker's latency.
    consumer = AIOKafkaConsumer(ACTIONS["algedonic_alert"], bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                fetch_max_wait_ms=10)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    run = time.monotonic_ns()
    try:
        await consumer.start()
        while _metrics(port).get("goldrush_ready") != 1.0:
            await asyncio.sleep(0.2)

        async def receive() -> None:
            async for r in consumer:
                doc = json.loads(r.value)
                got.setdefault(doc["tenant"], time.perf_counter())

        reader = asyncio.create_task(receive())
        background = simulate("normal", tenants=20, rate=rate, duration=seconds, start=time.time())
        async with EventProducer(bootstrap, topic="lat-events", batch=1) as producer:
            t0 = time.perf_counter()
            for i, ev in enumerate(background):
                ev["timestamp"] = time.time()
                await producer.send(ev)
                if i % int(rate) == int(rate) // 2:  # once a second: a cascade in a fresh tenant
                    tenant = f"lat-{run}-{i}"  # unique per run: no stale alert can match
                    for k, svc in enumerate(("db", "api", "web")):
                        await producer.send({"name": "vsm_core.system1.failure", "timestamp": time.time(),
                                             "tenant": tenant, "source": svc, "data": {"service": svc}})
                        if k == 2:
                            await producer.flush()
                            sent[tenant] = time.perf_counter()
                ahead = (i + 1) / rate - (time.perf_counter() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await asyncio.sleep(5)
        reader.cancel()
    finally:
        await consumer.stop()
        stop_process(proc, 20)
    return sorted(got[t] - sent[t] for t in sent if t in got)


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main(events: int = 100_000, batch: int = 100, rate: float = 200.0, seconds: float = 30.0) -> dict[str, Any]:
    data = list(simulate("mixed", tenants=50, rate=100, duration=events / 100, seed=11))
    broker = EmbeddedBroker(free_port())
    broker.start()
    out: dict[str, Any] = {"events": len(data), "batch": batch}
    steps = iter(range(1, 17))  # 7 runs per message size, then 2 latency runs
    try:
        b = broker.bootstrap
        with progress(16, "bench e2e", "runs", background=False) as shown:  # drawn between runs only
            _runs(b, data, batch, out, lambda: shown(next(steps)))
            for lateness in ("0s", "2s"):
                lat = asyncio.run(_latency(b, rate, seconds, lateness))
                shown(next(steps))
                out[f"latency_{lateness}"] = {"n": len(lat), "p50_ms": 1000 * _pct(lat, 0.5),
                                              "p99_ms": 1000 * _pct(lat, 0.99)}
                print(f"latency at {rate:.0f} ev/s, lateness {lateness}: {len(lat)} cascades, "
                      f"p50 {1000 * _pct(lat, 0.5):.0f} ms, p99 {1000 * _pct(lat, 0.99):.0f} ms", flush=True)
    finally:
        broker.stop()
    return out


def _in_process(data: list[dict], size: int) -> tuple[float, float]:
    """Events/s of in-process `replay(ALL)` and of the worker's stages run in-process
    (agents/local_run.py: no Kafka, no Faust) on the same events, `size` per message."""
    from goldrush import replay
    from goldrush.agents.config import WorkerConfig
    from goldrush.agents.local_run import LocalTopology
    from goldrush.engine.gctune import throughput_gc
    from goldrush.events.codec import dumps_bytes
    from goldrush.patterns import ALL

    messages = [dumps_bytes(data[i:i + size] if size > 1 else data[i]) for i in range(0, len(data), size)]
    started = time.perf_counter()
    replay(ALL, data)
    replayed = len(data) / (time.perf_counter() - started)
    with throughput_gc():  # as the worker runs
        started = time.perf_counter()
        LocalTopology(WorkerConfig(partitions=2)).run(messages)
        staged = len(data) / (time.perf_counter() - started)
    return replayed, staged


def _runs(b: str, data: list[dict], batch: int, out: dict[str, Any], step: Callable[[], None]) -> None:
    """The throughput runs, one event per message and `batch` per message; `step()` after each run."""
    for label, size in (("single", 1), ("batched", batch)):
        topic = f"bench-{label}"
        asyncio.run(_prepare(b, topic, data, size))
        raw = asyncio.run(consume(b, topic, len(data)))
        step()
        parsed = asyncio.run(consume(b, topic, len(data), _count_parsed))
        step()
        decoded = asyncio.run(consume(b, topic, len(data), count_decoded))
        step()
        forwarded = asyncio.run(decode_and_forward(b, topic, f"{topic}-floor", len(data)))
        step()
        worker = _worker_rate(b, topic, len(data), f"bench-{label}")
        step()
        # The same worker with every pattern evaluated where its tenant is (no key stage).
        tenant_only = _worker_rate(b, topic, len(data), f"bench-{label}-tenant-only", key_stage="off")
        step()
        # The runtime alone: the same worker with a pattern no event is relevant to.
        ceiling = _worker_rate(b, topic, len(data), f"bench-{label}-no-pattern", key_stage="off",
                               patterns=NO_PATTERN)
        step()
        replayed, staged = _in_process(data, size)
        out[label] = {"replay_events_per_s": replayed, "worker_over_replay": worker / replayed,
                      "stages_in_process_events_per_s": staged, "stages_over_replay": staged / replayed,
                      "worker_no_pattern_over_floor": ceiling / forwarded,
                      "raw_events_per_s": raw, "raw_parsed_events_per_s": parsed, "worker_events_per_s": worker,
                      "worker_over_raw": worker / raw, "worker_over_parsed": worker / parsed,
                      "worker_key_stage_off_events_per_s": tenant_only,
                      "worker_key_stage_off_over_raw": tenant_only / raw,
                      "worker_no_pattern_events_per_s": ceiling, "worker_no_pattern_over_raw": ceiling / raw,
                      "floor_decode_events_per_s": decoded, "floor_decode_over_raw": decoded / raw,
                      "floor_decode_forward_events_per_s": forwarded, "floor_decode_forward_over_raw": forwarded / raw}
        print(f"{label:8s} raw aiokafka {raw:>10,.0f} ev/s | raw + JSON {parsed:>10,.0f} ev/s | "
              f"worker {worker:>9,.0f} ev/s | worker/raw {worker / raw:.2f} | worker/raw+JSON "
              f"{worker / parsed:.2f} | --key-stage off {tenant_only:>9,.0f} ev/s ({tenant_only / raw:.2f}) | "
              f"no pattern {ceiling:>9,.0f} ev/s ({ceiling / raw:.2f})\n"
              f"{'':8s} floor, plain aiokafka: decode + validate {decoded:>10,.0f} ev/s ({decoded / raw:.2f}) | "
              f"and forward through one internal topic {forwarded:>10,.0f} ev/s ({forwarded / raw:.2f})\n"
              f"{'':8s} in-process replay(ALL) {replayed:>10,.0f} ev/s | worker / replay {worker / replayed:.2f} | "
              f"the worker's stages in-process, no Kafka {staged:>10,.0f} ev/s ({staged / replayed:.2f} of replay) | "
              f"no pattern / floor {ceiling / forwarded:.2f}",
              flush=True)
