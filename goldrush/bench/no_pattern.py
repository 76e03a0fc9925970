"""A pattern set no simulated event is relevant to, for `goldrush bench e2e`'s ceiling row.

With it, a worker still reads, decodes, forwards, reorders and snapshots every
event, but evaluates nothing: what is left is the streaming runtime's own cost,
the most any faster engine could gain.
"""

from goldrush.dsl import Pattern, event, recent

PATTERNS = [Pattern("no_event_is_relevant", recent(event("goldrush.bench.never_sent"), within="1s"))]
