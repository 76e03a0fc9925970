"""Rejected input lines, said the same way by `goldrush replay` and `goldrush produce`.

Both write `{"line", "code", "reason", "input"}` (line numbers from 1) and follow one exit
rule: 0 when every line was an event, 1 when any was rejected (the summary says how many,
the `--rejected` file which), 2 for usage errors. Before, replay wrote `index` and exited 0
even when every line was rejected, while produce wrote `line` and exited 1.
"""

from __future__ import annotations

from typing import Any

from goldrush.events.envelope import InvalidEvent

INPUT_CHARS = 4096  # of a rejected line kept in the file


def rejected_line(lineno: int, exc: Exception, line: bytes) -> dict[str, Any]:
    if isinstance(exc, InvalidEvent):
        code, reason = exc.code, exc.message
    else:
        code, reason = "invalid_json", f"not JSON: {exc}"
    text = line.decode("utf-8", "replace").rstrip("\n")
    return {"line": lineno, "code": code, "reason": reason, "input": text[:INPUT_CHARS]}


def exit_status(rejected: int) -> int:
    return 1 if rejected else 0


def replay_rejected(record: dict[str, Any]) -> dict[str, Any]:
    """A replay rejection (`Rejected.to_dict()`, whose `index` is the line number) in the file's form."""
    out = {"line": record["index"]}
    out.update((k, v) for k, v in record.items() if k != "index")
    return out
