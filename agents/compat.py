"""Private names of faust-streaming used by the worker (placeholder until the compat wall lands)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def current_event(stream_event: Any) -> Iterator[None]:
    """Make `stream_event` Faust's current event: a table write goes to its changelog partition."""
    token = _current_event.set(weakref.ref(stream_event))
    try:
        yield
    finally:
        _current_event.reset(token)
