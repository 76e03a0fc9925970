"""A `faust.App` that can start work with the app, before table recovery, and finish work before it stops.

`@app.task` coroutines start only once every assigned table partition is
recovered (`App.on_started`). A consumer group of our own joined from there
(the source consumer, agents/source_consumer.py) waits for Faust's join first,
then for its own: two group joins of seconds each, one after the other, before a
worker is ready. Coroutines registered with `early_task` start right after the
app's own `on_start`, so they can join alongside Faust and hold back only what
really needs recovered tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust

EarlyTask = Callable[[], Awaitable[None]]


class EarlyStartApp(faust.App):
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
        agents still run (e.g. a last checkpoint, so that the acked offsets are committed)."""
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
