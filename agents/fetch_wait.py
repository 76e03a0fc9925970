"""Cap how long the worker's consumer lets the broker hold an empty fetch.

Faust hard-codes `fetch_max_wait_ms=1500` for its consumer. Apache Kafka answers a
parked fetch as soon as data arrives, so the wait costs nothing there; the
embedded tansu broker answers only when the wait runs out. Measured on tansu with
a raw aiokafka consumer: 480-1,235 ms from send to receipt at 1,500 ms, 11-14 ms
at 100 ms. The worker has two hops (source → engine-in → outputs), so the wait
was most of its detection latency. A short wait only adds idle polls.
"""

from __future__ import annotations

from typing import Any


def cap_fetch_wait(app: Any, seconds: float) -> None:
    """Set the running consumer's fetch wait (the next fetch request uses it)."""
    consumer = app.consumer._thread._ensure_consumer()
    ms = max(1, int(seconds * 1000))
    consumer._fetch_max_wait_ms = ms
    consumer._fetcher._fetch_max_wait_ms = ms
