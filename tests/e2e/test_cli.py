"""`goldrush replay` and `goldrush check` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from goldrush.cli.main import main


def write_jsonl(path, items):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))


def test_replay_prints_matches_and_a_summary(tmp_path, capsys):
    V = "vsm_core.variety.calculated"
    inp = tmp_path / "events.jsonl"
    write_jsonl(inp, [{"name": V, "timestamp": t, "data": {"input_variety": 9, "output_variety": 1}}
                      for t in (0, 10, 20)] + ["{not json", [1], {"name": "x", "timestamp": -100}])
    rejected = tmp_path / "rejected.jsonl"
    assert main(["replay", "goldrush.patterns", str(inp), "--lateness", "5s", "--rejected", str(rejected)]) == 1
    out, err = capsys.readouterr()
    matches = [json.loads(line) for line in out.splitlines()]
    assert [m["pattern"] for m in matches] == ["variety_imbalance"]
    assert set(matches[0]) == {"pattern", "tenant", "key", "timestamp", "event_ids", "match_id"}
    assert "events read: 6" in err and "invalid_json: 1" in err and "not_object: 1" in err
    assert "late: 1" in err and "variety_imbalance: 1" in err
    dead = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(d["line"], d["code"]) for d in dead] == [(4, "invalid_json"), (5, "not_object")]


def test_replay_with_one_argument_uses_the_builtins_and_writes_out(tmp_path, capsys):
    inp, out = tmp_path / "e.jsonl", tmp_path / "m.jsonl"
    write_jsonl(inp, [{"name": "vsm_core.system2.coordination", "timestamp": i,
                       "data": {"action": "adjust", "adjustment_magnitude": i}} for i in range(12)])
    assert main(["replay", str(inp), "--out", str(out)]) == 0
    assert [json.loads(x)["pattern"] for x in out.read_text().splitlines()] == ["coordination_oscillation"]


def test_replay_reads_stdin_and_a_pattern_file(tmp_path):
    pf = tmp_path / "mine.py"
    pf.write_text("from goldrush import Pattern, recent\nalert = Pattern('alert', recent('boom'))\n")
    proc = subprocess.run([sys.executable, "-m", "goldrush", "replay", str(pf), "-"],
                          input='{"name":"boom","timestamp":1}\n', capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["pattern"] == "alert"


def test_check_prints_json_form_and_compiled_code(tmp_path, capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "# variety_imbalance: OK" in out and "def _pred(d):" in out
    assert main(["check", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["patterns"]) == 13 and doc["compiled"]["predicates"]  # 3 seed + 5 triggers + 5 models
    from goldrush.compiler.definitions import definition_id
    from goldrush.patterns import ALL

    assert [p["definition"] for p in doc["compiled"]["patterns"]] == [definition_id(p) for p in ALL]
    assert f"definition {definition_id(ALL[0])}" in out


def test_check_fails_with_the_pattern_error(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from goldrush import Pattern, frequency\np = Pattern('noisy', frequency('x', 10, '1m'))\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "pattern 'noisy'" in err and "#1 (frequency)" in err and "count must be (op, n)" in err


def test_check_accepts_json_pattern_files(tmp_path, capsys):
    from goldrush.patterns import ALL

    f = tmp_path / "p.json"
    f.write_text(json.dumps([p.to_dict() for p in ALL]))
    assert main(["check", str(f)]) == 0


def test_durations_on_the_command_line_may_be_bare_seconds(tmp_path, capsys):
    from goldrush.dsl.durations import option_seconds

    assert option_seconds("90", what="--duration") == 90.0 and option_seconds("1.5m", what="--duration") == 90.0
    assert option_seconds("0", what="--lateness", allow_zero=True) == 0.0
    out = tmp_path / "sim.jsonl"
    assert main(["simulate", "--scenario", "cascade", "--rate", "10", "--duration", "60", "--tenants", "1",
                 "--out", str(out)]) == 0
    stamps = [json.loads(line)["timestamp"] for line in out.read_text().splitlines()]
    assert 0 < max(stamps) - min(stamps) <= 60
    assert main(["replay", str(out), "--lateness", "0"]) == 0
    for bad in ("60x", "nan", "-5"):
        assert main(["simulate", "--duration", bad, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--duration" in err and bad in err, err


def test_produce_and_tail_explain_a_missing_file_or_an_unreachable_broker(tmp_path):
    """Common mistakes get one line naming the problem and where it is, not a traceback."""
    from goldrush.kafka.broker import free_port

    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    events = tmp_path / "events.jsonl"
    events.write_text('{"name": "x", "timestamp": 1}\n')
    cases = [
        (["produce", str(tmp_path / "missing.jsonl"), "--broker", nowhere], ["cannot read", "missing.jsonl"]),
        (["produce", str(events), "--broker", nowhere], ["cannot reach", nowhere, "GOLDRUSH_BROKER"]),
        (["tail", "--broker", nowhere, "--timeout", "1"], ["cannot reach", nowhere, "GOLDRUSH_BROKER"]),
        (["simulate", "--kafka", "--duration", "1s", "--broker", nowhere], ["cannot reach", nowhere]),
        (["worker", "--broker", nowhere, "--web-port", str(free_port())], ["goldrush worker: cannot reach", nowhere]),
    ]
    for argv, needles in cases:
        proc = subprocess.run([sys.executable, "-m", "goldrush", *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and "Unclosed" not in proc.stderr, (argv, proc.stderr)
        assert all(n in proc.stderr for n in needles), (argv, proc.stderr)


def test_a_worker_started_with_another_partition_count_than_its_state_says_so(broker, tmp_path):
    """Faust keeps existing topics as they are, and a worker given more partitions than its state
    topics have addressed partitions that do not exist: it crashed at its first key-expiry note."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from goldrush.kafka.broker import free_port

    async def make() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("gr-parts-engine-in", num_partitions=2, replication_factor=1)])
        finally:
            await admin.close()

    asyncio.run(make())
    proc = subprocess.run([sys.executable, "-m", "goldrush", "worker", "--broker", broker.bootstrap,
                           "--app-id", "gr-parts", "--partitions", "3", "--web-port", str(free_port()),
                           ], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in ("--partitions 3", "'gr-parts'", "2 partitions (gr-parts-engine-in)", "--partitions 2", "--app-id"):
        assert needle in proc.stderr, proc.stderr


def test_the_worker_says_what_it_runs_when_it_starts(tmp_path):
    """At the default (quiet) log level the worker's first line names its broker, patterns, key
    stage, lateness, sources and web address. Built, not started: no broker needed."""
    from goldrush.loader import load_patterns

    code = ("from goldrush.agents.app import build_app; from goldrush.agents.config import WorkerConfig; "
            "from goldrush.agents.worker import banner; "
            "cfg = WorkerConfig(broker='kafka:9092', app_id='probe', topics=['a', 'b'], lateness=0.5, "
            f"data_dir={str(tmp_path)!r}); print(banner(cfg, build_app(cfg)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    for part in ("'probe'", "broker kafka:9092", f"{len(load_patterns())} patterns from goldrush.patterns",
                 "key stage on (", "lateness 0.5 s", "sources a, b", "http://127.0.0.1:6066/ (dashboard"):
        assert part in out, out


@pytest.mark.parametrize("argv, option", [
    (["simulate", "--rate", "0"], "--rate"),
    (["simulate", "--tenants", "0"], "--tenants"),
    (["simulate", "--disorder", "-1"], "--disorder"),
    (["produce", "-", "--batch", "0"], "--batch"),
    (["tail", "--max", "-1"], "--max"),
    (["worker", "--partitions", "0"], "--partitions"),
    (["worker", "--fetch-wait", "nan"], "--fetch-wait"),
    (["worker", "--filter", "nonsense"], "--filter"),
    (["demo", "--duration", "soon"], "--duration"),
    (["demo", "--rate", "-5"], "--rate"),
    (["bench", "replay", "--events", "0"], "--events"),
    (["worker", "--web-port", "70000"], "--web-port"),
    (["demo", "--web-port", "0"], "--web-port"),
    (["broker", "--port", "-1"], "--port"),
])
def test_bad_numbers_are_refused_before_anything_starts(argv, option):
    """Exit 2 with a line naming the option, before a broker or worker starts, and no traceback."""
    proc = subprocess.run([sys.executable, "-m", "goldrush", *argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert option in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "embedded broker" not in proc.stderr and "Unclosed" not in proc.stderr, proc.stderr


def _tail(broker, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "goldrush", "tail", "--broker", broker.bootstrap, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_tail_labels_late_records_and_follow_new_shows_only_new_ones(broker):
    """`--follow-new` printed old records (the embedded broker's "latest" offset is the last record's,
    one short); late records were labelled `DEAD … (None/None@None)`."""
    import asyncio
    import json

    topic = "gr-tail-late"

    def late(i: int) -> bytes:
        return json.dumps({"reason": "below the tenant's watermark", "event": {
            "name": "vsm.old", "timestamp": 1767225604.95 + i, "tenant": "acme", "id": f"e{i}", "data": {}}}).encode()

    async def send(values: list[bytes]) -> None:  # send_raw writes to vsm.events; this topic is ours
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for v in values:
                await producer.send_and_wait(topic, v)
        finally:
            await producer.stop()

    asyncio.run(send([late(0), late(1)]))
    everything = _tail(broker, "--topic", topic, "--max", "2", "--timeout", "60").communicate(timeout=90)[0]
    lines = everything.splitlines()
    assert len(lines) == 2 and all(" LATE " in line for line in lines), everything
    first = next(line for line in lines if "id=e0" in line)  # partitions are read in any order
    assert first.startswith("2026-01-01T00:00:04.950Z") and "vsm.old" in first and "acme" in first
    assert "below the tenant's watermark" in first and "None" not in first

    follower = _tail(broker, "--topic", topic, "--follow-new", "--max", "1", "--timeout", "90")
    i = 2
    while follower.poll() is None and i < 300:  # new records until it has printed one
        asyncio.run(send([late(i)]))
        i += 1
        time.sleep(0.3)
    out, err = follower.communicate(timeout=60)
    assert len(out.splitlines()) == 1 and " LATE " in out, (out, err)
    assert "id=e0" not in out and "id=e1" not in out, out  # the old ones are not shown


def test_produce_and_replay_write_rejected_lines_alike_and_exit_1(tmp_path, broker):
    inp = tmp_path / "events.jsonl"
    write_jsonl(inp, [{"name": "vsm.x", "timestamp": 1}, "{not json", {"name": "vsm.y"}])
    files = {}
    for command in ("replay", "produce"):
        files[command] = tmp_path / f"{command}-rejected.jsonl"
        extra = ["--broker", broker.bootstrap, "--topic", "gr-produce-rejects"] if command == "produce" else []
        proc = subprocess.run([sys.executable, "-m", "goldrush", command, str(inp), "--rejected",
                               str(files[command]), *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, (command, proc.stderr)
        assert "Traceback" not in proc.stderr
    rows = {c: [json.loads(line) for line in f.read_text().splitlines()] for c, f in files.items()}
    assert [(r["line"], r["code"]) for r in rows["replay"]] == [(r["line"], r["code"]) for r in rows["produce"]]
    assert [r["line"] for r in rows["replay"]] == [2, 3]
    assert all(set(r) == {"line", "code", "reason", "input"} for c in rows for r in rows[c])


def test_every_option_has_help_and_says_its_default():
    import argparse

    from goldrush.cli.help import has_default, parsers
    from goldrush.cli.main import build_parser

    missing, hidden = [], []
    for path, parser in parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            name = " ".join((*path, *(action.option_strings or [action.dest])))
            if not action.help:
                missing.append(name)
            elif has_default(action) and "default" not in formatter._expand_help(action).lower():
                hidden.append(name)
        parser.format_help()  # every help text formats
    assert not missing, f"options with no help: {missing}"
    assert not hidden, f"options whose help hides the default: {hidden}"
