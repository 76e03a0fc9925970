"""Canaries for agents/compat.py: each private name, subclass and patch of faust-streaming, aiokafka
and mode the worker relies on, checked on the real upstream classes (no broker), so that an upgrade
that renames or reshapes one fails here, loudly, and not as a quietly wrong worker.

Each canary also checks that the compat accessor raises `UpstreamChanged` naming the upstream
attribute when it is gone (monkeypatched away)."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import signal
import time
from types import SimpleNamespace

import faust
import faust.streams
import faust.web.drivers.aiohttp
import mode
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.consumer.fetcher import Fetcher
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from goldrush.agents import compat
from goldrush.agents.compat import UpstreamChanged
from goldrush.agents.web import ReadOffsets, consumer_lag, read_offsets, window_rates


def make_app(name: str = "compat-canary") -> faust.App:
    return faust.App(name, broker="kafka://127.0.0.1:1", store="memory://")


class StreamEvent:
    """Just what Faust reads of the current event (weakly referenced, as Faust does)."""

    def __init__(self, partition: int):
        self.message = SimpleNamespace(partition=partition, timestamp=1.0, topic="t")


# --- faust.streams._current_event ------------------------------------------------------------


def test_current_event_is_the_contextvar_faust_reads():
    assert isinstance(faust.streams._current_event, contextvars.ContextVar)
    event = StreamEvent(3)
    assert faust.streams.current_event() is None
    with compat.current_event(event):
        assert faust.streams.current_event() is event
        assert faust.current_event() is event
    assert faust.streams.current_event() is None


def test_a_table_write_goes_to_the_current_events_partition():
    """Why the worker sets the current event: a table's changelog partition comes from it."""
    table = make_app().Table("canary", partitions=4)
    for partition in (0, 3):
        with compat.current_event(StreamEvent(partition)):
            assert table.partition_for_key("any key") == partition


def test_current_event_without_the_contextvar_raises(monkeypatch):
    monkeypatch.delattr(faust.streams, "_current_event")
    with pytest.raises(UpstreamChanged, match=r"faust\.streams\._current_event"), \
            compat.current_event(StreamEvent(0)):
        pass


# --- the consumer's fetch wait ----------------------------------------------------------------


def test_faust_still_hard_codes_its_consumers_fetch_wait():
    """If this fails, Faust may have made the wait configurable: use that and drop cap_fetch_wait."""
    assert "fetch_max_wait_ms=1500" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread)
    assert not any("fetch_max_wait" in name or "fetch_wait" in name for name in dir(faust.Settings))


def test_the_fetch_wait_is_where_cap_fetch_wait_writes_it():
    assert faust_aiokafka.Consumer.__annotations__["_thread"] == "AIOKafkaConsumerThread"
    assert callable(faust_aiokafka.AIOKafkaConsumerThread._ensure_consumer)
    assert inspect.signature(Fetcher.__init__).parameters["fetch_max_wait_ms"].default == 500
    fetcher_source = inspect.getsource(Fetcher)
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in fetcher_source
    assert fetcher_source.count("self._fetch_max_wait_ms") >= 2  # stored, then read for each fetch request
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer)

    async def consumer() -> None:
        real = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
        try:
            fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)  # the real one is made at start
            real._fetcher = fetcher
            app = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_ensure_consumer=lambda: real)))
            compat.cap_fetch_wait(app, 0.1)  # type: ignore[arg-type]
            assert real._fetch_max_wait_ms == 100 and fetcher._fetch_max_wait_ms == 100
        finally:
            real._fetcher = None
            await real.stop()

    asyncio.run(consumer())


def test_cap_fetch_wait_refuses_to_write_a_missing_attribute():
    fetcher = SimpleNamespace()  # an aiokafka that renamed _fetch_max_wait_ms
    real = SimpleNamespace(_fetch_max_wait_ms=1500, _fetcher=fetcher)
    app = SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_ensure_consumer=lambda: real)))
    with pytest.raises(UpstreamChanged, match=r"Fetcher\._fetch_max_wait_ms"):
        compat.cap_fetch_wait(app, 0.1)  # type: ignore[arg-type]
    assert not hasattr(fetcher, "_fetch_max_wait_ms")
    with pytest.raises(UpstreamChanged, match=r"Consumer\._thread"):
        compat.cap_fetch_wait(SimpleNamespace(consumer=SimpleNamespace()), 0.1)  # type: ignore[arg-type]


# --- the producer's aiokafka client -----------------------------------------------------------


