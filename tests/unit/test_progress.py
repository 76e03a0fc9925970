"""The one progress bar of produce, replay and bench (goldrush/progress.py)."""

from __future__ import annotations

import io

from rich.console import Console

from goldrush.progress import count_lines, progress


def test_a_terminal_gets_a_bar_with_counts_and_a_pipe_gets_nothing():
    screen = io.StringIO()
    with progress(10, "replaying", console=Console(file=screen, force_terminal=True, width=100),
                  background=False) as shown:
        for done in range(1, 11):
            shown(done)
    assert "replaying" in screen.getvalue() and "10/10" in screen.getvalue() and "lines" in screen.getvalue()
    pipe = io.StringIO()
    with progress(10, "replaying", console=Console(file=pipe, force_terminal=False)) as shown:
        shown(5)
    assert pipe.getvalue() == ""
    with progress(10, "replaying", enabled=False, console=Console(file=screen, force_terminal=True)) as shown:
        shown(5)


def test_count_lines_counts_a_last_line_without_newline_and_rewinds():
    data = io.BytesIO(b"a\nb\nc")
    assert count_lines(data) == 3 and data.read() == b"a\nb\nc"
    assert count_lines(io.BytesIO(b"")) == 0 and count_lines(io.BytesIO(b"a\n")) == 1
