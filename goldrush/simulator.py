"""A deterministic VSM event generator whose scenarios make the built-in patterns fire.

Used by `goldrush simulate`, the demo and the benchmarks. Same arguments, same
events: every tenant draws from its own seeded generator.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from typing import Any

SCENARIOS = ("normal", "variety_imbalance", "oscillation", "cascade", "opportunity", "mixed")
SERVICES = ("order_service", "payment_service", "inventory_service", "shipping_service", "auth_service")
ANOMALIES = ("variety_imbalance", "oscillation", "cascade", "opportunity")
PHASE = 900.0  # seconds: an anomaly phase lasts as long as the longest built-in window


class _Tenant:
    """One tenant's generator: a scenario, a phase clock and its own RNG."""

    def __init__(self, name: str, scenario: str, seed: int):
        self.name = name
        self.rng = random.Random(seed)
        self.scenario = scenario
        self.count = 0
        self.instances = 3
        self.salt = zlib.crc32(name.encode())
        self.offset = self.salt % (4 * PHASE)

    def anomalous(self, t: float) -> tuple[str | None, float]:
        """The anomaly active at `t` and for how long it has been: always on for a
        fixed scenario; for mixed, one 15-minute phase an hour, staggered per tenant."""
        if self.scenario == "normal":
            return None, 0.0
        if self.scenario != "mixed":
            return self.scenario, t % PHASE
        shifted = t + self.offset
        phase = int(shifted // PHASE)
        if phase % 4 != 3:
            return None, 0.0
        return ANOMALIES[(self.salt + phase // 4) % len(ANOMALIES)], shifted % PHASE

    def event(self, t: float) -> dict[str, Any]:
        rng = self.rng
        self.count += 1
        kind, since = self.anomalous(t)
        r = rng.random()
        service = SERVICES[rng.randrange(len(SERVICES))]
        base = {"timestamp": round(t, 3), "tenant": self.name, "id": f"{self.name}-{self.count}"}
        if kind == "variety_imbalance" and r < 0.5:
            return {**base, "name": "vsm_core.variety.calculated", "subsystem": "system1", "source": service,
                    "data": {"input_variety": round(rng.uniform(8.5, 12.0), 2),
                             "output_variety": round(rng.uniform(0.5, 1.9), 2),
                             "utilization": round(rng.uniform(0.9, 1.0), 3)}}
        if kind == "oscillation" and r < 0.6:
            return {**base, "name": "vsm_core.system2.coordination", "subsystem": "system2",
                    "data": {"action": "adjust",
                             "adjustment_magnitude": round(0.1 + 0.001 * since + rng.uniform(0, 0.05), 3)}}
        if kind == "oscillation" and r < 0.75:
            # Capacity swings with a two-minute period and a growing amplitude.
            amp = min(0.45, 0.05 + 0.4 * since / PHASE)
            util = 0.5 + amp * math.sin(2 * math.pi * since / 120.0) + rng.uniform(-0.02, 0.02)
            return {**base, "name": "vsm_core.system3.resources", "subsystem": "system3",
                    "data": {"utilization": round(min(1.0, max(0.0, util)), 3), "instances": self.instances}}
        if kind == "opportunity" and r < 0.6:
            if r < 0.4:
                return {**base, "name": "vsm_core.system1.operation", "subsystem": "system1", "source": service,
                        "data": {"performance_score": round(50 + 0.02 * since + rng.uniform(-1, 1), 2),
                                 "response_time_ms": round(rng.uniform(80, 200), 1), "status": "ok"}}
            if r < 0.5:
                return {**base, "name": "vsm_core.system3.resources", "subsystem": "system3",
                        "data": {"utilization": round(rng.uniform(0.1, 0.28), 3), "instances": self.instances}}
            return {**base, "name": "vsm_core.system4.scan", "subsystem": "system4",
                    "data": {"market_sentiment": "positive", "signal_strength": round(rng.uniform(0.6, 1), 2)}}
        if kind == "cascade" and r < 0.6:
            if r < 0.3:
                return {**base, "name": "vsm_core.system1.failure", "subsystem": "system1", "source": service,
                        "data": {"service": service, "error": "timeout"}}
            if r < 0.5:
                return {**base, "name": "vsm_core.system1.operation", "subsystem": "system1", "source": service,
                        "data": {"response_time_ms": round(rng.uniform(1200, 5000), 1), "status": "slow",
                                 "performance_score": round(rng.gauss(40, 5), 2)}}
            return {**base, "name": "vsm_core.algedonic.signal", "subsystem": "algedonic_channel",
                    "data": {"signal": "pain", "severity": rng.choice(["high", "critical"]),
                             "source_system": "system1", "instances": self.instances}}
        return self.normal(base, rng, service, spare=kind == "opportunity")

    def normal(self, base: dict, rng: random.Random, service: str, spare: bool) -> dict[str, Any]:
        r = rng.random()
        if r < 0.35:
            return {**base, "name": "vsm_core.system1.operation", "subsystem": "system1", "source": service,
                    "data": {"performance_score": round(rng.gauss(70, 5), 2),
                             "response_time_ms": round(rng.lognormvariate(5.0, 0.3), 1), "status": "ok"}}
        if r < 0.55:
            return {**base, "name": "vsm_core.variety.calculated", "subsystem": "system1", "source": service,
                    "data": {"input_variety": round(rng.uniform(3, 7.5), 2),
                             "output_variety": round(rng.uniform(2.5, 6), 2),
                             "utilization": round(rng.uniform(0.3, 0.8), 3)}}
        if r < 0.7:
            return {**base, "name": "vsm_core.system2.coordination", "subsystem": "system2",
                    "data": {"action": "adjust" if rng.random() < 0.02 else "hold",
                             "adjustment_magnitude": round(rng.uniform(0.05, 0.5), 3)}}
        if r < 0.82:
            return {**base, "name": "vsm_core.system3.resources", "subsystem": "system3",
                    "data": {"utilization": round(rng.uniform(0.1, 0.28) if spare else rng.uniform(0.72, 0.9), 3),
                             "instances": self.instances}}
        if r < 0.92:
            return {**base, "name": "vsm_core.system4.scan", "subsystem": "system4",
                    "data": {"market_sentiment": rng.choice(["neutral"] * 10 + ["negative"] * 4 + ["positive"])}}
        return {**base, "name": "vsm_core.system5.policy", "subsystem": "system5",
                "data": {"policy": "steady_state", "identity_coherence": round(rng.uniform(0.8, 1.0), 3)}}


def simulate(
    scenario: str = "mixed",
    *,
    tenants: int = 10,
    rate: float = 100.0,
    duration: float = 600.0,
    seed: int = 7,
    start: float = 1_767_225_600.0,
    disorder: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Events at `rate` per second over `duration` seconds of event time.

    `disorder` > 0 jitters timestamps back by up to that many seconds (out-of-order
    arrival, as from several producers), always less than the default lateness.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if tenants < 1 or rate <= 0 or duration <= 0:
        raise ValueError("tenants, rate and duration must be positive")
    pool = [_Tenant(f"tenant-{i:04d}", scenario, seed * 1_000_003 + i) for i in range(tenants)]
    picker = random.Random(seed)
    total = int(rate * duration)
    step = 1.0 / rate
    for i in range(total):
        t = start + i * step
        if disorder:
            t -= picker.random() * disorder
        yield pool[picker.randrange(tenants)].event(t)


SUBSYSTEM_TOPICS = {
    "system1": "vsm-system1-operations", "system2": "vsm-system2-coordination",
    "system3": "vsm-system3-control", "system4": "vsm-system4-intelligence",
    "system5": "vsm-system5-policy", "algedonic_channel": "vsm-algedonic-signals",
}


async def to_kafka(events: Iterator[dict[str, Any]], bootstrap: str, topic: str, batch: int,
                   pace: float | None) -> int:
    """Produce `events` (batched per tenant); `pace` = events per wall-clock second, None = flat out.

    Topic "by-subsystem" sends each event to the seed's per-system topic (variety
    measurements to `vsm-variety-measurements`), as the seed's producers do.
    """
    import asyncio
    import time

    from .client import EventProducer

    routed = topic == "by-subsystem"
    producers: dict[str, EventProducer] = {}
    sent = 0
    t0 = time.monotonic()
    try:
        for ev in events:
            name = topic
            if routed:
                name = ("vsm-variety-measurements" if ev["name"].endswith("variety.calculated")
                        else SUBSYSTEM_TOPICS.get(ev.get("subsystem", ""), "vsm.events"))
            producer = producers.get(name)
            if producer is None:
                producer = producers[name] = EventProducer(bootstrap, topic=name, batch=batch)
                await producer.start()
            await producer.send(ev)
            sent += 1
            if pace and sent % max(1, int(pace // 10)) == 0:
                ahead = sent / pace - (time.monotonic() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        for producer in producers.values():
            await producer.stop()
    return sent
