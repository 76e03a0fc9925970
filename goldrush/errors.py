"""Errors users see: a bad pattern is a `PatternError` that names where it is."""

from __future__ import annotations


class PatternError(ValueError):
    """A pattern cannot be compiled.

    The message always names the pattern and, when known, the clause, so that a
    user with fifty patterns in a file can find the one that is wrong.
    """

    def __init__(self, message: str, *, pattern: str | None = None, clause: str | None = None):
        self.pattern = pattern
        self.clause = clause
        self.reason = message
        where = []
        if pattern is not None:
            where.append(f"pattern {pattern!r}")
        if clause is not None:
            where.append(f"clause {clause}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def located(self, *, pattern: str | None = None, clause: str | None = None) -> PatternError:
        """The same error with the location filled in where it was still unknown."""
        return PatternError(
            self.reason,
            pattern=self.pattern if self.pattern is not None else pattern,
            clause=self.clause if self.clause is not None else clause,
        )
