"""Find the patterns a user means: a `.py` file, a `.json` file or a dotted module."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .dsl import Pattern
from .errors import PatternError

DEFAULT_PATTERNS = "goldrush.patterns"


def _from_module(module: ModuleType) -> list[Pattern]:
    listed = getattr(module, "PATTERNS", None)
    if listed is not None:
        patterns = list(listed)
        bad = [p for p in patterns if not isinstance(p, Pattern)]
        if bad:
            raise PatternError(f"{module.__name__}.PATTERNS holds a non-Pattern: {bad[0]!r}")
        return patterns
    found = [v for k, v in vars(module).items() if isinstance(v, Pattern) and not k.startswith("_")]
    unique = list({id(p): p for p in found}.values())
    if not unique:
        raise PatternError(f"{module.__name__} defines no Pattern objects and no PATTERNS list")
    return unique


def _in_file(exc: Exception, spec: str, path: Path) -> PatternError:
    """A failure while running a user's pattern file, located at its line in that file: the
    traceback would mostly show importlib, and the worker's log would bury it."""
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    if line is None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path.resolve()]
        line = frames[-1].lineno if frames else None
    where = spec if line is None else f"{spec}, line {line}"
    if isinstance(exc, PatternError):
        return PatternError(f"{where}: {exc}")
    return PatternError(f"{where}: {type(exc).__name__}: {exc}")


def load_patterns(spec: str | None = None) -> list[Pattern]:
    """Patterns from a path (`.py`, `.json`) or a dotted module name (default: built-ins)."""
    spec = spec or DEFAULT_PATTERNS
    path = Path(spec)
    if spec.endswith(".json"):
        if not path.exists():
            raise PatternError(f"no such pattern file: {spec}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise PatternError(f"{spec}, line {exc.lineno} column {exc.colno}: not JSON: {exc.msg}") from None
        items = data if isinstance(data, list) else data.get("patterns", [data])
        return [Pattern.from_dict(d) for d in items]
    if spec.endswith(".py"):
        if not path.exists():
            raise PatternError(f"no such pattern file: {spec}")
        name = f"goldrush_user_patterns_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise PatternError(f"cannot import {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise _in_file(exc, spec, path) from exc
        return _from_module(module)
    try:
        module = importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise PatternError(f"cannot import pattern module {spec!r}: {exc}") from None
    return _from_module(module)