def test_faust_keeps_its_aiokafka_producer_behind_ensure_producer():
    app = make_app()
    assert callable(app.producer._ensure_producer)
    assert "_producer" in inspect.getsource(faust_aiokafka.Producer._ensure_producer)

    async def producer() -> None:
        real = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
        try:
            assert isinstance(real.client, AIOKafkaClient)
            assert list(inspect.signature(real.client.add_topic).parameters) == ["topic"]
            fake = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: real))
            assert compat.producer_client(fake) is real.client  # type: ignore[arg-type]
        finally:
            await real.stop()

    asyncio.run(producer())


def test_producer_client_without_ensure_producer_raises():
    with pytest.raises(UpstreamChanged, match=r"Producer\._ensure_producer"):
        compat.producer_client(SimpleNamespace(producer=SimpleNamespace()))  # type: ignore[arg-type]
    no_client = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: SimpleNamespace()))
    with pytest.raises(UpstreamChanged, match=r"AIOKafkaProducer\.client"):
        compat.producer_client(no_client)  # type: ignore[arg-type]


# --- mode.Worker._schedule_shutdown -------------------------------------------------------------


def test_mode_worker_schedules_its_stop_in_schedule_shutdown():
    assert list(inspect.signature(faust.Worker._schedule_shutdown).parameters) == ["self", "signal"]
    assert issubclass(faust.Worker, mode.Worker)
    assert "_schedule_shutdown(signal.SIGTERM)" in inspect.getsource(mode.Worker._on_sigterm)
    assert "_schedule_shutdown(signal.SIGINT)" in inspect.getsource(mode.Worker._on_sigint)
    assert faust.Worker._signal_stop_time is None


def test_on_stop_signal_runs_once_on_the_first_signal():
    seen: list[signal.Signals] = []

    class Recording(compat.StopSignalWorker):
        def on_stop_signal(self, signum: signal.Signals) -> None:
            seen.append(signum)

    async def run() -> None:
        worker = Recording(make_app(), quiet=True, loglevel="warning")
        stops: list[signal.Signals] = []

        async def stop_on_signal(signum: signal.Signals) -> None:
            stops.append(signum)

        worker._stop_on_signal = stop_on_signal  # type: ignore[method-assign]
        worker._on_sigterm()
        worker._on_sigterm()
        await asyncio.sleep(0)
        assert seen == [signal.SIGTERM]
        assert stops == [signal.SIGTERM]  # mode's own stop still scheduled, once

    asyncio.run(run())


def test_stop_signal_worker_refuses_a_mode_without_the_hook(monkeypatch):
    monkeypatch.delattr(mode.Worker, "_schedule_shutdown")

    async def build() -> None:
        compat.StopSignalWorker(make_app(), quiet=True, loglevel="warning")

    with pytest.raises(UpstreamChanged, match=r"mode\.Worker\._schedule_shutdown"):
        asyncio.run(build())


# --- faust.App.on_start -------------------------------------------------------------------------


def test_early_tasks_start_with_the_apps_on_start():
    assert inspect.iscoroutinefunction(faust.App.on_start)
    assert inspect.iscoroutinefunction(faust.App.on_started)
    assert callable(faust.App.add_future)
    started: list[str] = []
    app = compat.EarlyStartApp("compat-early", broker="kafka://127.0.0.1:1", store="memory://")

    @app.early_task
    async def early() -> None:
        started.append("early")

    futures: list = []
    app.add_future = lambda coro: futures.append(coro)  # type: ignore[method-assign]

    async def run() -> None:
        await app.on_start()
        for coro in futures:
            await coro

    asyncio.run(run())
    assert started == ["early"]


# --- mode FlowControlEvent.resume ---------------------------------------------------------------


def queue_with_message() -> tuple[FlowControlEvent, FlowControlQueue]:
    flow = FlowControlEvent()
    queue = FlowControlQueue(maxsize=10, flow_control=flow, clear_on_resume=True)
    queue.put_nowait("fetched")
    return flow, queue


def test_upstream_resume_clears_the_queues_even_when_the_flow_runs():
    """The behaviour the patch works around (faust-streaming/faust#596): if this fails, mode
    stopped clearing on a redundant resume and the patch can go."""
    flow, queue = queue_with_message()
    flow.resume()
    queue.put_nowait("fetched while running")
    assert flow.is_active()
    flow.resume()
    assert queue.qsize() == 0


def test_patched_resume_clears_only_after_a_suspend():
    flow, queue = queue_with_message()
    compat.resume_keeps_queued_messages(flow)
    flow.resume()  # suspended → running: cleared, as before
    assert queue.qsize() == 0
    queue.put_nowait("fetched while running")
    flow.resume()  # already running: kept
    assert queue.qsize() == 1
    flow.suspend()
    flow.resume()
    assert queue.qsize() == 0


