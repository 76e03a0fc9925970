"""Hostile inputs against a running worker on the embedded broker (issue #16): each bad record
is dead-lettered with its own reason, the worker survives it and a restart, and other tenants
get their matches and actions exactly once. Replay's counterpart: tests/e2e/test_hostile_replay.py."""

from __future__ import annotations

import asyncio
import json
import signal

from goldrush import replay
from goldrush.events.topics import ACTIONS, DEADLETTER, MATCHES
from goldrush.patterns import ALL
from tests.support.hostile import FAILURE, T0, duplicated, good_events, hostile_messages
from tests.support.worker import collect, http_get, send_raw, start_worker, stop, wait_ready

TWO_MB_NOT_UTF8 = b"\xff" * 2_000_000


# two more failures of the tenant named like a mark: with the hostile one, a cascade that must match
GHOST_CASCADE = [json.dumps({"name": FAILURE, "timestamp": T0 + i, "tenant": "buffered\x00ghost",
                             "data": {"service": f"ghost{i}"}}).encode() for i in (1, 2)]

def test_hostile_records_are_dead_lettered_and_the_worker_survives_them_and_a_restart(fresh_broker, tmp_path):
    messages = hostile_messages()
    good = good_events("good")
    expected_codes = sorted([code for _, _, code in messages if code] + ["too_large"])
    expected = replay(ALL, good, actions=True)
    want = sorted([m.match_id for m in expected.matches] + [a.action_id for a in expected.actions])

    def good_ids(records):
        return sorted(r.get("action_id") or r["match_id"] for r in records if r.get("tenant") == "good")

    def all_out(records):  # then a little longer, for a repeat to show
        return set(good_ids(records)) >= set(want) and any(r.get("tenant") == "buffered\x00ghost" for r in records)
    bootstrap = fresh_broker.bootstrap
    worker = start_worker(bootstrap, tmp_path, "gr-hostile")
    try:
        async def first_run():
            await wait_ready(worker)
            await send_raw(bootstrap, [raw for _, raw, _ in messages] + GHOST_CASCADE + [TWO_MB_NOT_UTF8])
            # Keyed by its tenant, as producers do (EventProducer): one partition keeps its events in order.
            # Unkeyed, they spread over the source partitions, and one second apart with 2 s of lateness
            # an event whose partition is fetched a batch later can be late: a different cascade.
            await send_raw(bootstrap, [json.dumps(e).encode() for e in duplicated(good)], key=b"good")
            dead = await collect(bootstrap, (DEADLETTER,), len(expected_codes), timeout=120)
            await collect(bootstrap, (MATCHES, *ACTIONS.values()), 0, timeout=60, until=all_out)
            await asyncio.sleep(3)
            out = await collect(bootstrap, (MATCHES, *ACTIONS.values()), 0, timeout=60, until=all_out)
            return dead, out

        dead, out = asyncio.run(first_run())
        assert worker.poll() is None, "the worker died"
        status, text = http_get(worker.web_port, "/metrics")
        assert status == 200 and http_get(worker.web_port, "/ready")[0] == 200
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        restarted = start_worker(bootstrap, tmp_path, "gr-hostile")
        try:
            after = good_events("after", t0=1_767_229_200.0)

            async def second_run():
                await wait_ready(restarted)
                await send_raw(bootstrap, [json.dumps(e).encode() for e in after])
                return await collect(bootstrap, (ACTIONS["algedonic_alert"],), 0, timeout=60,
                                     until=lambda records: any(r["tenant"] == "after" for r in records))

            alerts = asyncio.run(second_run())
            assert restarted.poll() is None
        finally:
            stop(restarted)
    finally:
        stop(worker)
    assert sorted(d["code"] for d in dead) == expected_codes
    assert all(len(json.dumps(d)) < 1_000_000 and d["reason"] for d in dead)
    two_mb = next(d for d in dead if d["code"] == "too_large")
    assert two_mb["original_bytes"] == 2_000_000 and two_mb["original_truncated"]
    got = good_ids(out)
    assert got == want, (out, expected.matches, expected.actions)  # each exactly once, despite 3 re-sends
    assert any(r.get("tenant") == "buffered\x00ghost" for r in out)  # its cascade matched like any tenant's
    assert "after" in {a["tenant"] for a in alerts}  # the restarted worker evaluates new events
    logs = "".join(p.read_text() for p in tmp_path.glob("gr-hostile*.log"))
    assert "Traceback" not in logs, logs[-3000:]
