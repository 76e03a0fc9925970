"""`goldrush demo`: the terminal dashboard (unit) and a Ctrl-C that stops everything cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from rich.console import Console

from goldrush.cli.demo_view import LATEST, DemoState, render
from goldrush.events.topics import ACTIONS, MATCHES
from goldrush.kafka.broker import free_port


def action(i: int, kind: str = "autoscale") -> dict:
    params = {"direction": "scale_out", "target": "auth_service", "from": 3, "to": 4} if kind == "autoscale" else \
        {"signal": "pain", "severity": "high", "description": "too much variety"}
    return {"type": kind, "timestamp": 1767225604.95 + i, "tenant": "tenant-0003",
            "pattern": "response_time_degradation", "params": params}


def screen(state: DemoState, width: int) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(render(state))
    return console.export_text()


def test_the_dashboard_counts_and_shows_the_latest_actions_with_full_times():
    state = DemoState(total_events=20_000, sent=12_000)
    for i in range(1000):  # at any speed the screen keeps its size
        state.record(MATCHES, {"pattern": "response_time_degradation" if i % 3 else "x" * 300})
        state.record(ACTIONS["autoscale"] if i % 2 else ACTIONS["algedonic_alert"],
                     action(i, "autoscale" if i % 2 else "algedonic_alert"))
    state.rates({"events": [{"tenant": "a", "name": "n", "per_second": 2500.0}],
                 "matches": [{"tenant": "a", "pattern": "response_time_degradation", "per_second": 0.5}]})
    wide = screen(state, 160)
    assert "2026-01-01T00:16:43Z" in wide  # the newest action's event time, date included
    assert "12,000/20,000 events sent" in wide and "2,500" in wide
    assert "666" in wide and "334" in wide  # matches per pattern
    assert "autoscale" in wide and "algedonic_alert" in wide
    assert "scale_out auth_service 3→4" in wide and "{" not in wide  # no Python dicts
    assert "x" * 40 not in wide  # a long name is cut, the columns stay
    assert len(wide.splitlines()) == len(screen(DemoState(), 160).splitlines()) + 2 + LATEST - 1
    assert state.summary() == "12,000 events → 1,000 matches, 1,000 actions (algedonic_alert: 500, autoscale: 500)"
    assert max(len(line) for line in screen(state, 80).splitlines()) <= 80


def test_ctrl_c_stops_the_simulator_the_worker_and_the_broker_with_no_error_output(tmp_path):
    """Like a terminal's Ctrl-C: SIGINT to the demo's whole process group, once it simulates."""
    web_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "goldrush", "demo", "--web-port", str(web_port), "--duration", "4h"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "TMPDIR": str(tmp_path)})
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + 180
    while not any("simulating" in line for line in err) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "".join(err)
    broker_port = int(err[0].split("127.0.0.1:")[1].split(";")[0])
    time.sleep(3)  # matches and actions are flowing
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out = proc.stdout.read()  # type: ignore[union-attr]
    proc.wait(timeout=120)
    stopped = time.monotonic() - started
    reader.join(5)
    text = "".join(err)
    print(f"Ctrl-C to exit: {stopped:.2f} s")  # docs/operations.md quotes it; timing decides nothing here
    assert proc.returncode == 130, text
    for bad in ("Traceback", "Error", "exception", "Unable connect", "Task was destroyed"):
        assert bad not in text and bad not in out, text
    assert "interrupted:" in text and "events →" in text
    for port in (broker_port, web_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())  # worker log and data dir removed
