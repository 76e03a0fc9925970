"""`goldrush patterns push|list|diff|remove|history`: the pattern set in the goldrush.patterns topic,
which workers started without `--patterns` follow (goldrush/kafka/pattern_store.py)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from goldrush.events.topics import default_broker


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_diff(diff: dict[str, list[str]], unchanged: bool = True) -> None:
    labels = {"added": "+ added", "removed": "- removed", "edited": "~ edited (state starts fresh)",
              "retuned": "~ cooldown/actions/description (state kept)", "unchanged": "  unchanged (state kept)"}
    for kind, label in labels.items():
        if kind == "unchanged" and not unchanged:
            if diff[kind]:
                print(f"  {len(diff[kind])} unchanged (state kept)")
            continue
        for name in diff[kind]:
            print(f"{label}: {name}")


async def _run(args: argparse.Namespace) -> int:
    from goldrush.kafka.pattern_store import PatternStore

    async with PatternStore(args.broker) as store:
        if args.action == "push":
            before = await store.list()
            record = await store.push(args.file, args.message or "", check=not args.no_check)
            print(f"pushed version {record['version']} ({len(record['patterns'])} patterns) at "
                  f"{_when(record['time'])}: {record['message'] or '(no message)'}", file=sys.stderr)
            if before and not args.no_check:
                from goldrush.compiler.pattern_sets import diff_sets
                from goldrush.dsl import Pattern

                _print_diff(diff_sets(before, [Pattern.from_dict(d) for d in record["patterns"]]), unchanged=False)
            return 0
        if args.action == "remove":
            record = await store.remove(args.name, args.message)
            print(f"pushed version {record['version']} without {args.name!r}", file=sys.stderr)
            return 0
        if args.action == "diff":
            diff = await store.diff(args.file)
            if args.json:
                print(json.dumps(diff, indent=2))
            else:
                _print_diff(diff)
            return 1 if diff["added"] or diff["removed"] or diff["edited"] or diff["retuned"] else 0
        if args.action == "list":
            current = await store.current()
            rejected = await store.rejected()
            if args.json:
                print(json.dumps({"current": current, "rejected": rejected}, indent=2))
                return 0
            if current is None:
                print("no pattern set pushed yet (workers following the topic run the built-ins)")
            else:
                print(f"version {current['version']}, pushed {_when(current['time'])}: "
                      f"{current['message'] or '(no message)'}")
                for d in current["patterns"]:
                    print(f"  {d['name']}  key_by {','.join(d.get('key_by', ['tenant']))}")
            _print_rejected(rejected, since=0 if current is None else current["version"])
            return 0
        history = await store.history()
        if args.json:
            print(json.dumps(history, indent=2))
            return 0
        rejected = {r["version"]: r for r in history["rejected"]}
        switches: dict[int, int] = {}
        for s in history["switches"]:
            switches[s["version"]] = switches.get(s["version"], 0) + 1
        for v in history["versions"]:
            status = (f"REJECTED: {rejected[v['version']]['error']}" if v["version"] in rejected
                      else f"{switches.get(v['version'], 0)} tenants switched")
            print(f"version {v['version']}  {_when(v['time'])}  {len(v['patterns'])} patterns  "
                  f"{v['message'] or '(no message)'}  [{status}]")
        return 0


def _print_rejected(rejected: list[dict[str, Any]], since: int) -> None:
    for r in rejected:
        if r["version"] >= since:
            print(f"version {r['version']} REJECTED by the workers ({r.get('worker') or '?'}): {r['error']}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("patterns", help="change the pattern set of running workers (the goldrush.patterns topic)")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    broker = {"default": default_broker(), "help": "bootstrap server (env GOLDRUSH_BROKER)"}
    a = actions.add_parser("push", help="record a .py/.json pattern file as the next version")
    a.add_argument("file", help="a .py or .json pattern file (or a dotted module)")
    a.add_argument("-m", "--message", help="why (shown by `history`)")
    a.add_argument("--no-check", action="store_true",
                   help="push without compiling here (the workers still refuse a set that does not compile)")
    a = actions.add_parser("list", help="the current version's patterns and the rejected versions")
    a.add_argument("--json", action="store_true", help="the current version's record and the rejections, as JSON")
    a = actions.add_parser("diff", help="what pushing FILE would change (exit 1 if anything)")
    a.add_argument("file", help="a .py or .json pattern file (or a dotted module)")
    a.add_argument("--json", action="store_true", help="added/removed/edited/retuned/unchanged names as JSON")
    a = actions.add_parser("remove", help="push a new version without the pattern NAME")
    a.add_argument("name", help="the pattern to remove")
    a.add_argument("-m", "--message", help="why (default: \"remove NAME\")")
    a = actions.add_parser("history", help="every version, when and why; --json is what `replay "
                                           "--pattern-history` takes")
    a.add_argument("--json", action="store_true",
                   help="versions with their patterns, per-tenant switches and rejections, as JSON")
    for a in actions.choices.values():
        a.add_argument("--broker", **broker)
        a.set_defaults(handler=lambda args: asyncio.run(_run(args)))
