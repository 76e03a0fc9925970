"""`goldrush produce` and `goldrush tail`: the command line at both ends of the topics."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from goldrush.actions.text import action_detail, clip, iso_time, key_text
from goldrush.cli.args import positive_float, positive_int
from goldrush.cli.rejects import exit_status, rejected_line
from goldrush.events.codec import BadJSON, dumps, loads
from goldrush.events.envelope import InvalidEvent, decode
from goldrush.events.topics import DEFAULT_SOURCE, LATE, default_broker, resolve
from goldrush.progress import count_lines, progress


async def _produce(args: argparse.Namespace) -> int:
    from goldrush.kafka.client import EventProducer

    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
        total = count_lines(source) if source.seekable() and not args.quiet else None  # not for pipes
    except OSError as exc:
        print(f"goldrush produce: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    lineno = 0
    rejected = 0
    rejects = open(args.rejected, "w") if args.rejected else None  # noqa: SIM115
    try:
        with progress(total, f"producing to {args.topic}", enabled=not args.quiet) as shown:
            async with EventProducer(args.broker, topic=args.topic, batch=args.batch) as producer:
                for lineno, line in enumerate(source, 1):  # streamed: a recorded day may not fit in memory
                    if lineno % 1000 == 0:
                        shown(lineno)
                    if not line.strip():
                        continue
                    try:
                        await producer.send(decode(loads(line), None, True))
                    except (BadJSON, InvalidEvent) as exc:
                        rejected += 1
                        record = rejected_line(lineno, exc, line)
                        if rejects:
                            rejects.write(dumps(record) + "\n")
                        elif rejected <= 5:
                            print(f"line {lineno}: {record['reason']}", file=sys.stderr)
            shown(lineno)
        sent, messages = producer.sent_events, producer.sent_messages  # after the final flush
    finally:
        if rejects:
            rejects.close()
        if source is not sys.stdin.buffer:
            source.close()
    print(f"sent {sent} events in {messages} messages to {args.topic} "
          f"at {args.broker}; rejected {rejected}", file=sys.stderr)
    return exit_status(rejected)


async def _tail(args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer

    from goldrush.kafka.client import NewOnly, started

    topics = resolve(args.topic or ["matches", "actions"])
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=args.broker,
                                auto_offset_reset="latest" if args.follow_new else "earliest")
    await started(consumer)
    seen = 0
    new_only = NewOnly() if args.follow_new else None
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        while args.max is None or seen < args.max:
            wait_ms = 500 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if deadline is not None and wait_ms == 0:
                break
            batch = await consumer.getmany(timeout_ms=min(wait_ms, 500))
            for tp, records in batch.items():
                for r in records:
                    if new_only is not None and new_only.old(tp.topic, tp.partition, r.timestamp):
                        continue
                    print(r.value.decode("utf-8", "replace") if args.json else _pretty(tp.topic, r.value), flush=True)
                    seen += 1
                    if args.max is not None and seen >= args.max:
                        return 0
    finally:
        await consumer.stop()
    return 0


def _pretty(topic: str, value: bytes) -> str:
    """One line per record: kind, event time (ISO 8601, UTC), tenant, what it is."""
    try:
        d = loads(value)
    except BadJSON:
        return f"{topic}  {value[:200]!r}"
    if not isinstance(d, dict):
        return f"{topic}  {d}"
    when = iso_time(d.get("timestamp"))
    if "action_id" in d:
        return (f"{when:<24} ACTION {clip(d.get('type'), 23):<23} {clip(d.get('tenant'), 20):<20} "
                f"{clip(d.get('pattern'), 32)}  {action_detail(d)}")
    if "match_id" in d:
        return (f"{when:<24} MATCH  {clip(d.get('pattern'), 32):<32} {clip(d.get('tenant'), 20):<20} "
                f"{key_text(d.get('key'))}")
    if isinstance(d.get("event"), dict) or (topic == LATE and "name" in d):
        ev = d["event"] if isinstance(d.get("event"), dict) else d
        return (f"{iso_time(ev.get('timestamp')):<24} LATE   {clip(ev.get('name'), 32):<32} "
                f"{clip(ev.get('tenant'), 20):<20} id={ev.get('id')}  ({d.get('reason')})")
    if "reason" in d:
        where = d.get("topic")
        origin = f"  ({where}/{d.get('partition')}@{d.get('offset')})" if where is not None else ""
        return f"{'':<24} DEAD   {d.get('code') or '':<16} {d.get('reason')}{origin}"
    return f"{topic}  {dumps(d)[:200]}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="send events from a JSONL file to Kafka")
    p.add_argument("file", help="JSONL file of events, or - for stdin")
    p.add_argument("--topic", default=DEFAULT_SOURCE, help="source topic to send to")
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
