"""A backlog spread over several source topics is read without turning events late (issue #17, item 5).

The seed's producers write each subsystem's events to its own topic. A worker that was
down while they did finds a backlog on every one of them; read in whatever order the
broker hands it out, one topic runs ahead in event time. Before the source consumer
merged its partitions by event time (agents/event_time_merge.py), the tenants' watermarks
followed that topic and most of the others' events were late.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from goldrush import replay
from goldrush.patterns import ALL
from goldrush.simulator import simulate
from tests.support.worker import (
    collect_replay_matches,
    http_get,
    prometheus,
    start_worker,
    stop,
    wait_ready,
)

SCENARIO = {"scenario": "mixed", "tenants": 4, "rate": 30, "duration": 1800, "seed": 7}


def test_a_backlog_on_the_seven_per_system_topics_gives_replays_matches_and_actions(fresh_broker, tmp_path):
    bootstrap = fresh_broker.bootstrap
    # The worker runs once (it declares the source topics, two partitions each), then is stopped.
    worker = start_worker(bootstrap, tmp_path, "gr-catch-up")
    try:
        asyncio.run(wait_ready(worker))
    finally:
        stop(worker)
    # 30 simulated minutes, flat out, across the per-system topics, while no worker runs.
    s = SCENARIO
    proc = subprocess.run(
        [sys.executable, "-m", "goldrush", "simulate", "--kafka", "--broker", bootstrap, "--topic", "by-subsystem",
         "--scenario", s["scenario"], "--tenants", str(s["tenants"]), "--rate", str(s["rate"]),
         "--duration", f"{s['duration']}s", "--seed", str(s["seed"])],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = list(simulate(s["scenario"], tenants=s["tenants"], rate=s["rate"], duration=s["duration"], seed=s["seed"]))
    assert f"sent {len(events)} events" in proc.stderr
    expected = replay(ALL, events, actions=True)
    assert len(expected.matches) > 1000 and len(expected.actions) > 20
    worker = start_worker(bootstrap, tmp_path, "gr-catch-up")
    try:
        matches, _, late, actions, _ = asyncio.run(collect_replay_matches(bootstrap, events, timeout=400))
        metrics = prometheus(http_get(worker.web_port, "/metrics")[1])
    finally:
        stop(worker)
    print(f"{len(events)} events: {len(late)} late; {len({m['match_id'] for m in matches})} matches "
          f"(replay {len(expected.matches)}), {len({a['action_id'] for a in actions})} actions (replay {len(expected.actions)})")
    assert len(late) == 0
    assert metrics.get("goldrush_late_total", 0) == 0
    assert {m["match_id"]: m for m in matches} == {m.match_id: m.to_dict() for m in expected.matches}
    assert {a["action_id"]: a for a in actions} == {a.action_id: a.to_dict() for a in expected.actions}
    assert metrics["goldrush_source_held"] == 0  # everything released at the end
