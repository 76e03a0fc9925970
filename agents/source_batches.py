"""What the worker does with a batch read from the source topics (agents/source_consumer.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .in_place import Router, in_place_holds
from .metrics import Metrics
from .stages.ingest import Ingest
from .stages.tenant import TenantStep

# Events waiting for their partition's barrier (in memory, uncommitted) above which ingest stops
# reading until it passes: the first barrier can take a fetch wait or a recovery to be read.
MAX_WAITING = 20_000


class SourceBatches:
    """Ingest's dead letters, engine-in forwards and barriers are published first; then the
    events of tenants in place (agents/in_place.py) are evaluated and published as one tenant
    stage batch, or wait for their partition's barrier. Inputs the router dropped (the
    assignment changed before they were evaluated) are read again from the sources (`rewind`)."""

    def __init__(self, ingest: Ingest, tenant_step: TenantStep, publisher: Any, router: Router | None,
                 metrics: Metrics, rewind: Callable[[list], None],
                 drained: Callable[[set[int]], Awaitable[set[int]]] | None = None):
        self.ingest, self.tenant_step, self.publisher, self.router = ingest, tenant_step, publisher, router
        self.metrics, self.rewind, self.drained = metrics, rewind, drained

    async def __call__(self, pieces: Sequence[Any]) -> None:
        router = self.router
        if router is not None and self.drained is not None:
            await router.follow(self.drained)
        outcome = self.ingest.handle(pieces)
        generation = None if router is None else router.generation  # after `refresh`, in `handle`
        inputs, outcome.in_place = outcome.in_place, []
        await self.publisher.forward(outcome)
        if router is None:
            return
        if inputs and not router.still(generation):
            router.dropped += inputs
            inputs = []
        dropped = router.take_dropped()
        if dropped:
            self.rewind(in_place_holds(dropped))
        now = router.evaluate_now(inputs)
        if now:
            started = time.monotonic()
            await self.publisher.publish(self.tenant_step.handle_in_place(now))
            self.metrics.observe("goldrush_batch_seconds", time.monotonic() - started, stage="tenant")
        generation = router.generation
        while router.waiting_events > MAX_WAITING and router.generation == generation:
            await asyncio.sleep(0.01)  # the tenant stage reads the barrier and takes them
