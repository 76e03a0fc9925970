"""What the worker's web server exposes, and where.

Faust binds its web server to `web_bind` (default 0.0.0.0), not to `web_host` (only the
name it prints), and serves its own views: `/table/<table>/<key>/` returned a tenant's full
state, buffered event data included, to anyone who could reach the port. The worker binds
exactly `--web-host`, serves only its own views (`agents/web.py`, `agents/dashboard.py`), and
says in one line when the port cannot be had instead of a 48-line traceback.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from faust.types.settings import Settings

from .compat import WEB_DRIVER as DRIVER  # registers the web server without Faust's views

VIEW_FLAGS = ("web_router_enabled", "web_tables_enabled", "web_stats_enabled", "web_graph_enabled",
              "web_metrics_enabled")


def web_settings(host: str, port: int) -> dict[str, Any]:
    """Faust app settings: bind `host` only, none of Faust's own views."""
    flags = {flag: False for flag in VIEW_FLAGS if hasattr(Settings, flag)}
    return {"web": f"{DRIVER}://", "web_bind": host, "web_host": host, "web_port": port, **flags}


def web_port_problem(host: str, port: int) -> str | None:
    """Why the web server could not listen on (host, port), or None when it can.

    Bound the way aiohttp binds (address reuse on), so a port left in TIME_WAIT is not refused.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"--web-host {host!r} is not an address of this machine ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"web port {port} on {host} is already in use (another worker?): "
                        "choose another with --web-port")
            return f"cannot listen on {host}:{port} for the web views: {exc.strerror or exc}"
    return None