def test_the_resume_patch_refuses_a_flow_without_is_active():
    flow = SimpleNamespace(resume=lambda: None)
    with pytest.raises(UpstreamChanged, match=r"FlowControlEvent\.is_active"):
        compat.resume_keeps_queued_messages(flow)  # type: ignore[arg-type]


# --- faust.web.drivers.aiohttp.Web: Faust's own views -------------------------------------------


def test_faust_web_views_are_class_level_blueprint_lists_emptied_by_goldrush_web():
    from faust.web.drivers import DRIVERS
    from faust.web.drivers.aiohttp import Web

    assert any(prefix.startswith("/table") for prefix, _ in Web.default_blueprints)  # what must not be served
    assert DRIVERS.by_url(f"{compat.WEB_DRIVER}://") is compat.GoldrushWeb
    app = make_app()
    web = compat.GoldrushWeb(app)
    assert web._enabled_blueprints() == []  # what Faust mounts (faust/web/base.py)
    assert Web(app)._enabled_blueprints() != []


def test_require_names_what_is_gone():
    with pytest.raises(UpstreamChanged, match=r"faust\.web\.drivers\.aiohttp\.Web\.gone_blueprints"):
        compat.require(faust.web.drivers.aiohttp.Web, "gone_blueprints", "faust.web.drivers.aiohttp.Web")


# --- the public replacements (agents/web.py) ----------------------------------------------------


def test_rates_read_through_the_window_set_equal_the_private_by_time_read():
    """`WindowWrapper[key][window range]` (public) gives what `Table._windowed_timestamp` gave."""
    size = 10.0
    wrapper = make_app().Table("rates", default=int, partitions=4).tumbling(
        size, expires=60, key_index=True).relative_to(lambda event: time.time())
    table, now = wrapper.table, time.time()
    counts = {'["t","a"]': (3, 5), '["t","b"]': (0, 4), '["u","c"]': (7, 0)}
    for key, (current, previous) in counts.items():
        for at, n in ((now, current), (now - size, previous), (now - 2 * size, 100)):
            if n:
                table.data[(key, table.window.current(at))] = n
        wrapper.key_index_table.data[key] = 1
    rows = {(t, n): rate for t, n, rate in window_rates(wrapper, size)}
    for key, (current, previous) in counts.items():
        before = time.time()
        old = table._windowed_timestamp(key, before) + table._windowed_timestamp(key, before - size)
        assert old == current + previous
        elapsed = before - (before // size) * size
        tenant, name = key[2:-2].split('","')
        assert rows[tenant, name] == pytest.approx(old / (size + elapsed), rel=0.02)


def test_lag_counts_from_the_offsets_handed_to_the_streams():
    app = make_app()
    sensor = read_offsets(app)
    assert read_offsets(app) is sensor and sensor in list(app.sensors)
    tp = faust.types.TP("engine-in", 0)
    other = faust.types.TP("engine-in", 1)
    app.sensors.on_message_in(tp, 41, SimpleNamespace(time_in=None))  # as Faust's consumer calls it
    consumer = SimpleNamespace(assignment=lambda: {tp, other}, highwater=lambda tp_: 50)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(app), "consumer", property(lambda self: consumer))
        assert list(consumer_lag(app, {"engine-in"})) == [("engine-in", 0, 8)]  # 42..49; 1 not read yet
        sensor.on_rebalance_start(app)
        assert list(consumer_lag(app, {"engine-in"})) == []
    assert isinstance(sensor, ReadOffsets)


# --- faust.Table.send_changelog (public), recorded by agents/faust_app.py DeliveredTable ----------


def test_every_snapshot_table_write_and_delete_is_a_future_to_wait_for():
    """Faust's producer flush can return with table writes still buffered; the publisher waits for
    the futures `send_changelog` returns instead. This fails if Faust stops sending a table's
    changelog through that public method (the writes would no longer be waited for)."""
    from goldrush.agents.faust_app import DeliveredTable, snapshot_table

    async def write() -> None:  # a table write makes a future: inside the worker's event loop
        app = faust.App("delivered-canary", broker="kafka://127.0.0.1:1", store="memory://", Table=DeliveredTable)
        table, rates = snapshot_table(app, "snapshots", 4), app.Table("rates", default=int, partitions=4)
        with compat.current_event(StreamEvent(2)):
            table["a"] = b"x"
            del table["a"]
            rates["k"] += 1
        sent = table.take_sent()
        assert len(sent) == 2 and all(isinstance(f, asyncio.Future) and f.message.partition == 2 for f in sent)
        assert table.take_sent() == [] and rates.sent is None  # only the snapshot tables record

    asyncio.run(write())
