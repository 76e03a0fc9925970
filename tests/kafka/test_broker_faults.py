"""Broker faults (issue #16): honest readiness while the broker is away, a bounded log, and a
worker that finds its broker emptied says so and exits 2 instead of hanging; a new worker on
the emptied broker starts fresh."""

from __future__ import annotations

import asyncio
import json
import time

from goldrush.events.topics import ACTIONS
from goldrush.kafka.broker import EmbeddedBroker
from tests.support.hostile import good_events
from tests.support.worker import collect, http_get, send_raw, start_worker, stop, wait_ready


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def ready_status(worker) -> int | None:
    try:
        return http_get(worker.web_port, "/ready")[0]
    except OSError:
        return None


def test_an_unreachable_broker_makes_the_worker_unready_and_an_emptied_one_makes_it_exit_2(tmp_path):
    broker = EmbeddedBroker().start()
    worker = start_worker(broker.bootstrap, tmp_path, "gr-fault")
    replacement = fresh = None
    try:
        async def first():
            await wait_ready(worker)
            await send_raw(broker.bootstrap, [json.dumps(e).encode() for e in good_events("before")])
            return await collect(broker.bootstrap, (ACTIONS["algedonic_alert"],), 1, timeout=60)

        assert asyncio.run(first())
        time.sleep(3)  # the snapshots are on the changelog and the watch has seen them
        log = next(tmp_path.glob("gr-fault*.log"))
        broker.stop()
        assert wait_for(lambda: ready_status(worker) == 503, 30), "still ready with the broker gone"
        lines_before = len(log.read_text().splitlines())
        time.sleep(10)
        lines_during = len(log.read_text().splitlines()) - lines_before
        assert lines_during <= 15, f"{lines_during} log lines in 10 s of outage"
        replacement = EmbeddedBroker(port=broker.port).start()  # memory storage: it comes back empty
        assert wait_for(lambda: worker.poll() is not None, 90), "the worker went on with an emptied broker"
        assert worker.returncode == 2
        assert "the broker lost this app's state" in log.read_text()
        fresh = start_worker(replacement.bootstrap, tmp_path, "gr-fault")

        async def second():
            await wait_ready(fresh)
            await send_raw(replacement.bootstrap, [json.dumps(e).encode() for e in good_events("after")])
            return await collect(replacement.bootstrap, (ACTIONS["algedonic_alert"],), 1, timeout=60)

        # the cascade alerts twice (failure_cascade, cascading_failure_model): one or both may have come
        assert {a["tenant"] for a in asyncio.run(second())} == {"after"}
    finally:
        for proc in (worker, fresh):
            if proc is not None:
                stop(proc)
        for b in (broker, replacement):
            if b is not None:
                b.stop()
