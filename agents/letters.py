"""Dead letters for what fails after decoding: an event whose evaluation raised, a record
that could not be published. Each failure stays with its record; the batch goes on.
"""

from __future__ import annotations

import hashlib
from typing import Any

from goldrush.events.codec import bounded_original, dumps_bytes_safe
from goldrush.events.envelope import Event


def evaluation_letter(ev: Event, error: str) -> tuple[bytes, bytes]:
    """(key, value) of the dead letter for an event whose evaluation raised."""
    body = {"reason": f"evaluating the event failed: {error}", "code": "evaluation_failed",
            "tenant": ev.tenant}
    body.update(bounded_original(dumps_bytes_safe(ev.to_dict())))
    return ev.tenant.encode(), dumps_bytes_safe(body)


def unpublishable_letter(kind: str, tenant: str, record: Any, error: BaseException) -> tuple[bytes, bytes]:
    """(key, value) of the dead letter for a match, action or late event that could not be published."""
    body = {"reason": f"the {kind} could not be published: {type(error).__name__}: {error}"[:500],
            "code": "unpublishable", "kind": kind, "tenant": tenant}
    body.update(bounded_original(dumps_bytes_safe(record)))
    return tenant.encode(), dumps_bytes_safe(body)


def letter_key(key: bytes | None) -> bytes | None:
    """A source message's key for its dead letter: as it is, or a digest of a huge one."""
    if key is None or len(key) <= 1024:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode()


def late_record(ev: Event) -> dict[str, Any]:
    return {"reason": "below the tenant's watermark", "event": ev.to_dict()}


def unreadable_letter(message: Any, key: Any, value: bytes | None, error: BaseException) -> tuple[bytes | None, bytes]:
    """(key, value) of the dead letter for an internal message a stage could not read."""
    body = {"reason": f"internal message could not be read: {type(error).__name__}: {error}"[:500],
            "code": "unreadable_internal", "topic": message.topic, "partition": message.partition,
            "offset": message.offset}
    body.update(bounded_original(value or b""))
    return letter_key(key if isinstance(key, bytes) else None), dumps_bytes_safe(body)
