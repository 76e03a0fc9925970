"""The worker's web views: bound to exactly `--web-host`, none of Faust's own views, any label value
served, and a port in use said in one line (issue 16, items 5, 6 and 8)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from goldrush.kafka.broker import free_port, stop_process
from tests.support.worker import send_raw, start_worker

HOST = "127.0.0.2"  # loopback too on Linux, but not 127.0.0.1: shows which address is bound


def get(host: str, port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def test_web_views_bind_the_given_host_only_and_faust_views_are_off(broker, tmp_path):
    hostile = ["\ud800", "name\nwith \"quotes\"", "n" * 200_000]
    events = [{"name": name, "timestamp": 1_700_000_000 + i, "tenant": "acme", "data": {}}
              for i, name in enumerate(["vsm.ok", *hostile])]
    worker = start_worker(broker.bootstrap, tmp_path, "gr-exposure", "--web-host", HOST,
                          "--loglevel", "info", "--status-every", "1s")
    port = worker.web_port  # type: ignore[attr-defined]
    try:
        wait_until(lambda: get(HOST, port, "/ready")[0] == 200)
        # json.dumps keeps the lone surrogate as the escape \ud800, as a buggy producer writes it
        asyncio.run(send_raw(broker.bootstrap, [json.dumps(e).encode() for e in events]))
        wait_until(lambda: "goldrush_event_rate{" in get(HOST, port, "/metrics")[1])
        # The session's broker holds other tests' events on these topics, which may come first.
        wait_until(lambda: "vsm.ok" in {r["name"] for r in json.loads(get(HOST, port, "/rates")[1])["events"]})
        assert accepts(HOST, port)
        assert not accepts("127.0.0.1", port)  # Faust bound 0.0.0.0 whatever --web-host said
        assert get(HOST, port, "/table/tenant-state/acme/")[0] == 404
        assert get(HOST, port, "/table/")[0] == 404
        assert get(HOST, port, "/router/")[0] == 404
        status, text = get(HOST, port, "/metrics")
        assert status == 200 and "goldrush_event_rate" in text
        assert len(text) < 200_000
        status, body = get(HOST, port, "/rates")
        assert status == 200
        names = {r["name"] for r in json.loads(body)["events"]}
        assert "vsm.ok" in names
        wait_until(lambda: "goldrush.status: status:" in (tmp_path / "gr-exposure.log").read_text(), 30)
    finally:
        stop_process(worker, 20)
    log = (tmp_path / "gr-exposure.log").read_text()
    # --loglevel info: goldrush's lines at info, Faust's and aiokafka's only from warning up
    assert "] goldrush.worker: partitions" in log
    assert not [line for line in log.splitlines() if "[INFO]" in line and "goldrush." not in line], log
    assert "[INFO] goldrush.agents.compat" not in log


def test_a_web_port_in_use_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "goldrush", "worker", "--broker", f"127.0.0.1:{free_port()}",
             "--web-port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"web port {port}" in lines[0] and "in use" in lines[0], done.stderr
