"""`goldrush check`'s catalogue warnings and `goldrush schema events`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from goldrush.catalogue import VSM_CATALOGUE, Catalogue
from goldrush.dsl import Pattern
from goldrush.engine.replay import read_jsonl
from goldrush.errors import PatternError
from goldrush.explainer.checks import Finding, check_patterns


def sample_catalogue(path: str) -> Catalogue:
    """The catalogue of what a JSONL sample of events carries (lines that are not events are skipped)."""
    try:
        with open(path, "rb") as f:
            return Catalogue.from_events(obj for _, obj in read_jsonl(f, _skip))
    except OSError as exc:
        raise PatternError(f"cannot read the event sample {path}: {exc.strerror}") from None


def _skip(rejected: object) -> None:
    """A sample's lines that are not events are left out of its catalogue."""


def findings_for(patterns: list[Pattern], events: str | None) -> list[Finding]:
    return check_patterns(patterns, VSM_CATALOGUE if events is None else sample_catalogue(events))


def print_findings(findings: list[Finding], strict: bool) -> int:
    """Warnings to stderr; with `strict`, exit status 2 when there are any."""
    label = "error" if strict else "warning"
    for f in findings:
        print(f"{label}: {f}", file=sys.stderr)
    if findings:
        print(f"{len(findings)} {label}{'s' if len(findings) != 1 else ''}"
              + ("" if strict else " (a worker still runs these patterns; --strict makes them errors)"),
              file=sys.stderr)
    return 2 if strict and findings else 0


def startup_warnings(patterns: list[Pattern], shown: int = 5) -> list[str]:
    """What a worker prints at start: the catalogue findings, which never stop it."""
    findings = check_patterns(patterns)
    if not findings:
        return []
    lines = [f"{len(findings)} catalogue warning{'s' if len(findings) != 1 else ''} about the patterns "
             "(the worker runs them anyway; `goldrush check PATTERNS` lists them all, --strict fails on them):"]
    lines += [f"  {f}" for f in findings[:shown]]
    if len(findings) > shown:
        lines.append(f"  … and {len(findings) - shown} more")
    return lines


def add_check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--events", metavar="SAMPLE.jsonl",
                   help="check names and fields against this sample of events instead of the VSM catalogue")
    p.add_argument("--strict", action="store_true", help="catalogue warnings are errors (exit status 2)")


def schema_events(as_json: bool) -> str:
    """The catalogue, as text for people or as JSON (with the envelope's JSON Schema) for tools."""
    if not as_json:
        return VSM_CATALOGUE.render()
    from goldrush.events.schema import event_input_schema

    doc: dict[str, Any] = {"envelope": event_input_schema(), "catalogue": VSM_CATALOGUE.to_dict()}
    return json.dumps(doc, indent=2)
