"""Short human text for match, action, late and dead-letter records.

One wording for `goldrush tail`, the demo's terminal dashboard and the web dashboard:
full ISO 8601 times (UTC) — HH:MM:SS alone jumped back and forth across tenants and days —
and keys as `field=value`, not Python dicts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def iso_time(value: Any, timespec: str = "milliseconds") -> str:
    """Epoch seconds as `2026-01-01T00:00:04.950Z` (UTC; `timespec` as for `isoformat`); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "" if value is None else str(value)
    try:
        stamp = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return str(value)
    return stamp.isoformat(timespec=timespec).replace("+00:00", "Z")


def key_text(key: Any) -> str:
    """`service=db, region=eu` (the tenant left out: it has its own column)."""
    if not isinstance(key, dict):
        return "" if key is None else str(key)
    return ", ".join(f"{k}={v}" for k, v in key.items() if k != "tenant")


def action_detail(record: dict[str, Any]) -> str:
    """What an action asks for, in a few words."""
    p = record.get("params") or {}
    kind = record.get("type")
    if kind == "autoscale":
        return f"{p.get('direction')} {p.get('target')} {p.get('from')}→{p.get('to')}"
    if kind == "algedonic_alert":
        return f"{p.get('signal')}/{p.get('severity')}: {p.get('description')}"
    if kind == "coordination_adjustment":
        return f"{p.get('strategy')} ×{p.get('factor')}"
    return ""


def clip(text: Any, width: int) -> str:
    """At most `width` characters, so that a long name never breaks a column."""
    s = str(text)
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"
