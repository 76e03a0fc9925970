"""Every private name, subclass and patch of faust-streaming, aiokafka and mode, behind one wall.

Nothing else in the worker touches an underscored name of these packages. Each item
below says why it is needed and which public API is missing; each has a canary in
`tests/unit/test_compat.py` that fails when an upgrade changes what it relies on.
Every access checks first and raises `UpstreamChanged`, naming the upstream attribute:
a silent `getattr` default or an assignment to an attribute that no longer exists
would let the worker run on, quietly wrong.

What used to be here and now goes through public API:
- consumer lag: the offsets Faust hands the streams, recorded by a `faust.Sensor`
  (agents/web.py), not the consumer's `_read_offset`;
- rate reads: `WindowWrapper[key][window range]`, not `Table._windowed_timestamp`;
- the partition of a restored key-stage key: Kafka's default partitioner over the key
  bytes (`aiokafka.partitioner.DefaultPartitioner`, agents/key_expiry.py), not the
  memory store's `_key_partition`;
- the fetch-wait cap is applied only on the embedded broker (agents/worker.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust
import faust.streams
from faust.web.drivers import DRIVERS
from faust.web.drivers.aiohttp import Web
from mode.utils.queues import FlowControlEvent

log = logging.getLogger("goldrush.worker")


class UpstreamChanged(RuntimeError):
    """A private name of faust-streaming, aiokafka or mode that the worker relies on is gone."""


def require(obj: Any, name: str, where: str) -> Any:
    """`obj.name`, or `UpstreamChanged` naming `where.name` (never a default)."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise UpstreamChanged(
            f"{where}.{name} is gone: the installed faust-streaming/aiokafka/mode changed an internal "
            "goldrush relies on (see agents/compat.py and tests/unit/test_compat.py)") from None


def _set_existing(obj: Any, name: str, value: Any, where: str) -> None:
    """Assign an attribute that must already exist (assigning a missing one would do nothing)."""
    require(obj, name, where)
    setattr(obj, name, value)


# --- faust.streams._current_event ------------------------------------------------------------


@contextlib.contextmanager
def current_event(stream_event: Any) -> Iterator[None]:
    """Make `stream_event` Faust's current event for the duration of the block.

    Why: a table write goes to the changelog partition of the *current* stream event
    (and a windowed write takes its timestamp from it). `Stream.take_events` does not
    set it (faust-streaming issue #497), so the worker sets it around its table writes.
    Missing public API: Faust exposes only the reader, `faust.streams.current_event()`;
    the setter is the module's private ContextVar `_current_event`.
    """
    var = require(faust.streams, "_current_event", "faust.streams")
    token = var.set(weakref.ref(stream_event))
    try:
        yield
    finally:
        var.reset(token)


# --- the worker consumer's fetch wait (faust + aiokafka) ---------------------------------------


def cap_fetch_wait(app: faust.App, seconds: float) -> None:
    """Set the running Faust consumer's fetch wait (the next fetch request uses it).

    Why: Faust hard-codes `fetch_max_wait_ms=1500` for its consumer. Apache Kafka answers
    a parked fetch as soon as data arrives, so the wait costs nothing there; the embedded
    tansu broker answers only when the wait runs out. Measured on tansu with a raw aiokafka
    consumer: 480-1,235 ms from send to receipt at 1,500 ms, 11-14 ms at 100 ms. The
    worker has two hops (source → engine-in → outputs), so the wait was most of its
    detection latency. agents/worker.py applies this only when the broker is tansu.
    Missing public API: no Faust setting for the consumer's fetch wait, and aiokafka
    reads it at construction (`AIOKafkaConsumer._fetch_max_wait_ms`, copied into
    `Fetcher._fetch_max_wait_ms` at start). The live aiokafka consumer is reached through
    `Consumer._thread._ensure_consumer()`.
    """
    thread = require(app.consumer, "_thread", "faust.transport.drivers.aiokafka.Consumer")
    ensure = require(thread, "_ensure_consumer", "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread")
    consumer = ensure()
    ms = max(1, int(seconds * 1000))
    _set_existing(consumer, "_fetch_max_wait_ms", ms, "aiokafka.AIOKafkaConsumer")
    fetcher = require(consumer, "_fetcher", "aiokafka.AIOKafkaConsumer")
    _set_existing(fetcher, "_fetch_max_wait_ms", ms, "aiokafka.consumer.fetcher.Fetcher")
    log.info("embedded broker: Faust's consumer waits at most %d ms for a fetch", ms)


# --- the producer's aiokafka client ---------------------------------------------------------


def producer_client(app: faust.App) -> Any:
    """The `AIOKafkaClient` of the producer Faust started (agents/produced_topics.py tracks topics on it).

    Why: aiokafka refreshes metadata only for the topics it tracks, and a topic first
    sent to later makes it drop every untracked one (agents/produced_topics.py).
    Missing public API: Faust's `Producer` keeps its `AIOKafkaProducer` behind
    `_ensure_producer()`; the producer's `client` attribute and `client.add_topic` are
    not in aiokafka's documented API either.
    """
    ensure = require(app.producer, "_ensure_producer", "faust.transport.drivers.aiokafka.Producer")
    client = require(ensure(), "client", "aiokafka.AIOKafkaProducer")
    require(client, "add_topic", "aiokafka.AIOKafkaClient")
    return client


# --- mode.Worker._schedule_shutdown -------------------------------------------------------------


