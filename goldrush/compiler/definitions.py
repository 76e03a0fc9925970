"""Which definition of a pattern a saved state belongs to.

State is saved per pattern name. A user who edits a pattern and restarts keeps
the name, and the changelog still holds the old definition's state: loaded
into the new operators it either does not fit (the worker would fail on every
restore) or fits and means something else (counts of events the new predicate
would not have counted). So a snapshot records each pattern's definition id and
a pattern restored under another definition starts fresh.

The id covers what gives the operators' state its meaning: the clauses (their
serialised form, as in pattern files) and `key_by`. Cooldown and actions are
left out: the cooldown deadline and policy state stay true of the world when
they change. Anything that changes these ids for unchanged patterns (a new
field in a clause's `to_dict`) resets every saved state on upgrade;
`tests/unit/test_definitions.py` pins one id so that this is never by accident.
"""

from __future__ import annotations

import hashlib
import json

from goldrush.dsl import Pattern


def definition_id(pattern: Pattern) -> str:
    """A short, process-independent digest of the parts of `pattern` its saved state depends on."""
    doc = {"key_by": list(pattern.key_by), "clauses": [c.to_dict() for c in pattern.clauses]}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
