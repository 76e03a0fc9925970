"""Idle tenants are unloaded and reloaded as they were (issue #16): a worker that lets every
tenant go between two bursts still gives replay's matches and actions."""

from __future__ import annotations

import asyncio
import time

from goldrush.client import EventProducer
from goldrush.simulator import simulate
from tests.support.worker import (
    assert_at_least_once,
    collect_replay_matches,
    http_get,
    prometheus,
    start_worker,
    stop,
    wait_ready,
)


def test_tenants_unloaded_between_bursts_give_the_replay_matches(fresh_broker, tmp_path):
    events = list(simulate("cascade", tenants=2, rate=4, duration=600, seed=11))
    first, second = events[: len(events) // 2], events[len(events) // 2:]
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-unload", "--unload-after", "1s", "--key-stage", "off")
    try:
        async def run():
            await wait_ready(worker)
            async with EventProducer(fresh_broker.bootstrap, batch=50) as producer:
                await producer.send_many(first)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the idle flush, then the unload timer (every 10 s)
                metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
                if metrics.get("goldrush_tenants_loaded") == 0 and metrics.get("goldrush_tenants_unloaded_total"):
                    break
                await asyncio.sleep(1)
            else:
                raise AssertionError(f"tenants not unloaded: {metrics}")
            async with EventProducer(fresh_broker.bootstrap, batch=50) as producer:
                await producer.send_many(second)
            return await collect_replay_matches(fresh_broker.bootstrap, events)

        records, expected, late, actions, expected_actions = asyncio.run(run())
    finally:
        stop(worker)
    assert not late
    assert expected and expected_actions
    assert_at_least_once(records, expected, "match_id")
    assert_at_least_once(actions, expected_actions, "action_id")