class StopSignalWorker(faust.Worker):
    """A `faust.Worker` that calls `on_stop_signal(signum)` on the first SIGTERM/SIGINT.

    Why: agents/faust_worker.py starts a timer there that exits hard if the graceful stop
    hangs (it does with the broker gone).
    Missing public API: mode's `Worker` handles the signals in `_on_sigterm`/`_on_sigint`,
    which call `_schedule_shutdown(signum)`; it marks the first one in `_signal_stop_time`.
    No public hook runs when a stop signal arrives.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        require(faust.Worker, "_schedule_shutdown", "mode.Worker")
        require(self, "_signal_stop_time", "mode.Worker")

    def on_stop_signal(self, signum: signal.Signals) -> None:
        """The first stop signal arrived (before the graceful stop is scheduled)."""

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not require(self, "_signal_stop_time", "mode.Worker"):
            self.on_stop_signal(signum)
        super()._schedule_shutdown(signum)


# --- faust.App.on_start -------------------------------------------------------------------------

EarlyTask = Callable[[], Awaitable[None]]


class EarlyStartApp(faust.App):
    """A `faust.App` that can start work with the app, before table recovery.

    Why: `@app.task` coroutines start only once every assigned table partition is
    recovered (`App.on_started`). A consumer group of our own joined from there (the
    source consumer, agents/source_consumer.py) waits for Faust's join first, then for
    its own: two group joins of seconds each, one after the other, before a worker is
    ready. Coroutines registered with `early_task` start right after the app's own
    `on_start`, so they can join alongside Faust and hold back only what really needs
    recovered tables.
    Missing public API: no public "start with the app" registration; this overrides
    mode's `Service.on_start` hook (public, but which of Faust's hooks runs before
    recovery is not documented) and uses `add_future`.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._early_tasks: list[EarlyTask] = []
        self._before_stop: list[EarlyTask] = []

    def early_task(self, fun: EarlyTask) -> EarlyTask:
        """Decorator: run `fun` as a future of the app, started with it (and stopped with it)."""
        self._early_tasks.append(fun)
        return fun

    def before_stop(self, fun: EarlyTask) -> EarlyTask:
        """Decorator: await `fun` first thing on a graceful stop, while tables, producer and
        agents still run (a last checkpoint, so that the offsets it covers are committed).
        `App.on_stop` is public and documented as overridable; Faust stops the consumer
        and the tables first thing in it, so there is no later point that still has them."""
        self._before_stop.append(fun)
        return fun

    async def on_stop(self) -> None:
        for fun in self._before_stop:
            try:
                await fun()
            except Exception:  # noqa: BLE001 - the stop goes on; what was not saved is read again
                self.log.exception("before-stop hook %r failed", fun)
        await super().on_stop()

    async def on_start(self) -> None:
        await super().on_start()
        for fun in self._early_tasks:
            self.add_future(fun())


# --- mode FlowControlEvent.resume ---------------------------------------------------------------


def resume_keeps_queued_messages(flow: FlowControlEvent) -> None:
    """Make `flow.resume()` clear the stream queues only when the flow was suspended.

    Why: `app.flow_control.resume()` clears every stream queue, on the theory that what
    they hold was fetched before a rebalance. Faust's recovery calls it several times, the
    last one in `Recovery.on_recovery_completed`, *after* it has resumed the source
    partitions and awaited a seek, so the fetcher has been filling the queues meanwhile.
    Those messages are dropped while the consumer's position has already moved past
    them: a run of source messages is never processed (faust-streaming/faust#596).
    Measured on the SIGKILL-and-restart scenario: 56 queued messages cleared, 1,400
    events of two tenants never evaluated, in 4 of 12 restarts. Rebalances suspend the
    flow, cancel pending deliveries and clear the queues themselves
    (`App._on_partitions_revoked`), so whatever was queued while the flow was running
    belongs to the current assignment and must be kept.
    Missing public API: no option to keep the queues on resume; this replaces the
    instance's `resume` method (a patch of one object, not of the class).
    """
    resume = require(flow, "resume", "mode.utils.queues.FlowControlEvent")
    is_active = require(flow, "is_active", "mode.utils.queues.FlowControlEvent")

    def resume_if_suspended() -> None:
        if not is_active():
            resume()

    flow.resume = resume_if_suspended  # type: ignore[method-assign]


# --- faust.web.drivers.aiohttp.Web: Faust's own views ---------------------------------------------

WEB_DRIVER = "goldrush"  # the `web` setting's scheme: "goldrush://" (agents/web_server.py)


class GoldrushWeb(Web):
    """Faust's aiohttp server with none of Faust's own views.

    Why: Faust's views include `/table/<table>/<key>/`, which returned a tenant's full state,
    buffered event data included, to anyone who could reach the port (agents/web_server.py).
    Missing public API: the `web_*_enabled` settings exist only in the newer releases the worker
    allows; in every one, the views are the class-level blueprint lists emptied here, and a web
    driver is chosen by name from `faust.web.drivers.DRIVERS`, whose `aliases` this adds to.
    """

    default_blueprints = ()  # /router (which worker holds a key) and /table (every table's contents)
    production_blueprints = ()  # {"status": "OK"} at /, where the dashboard is served
    debug_blueprints = ()  # /graph and statistics
    optional_blueprints = ()  # /performance


for _name in ("default_blueprints", "production_blueprints", "debug_blueprints", "optional_blueprints"):
    require(Web, _name, "faust.web.drivers.aiohttp.Web")
require(DRIVERS, "aliases", "faust.web.drivers.DRIVERS")[WEB_DRIVER] = f"{__name__}:GoldrushWeb"
