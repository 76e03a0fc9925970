"""The protocol every operator follows, and the table the compiler builds operators from.

An operator is built once per clause of a pattern; its per-key state is a plain
container the engine holds, expires, snapshots and restores without knowing the
operator. Built-in operators register a builder per clause `op` with `builds`; a
plug-in clause (the `anomaly` clause) builds its operator with its own `compile`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Operator(Protocol):
    """What the compiler and the engine call on an operator (SEMANTICS §5)."""

    slot: int  # the clause's index in its pattern
    cost: int  # evaluation order: cheaper operators are asked first whether they hold
    # (optional) `instantaneous = True`: fires at an event (`sequence`, at most one per pattern);
    # without it an operator is durative and holds over intervals of time

    def plan(self, spec_hit: set[int], metric_hit: set[int]) -> tuple[bool, Operator | None]:
        """For an event name whose predicates `spec_hit` and metrics `metric_hit` can hold:
        (the name makes the pattern relevant, the operator to update for such events, or None)."""

    def new_state(self) -> Any: ...

    def update(self, st: Any, t: float, vals: list, samples: list, ev: Any = None) -> None:
        """Take in an event relevant to the operator (`vals`: predicate verdicts, `samples`: metric values)."""

    def expire(self, st: Any, t: float) -> None: ...

    def holds(self, st: Any, t: float) -> bool: ...

    def is_empty(self, st: Any) -> bool: ...

    def dump(self, st: Any) -> Any: ...

    def load(self, data: Any) -> Any: ...


#: clause op → builder(clause, slot, compiled_set) → operator; the compiled set gives
#: predicate and metric ids (`add_spec`, `add_metric`)
BUILDERS: dict[str, Callable[[Any, int, Any], Operator]] = {}


def builds(op: str) -> Callable[[Callable[[Any, int, Any], Operator]], Callable[[Any, int, Any], Operator]]:
    """Register the builder of the operator for clauses of kind `op`."""
    def register(builder: Callable[[Any, int, Any], Operator]) -> Callable[[Any, int, Any], Operator]:
        BUILDERS[op] = builder
        return builder
    return register
