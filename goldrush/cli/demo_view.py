"""The demo's terminal dashboard: what the demo saw so far, drawn with `rich`.

The demo used to print every match and action (about 40 lines a second, mostly one pattern
with no cooldown); this keeps counters per pattern and per action type, the latest actions
with full timestamps, and live rates in a fixed-size screen that stays readable at any speed.
`DemoState` is plain data; `render` draws it (no I/O), so both are tested without a terminal.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from goldrush.actions.text import action_detail, clip, iso_time
from goldrush.events.topics import MATCHES

LATEST = 8  # actions shown
NAME = 34  # widest pattern name shown
COLOURS = {"autoscale": "cyan", "algedonic_alert": "red", "coordination_adjustment": "magenta"}


@dataclass
class DemoState:
    """What the demo's consumer and rate poller have seen."""

    total_events: int = 0
    sent: int = 0
    started: float = field(default_factory=time.monotonic)
    matches: Counter = field(default_factory=Counter)  # pattern → n
    actions: Counter = field(default_factory=Counter)  # type → n
    latest: deque = field(default_factory=lambda: deque(maxlen=LATEST))  # newest first
    events_per_second: float | None = None  # from the worker's /rates
    matches_per_minute: Counter = field(default_factory=Counter)  # pattern → per minute, from /rates
    phase: str = "starting"

    def record(self, topic: str, doc: Any) -> None:
        """One record read from the matches or an action topic."""
        if not isinstance(doc, dict):
            return
        if topic == MATCHES:
            self.matches[str(doc.get("pattern"))] += 1
            return
        self.actions[str(doc.get("type"))] += 1
        self.latest.appendleft(doc)

    def rates(self, doc: dict[str, Any]) -> None:
        """The worker's `/rates` document."""
        self.events_per_second = sum(e["per_second"] for e in doc.get("events", []))
        self.matches_per_minute = Counter()
        for m in doc.get("matches", []):
            self.matches_per_minute[m["pattern"]] += 60 * m["per_second"]

    def summary(self) -> str:
        kinds = ", ".join(f"{t}: {n}" for t, n in sorted(self.actions.items()))
        return (f"{self.sent:,} events → {sum(self.matches.values()):,} matches, "
                f"{sum(self.actions.values()):,} actions" + (f" ({kinds})" if kinds else ""))


def _header(state: DemoState) -> Text:
    elapsed = time.monotonic() - state.started
    done = f"{state.sent:,}/{state.total_events:,} events sent" if state.total_events else "…"
    rate = "–" if state.events_per_second is None else f"{state.events_per_second:,.0f}"
    text = Text.assemble(("goldrush demo", "bold yellow"), "  ", (state.phase, "green"), "  ", done,
                         "  ", ("events/s in the worker: ", "dim"), (rate, "bold"),
                         "  ", (f"{elapsed:,.0f} s", "dim"))
    return text


def _patterns(state: DemoState) -> Table:
    table = Table(title="matches by pattern", expand=True, title_style="bold")
    table.add_column("pattern", no_wrap=True, max_width=NAME)
    table.add_column("total", justify="right")
    table.add_column("/min", justify="right")
    for pattern, n in state.matches.most_common():
        table.add_row(clip(pattern, NAME), f"{n:,}", f"{state.matches_per_minute.get(pattern, 0.0):,.0f}")
    if not state.matches:
        table.add_row(Text("none yet", style="dim"), "", "")
    return table


def _actions(state: DemoState) -> Table:
    table = Table(title="actions by type", expand=True, title_style="bold")
    table.add_column("type", no_wrap=True)
    table.add_column("total", justify="right")
    for kind, n in state.actions.most_common():
        table.add_row(Text(kind, style=COLOURS.get(kind, "")), f"{n:,}")
    if not state.actions:
        table.add_row(Text("none yet", style="dim"), "")
    return table


def _latest(state: DemoState) -> Table:
    table = Table(title=f"latest {LATEST} actions (event time, UTC)", expand=True, title_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("event time", no_wrap=True, min_width=20)
    table.add_column("tenant", no_wrap=True, min_width=11, max_width=16)
    table.add_column("pattern", no_wrap=True, min_width=16, ratio=1)
    table.add_column("action", no_wrap=True, ratio=1)
    for doc in state.latest:
        kind = str(doc.get("type"))
        table.add_row(iso_time(doc.get("timestamp"), "seconds"), clip(doc.get("tenant"), 16),
                      clip(doc.get("pattern"), NAME), Text(clip(action_detail(doc), 80), style=COLOURS.get(kind, "")))
    return table


def render(state: DemoState) -> Panel:
    """The whole screen: header, counters side by side, the latest actions."""
    counters = Table.grid(expand=True, padding=(0, 2))
    counters.add_column(ratio=3)
    counters.add_column(ratio=2)
    counters.add_row(_patterns(state), _actions(state))
    return Panel(Group(_header(state), counters, _latest(state)), border_style="yellow",
                 subtitle="Ctrl-C stops the simulator, the worker and the broker")
