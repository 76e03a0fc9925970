"""State is bounded: it follows active keys and windows, not the stream's length."""

from __future__ import annotations

from goldrush import Engine, Pattern, decode, event, frequency, recent, sequence, trend
from goldrush.patterns import ALL


def test_idle_keys_are_dropped_and_windows_trimmed():
    p = Pattern("p", sequence(event("a"), event("b"), within="10s"), frequency("a", (">", 1), "1m"),
                trend("v", "increasing", duration="1m"), key_by=("tenant", "host"))
    engine = Engine([p])
    t = 0.0
    for i in range(20_000):
        t += 0.5
        # every key is active for a short while only
        engine.push(decode({"name": "a", "timestamp": t, "data": {"host": f"h{i // 10}", "v": i}}))
    engine.flush()
    engine.clock = {"default": t + 3600}  # an hour later every window is empty
    engine.sweep()
    assert engine.state_size() == 0


def test_keys_with_a_high_edge_or_live_windows_are_kept():
    p = Pattern("p", recent("a", within="1h"))
    engine = Engine([p], allowed_lateness=0)
    engine.push(decode({"name": "a", "timestamp": 0, "tenant": "x"}))
    engine.sweep()
    assert engine.state_size() == 1  # edge is high: dropping it would fire again


def test_memory_stays_flat_on_a_long_stream():
    from goldrush.simulator import simulate

    engine = Engine(ALL)
    sizes = []
    for i, e in enumerate(simulate("mixed", tenants=50, rate=50, duration=4 * 3600)):
        engine.push(decode(e))
        if i % 100_000 == 99_999:
            engine.sweep()
            sizes.append(engine.state_size())
    # per (pattern, tenant) at most one state: bounded by active keys, not by events
    assert max(sizes) <= len(ALL) * 50 * 5  # ≤ 5 services per tenant for the per-service triggers
    windows = sum(len(per_pattern[1][t].ops[0]) for t, per_pattern in engine.tenants.items()
                  if t in per_pattern[1])  # frequency deques of coordination_oscillation
    assert windows < 50 * 400
