"""Per-tenant reorder buffer: hold events back by `allowed_lateness` (SEMANTICS §4).

Each tenant has its own clock, so one tenant's skew never makes another's
events late. Released events come out in non-decreasing event time, ties in
arrival order. Most streams are nearly ordered, so each tenant's buffer is a
deque kept sorted: an in-order arrival is an append, a rare out-of-order one a
binary-search insert.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from operator import attrgetter

from .events import Event

_timestamp = attrgetter("timestamp")


class _TenantBuffer:
    __slots__ = ("queue", "high", "floor")

    def __init__(self) -> None:
        self.queue: deque[Event] = deque()
        self.high = float("-inf")  # highest timestamp seen
        self.floor = float("-inf")  # highest timestamp released by a forced flush


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

    def push(self, event: Event, out: list[Event]) -> bool:
        """Buffer `event`, append what is now releasable to `out`; False if it is late."""
        buf = self.tenants.get(event.tenant)
        if buf is None:
            buf = self.tenants[event.tenant] = _TenantBuffer()
        ts = event.timestamp
        if ts > buf.high:
            buf.high = ts
        watermark = buf.high - self.lateness
        if ts < watermark or ts < buf.floor:
            return False
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
        return True

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

    def flush(self, out: list[Event]) -> None:
        for tenant in list(self.tenants):
            self.flush_tenant(tenant, out)
