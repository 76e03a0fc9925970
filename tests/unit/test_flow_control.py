"""The worker's flow control keeps messages fetched while the flow runs (agents/compat.py, resume_keeps_queued_messages)."""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlQueue

from goldrush.agents.app import build_app
from goldrush.agents.config import WorkerConfig


def _queue_with(flow, *items):
    queue = FlowControlQueue(maxsize=10, flow_control=flow, clear_on_resume=True)
    for item in items:
        queue.put_nowait(item)
    return queue


def test_a_resume_of_a_running_flow_keeps_queued_messages(tmp_path):
    async def run():
        app = build_app(WorkerConfig(broker="127.0.0.1:1", data_dir=str(tmp_path)))
        flow = app.flow_control
        flow.resume()  # the first resume after start: the flow was suspended
        queue = _queue_with(flow, "m1", "m2")
        flow.resume()  # Recovery.on_recovery_completed, while the fetcher already runs
        assert queue.qsize() == 2
        flow.suspend()  # a rebalance: what is queued now may belong to revoked partitions
        flow.resume()
        assert queue.qsize() == 0
        assert flow.is_active()

    asyncio.run(run())
