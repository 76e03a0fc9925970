"""`goldrush explain PATTERNS EVENTS --pattern NAME`: why a pattern did or did not match."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from goldrush.dsl.durations import option_seconds
from goldrush.events.envelope import InvalidEvent
from goldrush.loader import load_patterns


def key_option(text: str) -> tuple[str, str]:
    """`--key source=checkout`: one key field and its value."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--key takes FIELD=VALUE (e.g. source=checkout), got {text!r}")
    return name, value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="why a pattern did (or did not) match on recorded events")
    p.add_argument("patterns", help="a .py/.json pattern file or dotted module (goldrush.patterns for the built-ins)")
    p.add_argument("events", help="JSONL file of events")
    p.add_argument("--pattern", required=True, metavar="NAME", help="the pattern to explain")
    p.add_argument("--tenant", help="only this tenant's events")
    p.add_argument("--key", action="append", type=key_option, default=[], metavar="FIELD=VALUE",
                   help="only this key (repeat for several key fields), e.g. --key source=checkout")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--match", metavar="ID", help="explain this match (its match_id)")
    which.add_argument("--at", metavar="TIME", help="also show each key's clause states at TIME "
                                                    "(epoch seconds or ISO 8601)")
    p.add_argument("--lateness", default="2s", help="allowed lateness, as for replay (default 2s)")
    p.add_argument("--json", action="store_true", help="the structured explanation as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from . import explain

    patterns = load_patterns(args.patterns)
    at = args.at
    if at is not None:
        with contextlib.suppress(ValueError):  # else an ISO 8601 time, parsed by explain
            at = float(at)
    try:
        result = explain(patterns, args.events, pattern=args.pattern, tenant=args.tenant,
                         key=dict(args.key) or None, match=args.match, at=at,
                         allowed_lateness=option_seconds(args.lateness, what="--lateness", allow_zero=True))
    except KeyError as exc:
        print(f"goldrush explain: {exc.args[0]}", file=sys.stderr)
        return 2
    except (OSError, InvalidEvent) as exc:
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(f"goldrush explain: {args.events if isinstance(exc, OSError) else '--at'}: {why}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else result.text())
    return 0
