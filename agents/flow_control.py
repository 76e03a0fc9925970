"""Stop Faust from discarding fetched messages when it resumes a flow that is already running.

`app.flow_control.resume()` clears every stream queue, on the theory that what
they hold was fetched before a rebalance. Faust's recovery calls it several
times, the last one in `Recovery.on_recovery_completed`, *after* it has resumed
the source partitions and awaited a seek, so the fetcher has been filling the
queues meanwhile. Those messages are dropped while the consumer's position has
already moved past them: a run of source messages is never processed
(faust-streaming/faust#596). Measured on the SIGKILL-and-restart scenario: 56
queued messages cleared, 1,400 events of two tenants never evaluated, in 4 of
12 restarts.

Clearing only makes sense on a real suspended → running transition. Rebalances
suspend the flow, cancel pending deliveries and clear the queues themselves
(`App._on_partitions_revoked`), so whatever was queued while the flow was
running belongs to the current assignment and must be kept.
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent


def resume_keeps_queued_messages(flow: FlowControlEvent) -> None:
    """Make `flow.resume()` clear the queues only when the flow was suspended."""
    resume = flow.resume

    def resume_if_suspended() -> None:
        if not flow.is_active():
            resume()

    flow.resume = resume_if_suspended  # type: ignore[method-assign]
