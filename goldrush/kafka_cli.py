"""`goldrush produce` and `goldrush tail`: the command line at both ends of the topics."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import IO, BinaryIO

from .cli_args import positive_float, positive_int
from .events import InvalidEvent, decode
from .jsonio import BadJSON, dumps, loads
from .topics import DEFAULT_SOURCE, default_broker, resolve


class Progress:
    """A one-line progress bar on stderr, redrawn at most 5× a second.

    It counts input lines (known up front for a file), not events sent; the final line says both.
    """

    def __init__(self, total: int | None, stream: IO[str] = sys.stderr):
        self.total, self.stream, self.last, self.start = total, stream, 0.0, time.monotonic()

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            width = 30
            filled = int(width * done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r[{bar}] {done}/{self.total} lines  {rate:,.0f}/s"
        else:
            text = f"\r{done} lines  {rate:,.0f}/s"
        self.stream.write(text + ("\n" if final else ""))
        self.stream.flush()


def _count_lines(source: BinaryIO) -> int:
    """Lines in a file, for the progress bar, read in blocks; the file is rewound."""
    count, last = 0, b"\n"
    for block in iter(lambda: source.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    source.seek(0)
    return count + (last != b"\n")


async def _produce(args: argparse.Namespace) -> int:
    from .client import EventProducer

    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
        total = _count_lines(source) if source.seekable() and not args.quiet else None  # not for pipes
    except OSError as exc:
        print(f"goldrush produce: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    progress = Progress(total)
    lineno = 0
    rejected = 0
    rejects = open(args.rejected, "w") if args.rejected else None  # noqa: SIM115
    try:
        async with EventProducer(args.broker, topic=args.topic, batch=args.batch) as producer:
            for lineno, line in enumerate(source, 1):  # streamed: a recorded day may not fit in memory
                if not line.strip():
                    continue
                try:
                    await producer.send(decode(loads(line)))
                except (BadJSON, InvalidEvent) as exc:
                    rejected += 1
                    reason = exc.message if isinstance(exc, InvalidEvent) else f"not JSON: {exc}"
                    if rejects:
                        rejects.write(dumps({"line": lineno, "reason": reason,
                                             "input": line.decode("utf-8", "replace")}) + "\n")
                    elif rejected <= 5:
                        print(f"\nline {lineno}: {reason}", file=sys.stderr)
                if not args.quiet:
                    progress.update(lineno)
        sent, messages = producer.sent_events, producer.sent_messages  # after the final flush
    finally:
        if rejects:
            rejects.close()
        if source is not sys.stdin.buffer:
            source.close()
    if not args.quiet:
        progress.update(lineno, final=True)
    print(f"sent {sent} events in {messages} messages to {args.topic} "
          f"at {args.broker}; rejected {rejected}", file=sys.stderr)
    return 0 if rejected == 0 else 1


async def _tail(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    from .client import started

    topics = resolve(args.topic or ["matches", "actions"])
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=args.broker,
                                auto_offset_reset="latest" if args.follow_new else "earliest")
    await started(consumer)
    seen = 0
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        while args.max is None or seen < args.max:
            wait_ms = 500 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if deadline is not None and wait_ms == 0:
                break
            batch = await consumer.getmany(timeout_ms=min(wait_ms, 500))
            for tp, records in batch.items():
                for r in records:
                    print(r.value.decode("utf-8", "replace") if args.json else _pretty(tp.topic, r.value), flush=True)
                    seen += 1
                    if args.max is not None and seen >= args.max:
                        return 0
    finally:
        await consumer.stop()
    return 0


def _pretty(topic: str, value: bytes) -> str:
    try:
        d = loads(value)
    except BadJSON:
        return f"{topic}  {value[:200]!r}"
    if not isinstance(d, dict):
        return f"{topic}  {d}"
    when = time.strftime("%H:%M:%S", time.gmtime(d["timestamp"])) if isinstance(d.get("timestamp"), int | float) else ""
    if "action_id" in d:
        p = d.get("params", {})
        detail = {"autoscale": lambda: f"{p.get('direction')} {p.get('target')} {p.get('from')}→{p.get('to')}",
                  "algedonic_alert": lambda: f"{p.get('signal')}/{p.get('severity')} {p.get('description')}",
                  "coordination_adjustment": lambda: f"{p.get('strategy')} ×{p.get('factor')}"}.get(
            d.get("type"), lambda: "")()
        return f"{when} ACTION {d.get('type'):<24} {d.get('tenant')}  {d.get('pattern')}  {detail}"
    if "match_id" in d:
        return f"{when} MATCH  {d.get('pattern'):<24} {d.get('tenant')}  key={d.get('key')}"
    if "reason" in d:
        return f"DEAD   {d.get('reason')}  ({d.get('topic')}/{d.get('partition')}@{d.get('offset')})"
    return f"{topic}  {dumps(d)[:200]}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="send events from a JSONL file to Kafka")
    p.add_argument("file", help="JSONL file of events, or - for stdin")
    p.add_argument("--topic", default=DEFAULT_SOURCE, help=f"(default {DEFAULT_SOURCE})")
    p.add_argument("--batch", type=positive_int, default=1, help="events per Kafka message (a JSON array when > 1)")
    p.add_argument("--broker", default=default_broker(), help="bootstrap server (env GOLDRUSH_BROKER)")
    p.add_argument("--rejected", metavar="FILE", help="write lines that are not events here (JSONL)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=lambda a: asyncio.run(_produce(a)))

    p = sub.add_parser("tail", help="consume and print matches, actions, dead letters …")
    p.add_argument("--topic", action="append",
                   help="matches, actions, autoscale, algedonic, coordination, deadletter, late, or a topic "
                        "name; repeatable (default: matches and actions)")
    p.add_argument("--json", action="store_true", help="print the raw JSON records (JSONL)")
    p.add_argument("--max", type=positive_int, help="stop after N records")
    p.add_argument("--timeout", type=positive_float, help="stop after S seconds")
    p.add_argument("--follow-new", action="store_true", help="only records published from now on")
    p.add_argument("--broker", default=default_broker(), help="bootstrap server (env GOLDRUSH_BROKER)")
    p.set_defaults(handler=lambda a: asyncio.run(_tail(a)))
