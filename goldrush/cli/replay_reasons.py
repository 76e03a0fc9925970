"""Why patterns matched nothing in a replay: one line each, for the replay summary.

The reason comes from the explainer (`goldrush.explainer`), run over the same input
with only the patterns that matched nothing watched: the engine and its figures are
the replay's own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

from goldrush.dsl import Pattern
from goldrush.explainer import Observer, document, run


def zero_match_reasons(patterns: list[Pattern], input_path: str, lateness: float,
                       names: list[str]) -> dict[str, str]:
    """Pattern name → main reason, for each of `names`, from a second pass over `input_path`."""
    if not names:
        return {}
    obs = Observer(patterns, names, allowed_lateness=lateness)
    rejected = run(obs, input_path, keep=False)
    return reasons_of(obs, rejected)


def reasons_of(obs: Observer, rejected: list[Any]) -> dict[str, str]:
    """Each watched pattern's main reason (after a run)."""
    return {name: document(obs, w, rejected)["main_reason"] for name, w in obs.watches.items()}


class Tee:
    """Lines of a stream, copied to a temporary file, so that a second pass can read stdin again."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.copy = tempfile.NamedTemporaryFile(prefix="goldrush-replay-", suffix=".jsonl")  # noqa: SIM115

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.copy.write(line)
            yield line
        self.copy.flush()

    @property
    def path(self) -> str:
        return self.copy.name

    def close(self) -> None:
        self.copy.close()


__all__ = ["zero_match_reasons", "reasons_of", "Tee"]
