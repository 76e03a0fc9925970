"""Hostile inputs through replay: never a traceback, every bad record rejected with its own
reason, and other tenants' results unchanged (issue #16). The streaming counterpart is
tests/kafka/test_hostile_worker.py; the decoder fuzz is tests/properties/test_decoder_fuzz.py."""

from __future__ import annotations

import json
import subprocess
import sys

from goldrush import replay
from goldrush.events.codec import loads
from goldrush.patterns import ALL
from tests.support.hostile import duplicated, good_events, hostile_messages

NOT_JSON = {"invalid_json"}


def parsed(messages):
    out = []
    for label, raw, code in messages:
        try:
            out.append((label, loads(raw), code))
        except ValueError:
            assert code in NOT_JSON, label
    return out


def test_replay_rejects_each_hostile_record_with_its_reason_and_keeps_the_good_tenant():
    hostile = parsed(hostile_messages())
    good = good_events()
    result = replay(ALL, [obj for _, obj, _ in hostile] + good, actions=True)
    expected_codes = sorted(code for _, _, code in hostile if code)
    assert sorted(r.code for r in result.rejected) == expected_codes
    alone = replay(ALL, good, actions=True)
    assert [m.match_id for m in result.matches if m.tenant == "good"] == [m.match_id for m in alone.matches]
    assert [a.action_id for a in result.actions if a.tenant == "good"] == [a.action_id for a in alone.actions]
    assert not result.late  # the year-9999 event moved no clock
    # 1e300 is no instance count: the tenant's known count stays at min_instances, the bound
    assert not [a for a in result.actions if a.tenant == "huge-instances"]
    assert result.engine.policies.stats["autoscale_at_bound"] >= 1
    json.dumps([a.to_dict() for a in result.actions])  # every action is publishable


def test_duplicate_ids_are_evaluated_once():
    """624 duplicates turned 24 matches into 26: re-sent ids within the reorder window are dropped."""
    good = good_events() + good_events(t0=1_767_225_700.0, tenant="good")[1:]
    once = replay(ALL, good, actions=True)
    again = replay(ALL, duplicated(good), actions=True)
    assert [m.match_id for m in again.matches] == [m.match_id for m in once.matches]
    assert [a.action_id for a in again.actions] == [a.action_id for a in once.actions]
    assert again.duplicates == 3 * len(good)


def test_the_replay_command_survives_every_hostile_line(tmp_path):
    messages = hostile_messages()
    lines = [raw for _, raw, _ in messages] + [json.dumps(e).encode() for e in good_events()]
    src = tmp_path / "hostile.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    rejected, late = tmp_path / "rejected.jsonl", tmp_path / "late.jsonl"
    proc = subprocess.run([sys.executable, "-m", "goldrush", "replay", str(src), "--actions",
                           "--rejected", str(rejected), "--late", str(late)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # some lines were rejected (the same rule as produce)
    assert "Traceback" not in proc.stderr
    records = [json.loads(x) for x in rejected.read_text().splitlines()]
    assert sorted(r["code"] for r in records) == sorted(code for _, _, code in messages if code)
    assert all(len(json.dumps(r)) < 100_000 for r in records)  # 450 kB and 800 kB lines: a 64 kB prefix
    actions = [json.loads(x) for x in proc.stdout.splitlines()]
    assert any(a["pattern"] == "failure_cascade" and a["tenant"] == "good" for a in actions)


def test_the_replay_command_holds_no_rejected_line_in_memory(tmp_path):
    """Rejected lines are counted and written as they come: without --rejected they are not kept."""
    from goldrush.cli.replay import Rejections

    seen = Rejections(None)
    from goldrush.engine.replay import Rejected

    for i in range(10_000):
        seen(Rejected(i, "invalid_json", "not JSON", "x" * 100))
    assert sum(seen.by_code.values()) == 10_000 and len(seen.first) == 5


def test_a_huge_key_value_is_no_key():
    """Keys become Kafka record keys and table keys: a 500 kB data field used as a key must not
    make a record the producer refuses; such an event is not seen by that pattern (SEMANTICS §4)."""
    from goldrush import Pattern, event, frequency

    per_route = Pattern("per_route", frequency(event("op"), (">=", 2), "1m"), key_by=("tenant", "route"))
    events = [{"name": "op", "timestamp": 1_767_225_600.0 + i, "data": {"route": route}}
              for i, route in enumerate(["/a", "/a", "x" * 500_000, "x" * 500_000, "y" * 256, "y" * 256])]
    result = replay([per_route], events)
    assert [m.key["route"] for m in result] == ["/a", "y" * 256]


def test_the_summary_pass_holds_no_rejected_line_in_memory(tmp_path):
    """The replay summary's second pass (reasons for patterns with no match) kept every
    rejected input: 105 MB of bad lines took the command from 141 MB to 324 MB of RSS."""
    import tracemalloc

    from goldrush.cli.replay_reasons import zero_match_reasons
    from goldrush.patterns import ALL

    bad = json.dumps({"name": "x", "timestamp": "not a time", "data": {"pad": "p" * 900}}).encode()
    src = tmp_path / "bad.jsonl"
    src.write_bytes(b"\n".join([bad] * 20_000) + b"\n")  # about 19 MB
    tracemalloc.start()
    reasons = zero_match_reasons(list(ALL), str(src), 2.0, [p.name for p in ALL])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert set(reasons) == {p.name for p in ALL}
    assert peak < 8_000_000, f"peak {peak:,} bytes"
