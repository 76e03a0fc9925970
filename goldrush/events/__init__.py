"""Events: the envelope and its decoder, the codecs, topic names, and the match record.

The layer every other one reads: an `Event` comes in (SEMANTICS §1), a `Match`
goes out (§6). It imports only the DSL's durations and `goldrush.errors`.
"""

from goldrush.events.envelope import (
    DEFAULT_MAX_FUTURE,
    Envelope,
    Event,
    InvalidEvent,
    canonical_json,
    check_values,
    decode,
    parse_timestamp,
)
from goldrush.events.match import Match

__all__ = [
    "Envelope", "Event", "InvalidEvent", "decode", "parse_timestamp", "canonical_json",
    "check_values", "DEFAULT_MAX_FUTURE", "Match",
]
