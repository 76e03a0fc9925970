"""The keys of the state tables: one namespace per kind of entry, out of reach of user strings.

The `tenant-state` table holds tenant snapshots, buffered-tenant marks and the pieces of
large snapshots side by side. With a snapshot stored under the bare tenant name, the
tenant `"buffered\\x00ghost"` wrote what read back as the mark of `"ghost"`, and every
later start crashed. Now each key starts with a tag naming its kind, the tag ends at
the first NUL, and what follows is the whole tenant (or, for a piece, a length-prefixed
key), so no tenant name can spell another kind's key or another tenant's.
"""

from __future__ import annotations

from typing import Any

TENANT = "tenant\x00"  # + tenant: its snapshot
MARK = "buffered\x00"  # + tenant: it holds buffered events (agents/quiet_flush.py)
PIECE = "piece\x00"  # + len(key), key, generation, index: a piece of a large snapshot


def tenant_key(tenant: str) -> str:
    return TENANT + tenant


def mark_key(tenant: str) -> str:
    return MARK + tenant


def marked_tenant(key: Any) -> str | None:
    """The tenant a mark's key names, or None for any other key."""
    return key[len(MARK):] if isinstance(key, str) and key.startswith(MARK) else None


def piece_key(key: str, generation: int, index: int) -> str:
    """A piece's key: the length prefix makes `key` unambiguous whatever characters it holds."""
    return f"{PIECE}{len(key)}\x00{key}\x00{generation}\x00{index}"


def legacy_piece_key(key: str, generation: int, index: int) -> str:
    """Pieces written before the tagged key space (read back, never written)."""
    return f"{key}\x00{generation}\x00{index}"
