"""Per-tenant reorder buffer: hold events back by `allowed_lateness` (SEMANTICS §4).

Each tenant has its own clock, so one tenant's skew never makes another's
events late. Released events come out in non-decreasing event time, ties in
arrival order. Most streams are nearly ordered, so each tenant's buffer is a
deque kept sorted: an in-order arrival is an append, a rare out-of-order one a
binary-search insert.

De-duplication (SEMANTICS §4, docs/semantics.md): an event whose explicit `id` equals
that of an accepted event of the same tenant still inside the reorder window (timestamp
at or above the tenant's watermark and its flush floor) is a duplicate: counted, never
evaluated, and it moves no clock. A copy arriving after its original left the window
is below the watermark, hence late, so no id is ever evaluated twice while the memory
for ids stays bounded by the window.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from operator import attrgetter

from goldrush.events.envelope import Event

_timestamp = attrgetter("timestamp")


ACCEPTED, LATE, DUPLICATE = True, False, None  # what `push` says of an event


class _TenantBuffer:
    __slots__ = ("queue", "high", "floor", "ids")

    def __init__(self) -> None:
        self.queue: deque[Event] = deque()
        self.high = float("-inf")  # highest timestamp seen
        self.floor = float("-inf")  # highest timestamp released by a forced flush
        self.ids: dict[str, float] | None = None  # explicit id → timestamp, of accepted events in the window

    def window_start(self, lateness: float) -> float:
        """Events below this are late; ids of accepted events at or above it are remembered."""
        watermark = self.high - lateness
        return watermark if watermark > self.floor else self.floor

    def remember(self, event_id: str, ts: float, lateness: float) -> None:
        ids = self.ids
        if ids is None:
            ids = self.ids = {}
        elif len(ids) > 2 * len(self.queue) + 64:  # amortised: drop ids that left the window
            start = self.window_start(lateness)
            ids = self.ids = {i: t for i, t in ids.items() if t >= start}
        ids[event_id] = ts


class ReorderBuffer:
    def __init__(self, allowed_lateness: float):
        self.lateness = allowed_lateness
        self.tenants: dict[str, _TenantBuffer] = {}
        self.arrivals = 0

    def tenant(self, tenant: str) -> _TenantBuffer:
        buf = self.tenants.get(tenant)
        if buf is None:
            buf = self.tenants[tenant] = _TenantBuffer()
        return buf

    def holds(self, tenant: str) -> bool:
        """True while `tenant` has events waiting to be released."""
        buf = self.tenants.get(tenant)
        return buf is not None and bool(buf.queue)

    def push(self, event: Event, out: list[Event]) -> bool | None:
        """Buffer `event`, append what is now releasable to `out`: ACCEPTED, LATE or DUPLICATE."""
        buf = self.tenants.get(event.tenant)
        if buf is None:
            buf = self.tenants[event.tenant] = _TenantBuffer()
        ts = event.timestamp
        event_id = event._id if event._raw is None else None  # explicit ids only
        if event_id is not None:
            ids = buf.ids
            if ids is not None:
                seen = ids.get(event_id)
                if seen is not None and seen >= buf.window_start(self.lateness):
                    return DUPLICATE
        if ts > buf.high:
            buf.high = ts
        watermark = buf.high - self.lateness
        if ts < watermark or ts < buf.floor:
            return LATE
        if event_id is not None:  # `_TenantBuffer.remember`, inline: this runs for every event with an id
            ids = buf.ids
            if ids is None or len(ids) > 2 * len(buf.queue) + 64:
                buf.remember(event_id, ts, self.lateness)
            else:
                ids[event_id] = ts
        self.arrivals += 1
        queue = buf.queue
        if not queue or ts >= queue[-1].timestamp:
            queue.append(event)
        else:  # after every buffered event with the same time: ties keep arrival order
            queue.insert(bisect_right(queue, ts, key=_timestamp), event)
        while queue[0].timestamp <= watermark:
            out.append(queue.popleft())
            if not queue:
                break
        return ACCEPTED

    def flush_tenant(self, tenant: str, out: list[Event]) -> None:
        """Release everything buffered for `tenant` (idle in streaming, or end of input).

        Later events older than what was released are then late: processing order
        per tenant never goes back in time.
        """
        buf = self.tenants.get(tenant)
        if buf is None or not buf.queue:
            return
        out.extend(buf.queue)
        buf.queue.clear()
        buf.floor = out[-1].timestamp

    def release_through(self, tenant: str, t: float, out: list[Event]) -> None:
        """Release the tenant's buffered events at or before `t` (ahead of the watermark): a tenant
        that must cross a pattern-set switch point at `t` evaluates these with the old set first.
        The floor is the caller's to raise."""
        buf = self.tenants.get(tenant)
        if buf is None:
            return
        queue = buf.queue
        while queue and queue[0].timestamp <= t:
            out.append(queue.popleft())

    def flush(self, out: list[Event]) -> None:
        for tenant in list(self.tenants):
            self.flush_tenant(tenant, out)

    def dump_ids(self, tenant: str) -> list[list]:
        """The tenant's remembered ids still in its window, for a snapshot."""
        buf = self.tenants.get(tenant)
        if buf is None or not buf.ids:
            return []
        start = buf.window_start(self.lateness)
        return [[i, t] for i, t in buf.ids.items() if t >= start]

    def load_ids(self, tenant: str, ids: list[list] | None) -> None:
        """Put back remembered ids; a snapshot without them (`None`: older versions) takes the buffered events' ids."""
        buf = self.tenant(tenant)
        if ids is None:
            ids = [[e._id, e.timestamp] for e in buf.queue if e._id is not None]
        buf.ids = {i: t for i, t in ids} or None
