"""Events on the worker's internal topics: positional rows, rebuilt without validating again.

The ingest agent has validated every event before it forwards it, so the stages
only need the fields back. A row `[name, timestamp, source, subsystem, id, data]`
(the tenant travels once per message, as its key) packs and unpacks in about
half the time of the envelope dict, whose six key strings would otherwise be
written and read again for every event at every hop. Envelope dicts, which
earlier versions forwarded, are still read (and validated) as such.
"""

from __future__ import annotations

from typing import Any

from .events import DERIVED, Event, decode


def to_row(ev: Event) -> list[Any]:
    """The event without its tenant; the id is fixed here (derived once, at ingest, if absent).
    A derived id travels as `[id]`: only ids the input carried are de-duplicated (goldrush/reorder.py)."""
    event_id = ev.id
    return [ev.name, ev.timestamp, ev.source, ev.subsystem, event_id if ev._raw is None else [event_id], ev.data]


def from_row(tenant: str, row: list[Any] | dict[str, Any]) -> Event:
    """The event `to_row` wrote, for `tenant`; an envelope dict is decoded as input."""
    if type(row) is dict:
        return decode(row)
    name, timestamp, source, subsystem, event_id, data = row
    if type(event_id) is list:
        return Event(name, timestamp, tenant, source, subsystem, data, event_id[0], DERIVED)
    return Event(name, timestamp, tenant, source, subsystem, data, event_id)
