"""Honest readiness under broker faults, and one log line per interval instead of a flood.

`BrokerWatch` asks the broker every few seconds for the end offsets of the app's state
topics (internal topics and changelogs), with a client of its own:

- no answer → not reachable: `/ready` answers 503 and one line per interval says for how
  long (aiokafka's own reconnect errors, about 110 lines a second, are folded by
  `RepeatLimiter`);
- an end offset lower than one seen before, or a state topic gone → the broker was emptied
  or replaced: the state this worker holds is no longer what the changelogs say, and
  Faust would log `UnknownTopicOrPartition` for ever or wait in recovery with no way
  out. The worker says so in one line and exits 2; a supervisor restarts it on the new
  broker, where it starts fresh.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger("goldrush.worker")

CHECK_EVERY = 2.0  # seconds between checks
SAY_EVERY = 10.0  # seconds between two lines about the same fault


class BrokerWatch:
    def __init__(self, broker: str, topics: Iterable[str], *, check_every: float = CHECK_EVERY,
                 emptied: Callable[[str], None] | None = None):
        self.broker = broker
        self.topics = sorted(set(topics))
        self.check_every = check_every
        self.emptied = emptied or exit_emptied
        self.reachable = True
        self.down_since: float | None = None
        self.failed_checks = 0
        self.said_at = float("-inf")
        self.ends: dict[TopicPartition, int] = {}  # highest end offset seen per state partition

    async def run(self) -> None:
        client = AIOKafkaConsumer(bootstrap_servers=self.broker, request_timeout_ms=int(self.check_every * 2500),
                                  enable_auto_commit=False, metadata_max_age_ms=int(self.check_every * 1000))
        started = False
        try:
            while True:
                try:
                    if not started:
                        await client.start()
                        started = True
                    ends = await asyncio.wait_for(self._ends(client), timeout=self.check_every * 3)
                except (TimeoutError, KafkaError, OSError) as exc:
                    self.unreachable(exc)
                else:
                    self.answered(ends)
                await asyncio.sleep(self.check_every)
        finally:
            if started:
                await client.stop()

    async def _ends(self, client: AIOKafkaConsumer) -> dict[TopicPartition, int] | None:
        """End offsets of every state partition; None when the broker has none of the topics yet."""
        present = await client.topics()
        partitions = [TopicPartition(t, p) for t in self.topics if t in present
                      for p in sorted(client.partitions_for_topic(t) or ())]
        if not partitions:
            return {} if self.ends else None
        return await client.end_offsets(partitions)

    def unreachable(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.failed_checks += 1
        if self.reachable:
            self.reachable, self.down_since = False, now
        if now - self.said_at >= SAY_EVERY:
            self.said_at = now
            log.error("broker %s unreachable for %.0f s (%d failed checks, last: %s); /ready answers 503",
                      self.broker, now - (self.down_since or now), self.failed_checks, type(exc).__name__)

    def answered(self, ends: dict[TopicPartition, int] | None) -> None:
        if not self.reachable:
            log.warning("broker %s reachable again after %.0f s", self.broker,
                        time.monotonic() - (self.down_since or time.monotonic()))
            self.reachable, self.down_since, self.failed_checks, self.said_at = True, None, 0, float("-inf")
        if ends is None:
            return
        why = lost_state(self.ends, ends)
        if why is not None:
            self.emptied(why)
            return
        for tp, end in ends.items():
            if end > self.ends.get(tp, -1):
                self.ends[tp] = end


def lost_state(before: dict[TopicPartition, int], now: dict[TopicPartition, int]) -> str | None:
    """Why the broker no longer holds the state it held (`before`), if it does not."""
    for tp, end in sorted(before.items()):
        if end <= 0:
            continue  # nothing was there to lose
        current = now.get(tp)
        if current is None:
            return f"state topic {tp.topic} partition {tp.partition} is gone (it held {end} records)"
        if current < end:
            return (f"state topic {tp.topic} partition {tp.partition} ends at offset {current}, "
                    f"below the {end} seen before")
    return None


def exit_emptied(why: str) -> None:
    """One line and exit status 2: the broker lost this app's state (emptied or replaced)."""
    import os

    print(f"goldrush worker: the broker lost this app's state: {why}. It was emptied or replaced; "
          "restart the worker to start with fresh state (or point it at the broker that has it).",
          file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(2)


class RepeatLimiter(logging.Filter):
    """Lets one record per (logger, message template) through per `every` seconds; the next one
    let through says how many were held back. Folds reconnect storms into a line per interval."""

    def __init__(self, every: float = SAY_EVERY):
        super().__init__()
        self.every = every
        self.seen: dict[tuple[str, str], list] = {}  # → [last let through at, held back since]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name.startswith("goldrush"):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        state = self.seen.get(key)
        if state is None:
            if len(self.seen) > 1000:
                self.seen.clear()
            self.seen[key] = [now, 0]
            return True
        if now - state[0] < self.every:
            state[1] += 1
            return False
        if state[1]:
            record.msg = f"{record.msg} [{state[1]} more like this in the last {now - state[0]:.0f} s]"
        state[0], state[1] = now, 0
        return True
