"""One kind of progress bar for produce, replay and bench (`rich`), on stderr.

Shown only on a terminal: a log file or a pipe gets the command's summary line, not
hundreds of redraws. Benchmarks draw only between timed rounds (no refresh thread, whose
CPU time `time.process_time` would count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def progress(total: int | None, what: str, unit: str = "lines", *, enabled: bool = True,
             background: bool = True, console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """Yields `update(done)`; `total` None when unknown (stdin). `background=False`: redraw on update only."""
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda done: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, auto_refresh=background, refresh_per_second=5) as bar:
        task = bar.add_task(what, total=total, rate="")

        def update(done: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f}/s" if elapsed > 0 else ""
            bar.update(task, completed=done, rate=rate, refresh=not background)

        yield update


def count_lines(source: BinaryIO) -> int:
    """Lines in a file, for the bar's total, read in blocks; the file is rewound."""
    count, last = 0, b"\n"
    for block in iter(lambda: source.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    source.seek(0)
    return count + (last != b"\n")
