"""The seed's three VSM patterns, keyed by tenant.

Metrics are read from any event that carries the field, as the seed did.
"""

from __future__ import annotations

from goldrush import F, Pattern, concurrent, event, frequency, recent, sequence, trend

VARIETY = "vsm_core.variety.calculated"

variety_imbalance = Pattern(
    "variety_imbalance",
    sequence(
        event(VARIETY, F.input_variety > 8.0),
        event(VARIETY, F.input_variety > 8.0, within="30s"),
        event(VARIETY, F.input_variety > 8.0, within="30s"),
    ),
    concurrent(event(VARIETY, F.output_variety < 2.0)),
    description=(
        "Three variety measurements in a row with input variety above 8, each within 30 s "
        "of the previous, while the latest output variety is below 2: the system absorbs "
        "far less variety than it receives (Ashby's requisite variety is violated)."
    ),
)

coordination_oscillation = Pattern(
    "coordination_oscillation",
    frequency(event("vsm_core.system2.coordination", F.action == "adjust"), (">", 10), "5m"),
    trend("adjustment_magnitude", "increasing"),
    description=(
        "System 2 adjusts more than 10 times in 5 minutes with growing adjustment "
        "magnitude: coordination is oscillating instead of damping."
    ),
)

opportunity_emergence = Pattern(
    "opportunity_emergence",
    trend("performance_score", "increasing", duration="15m", confidence=0.8),
    concurrent(event("vsm_core.system3.resources", F.utilization < 0.7)),
    recent(event("vsm_core.system4.scan", F.market_sentiment == "positive")),
    description=(
        "Performance improves steadily over 15 minutes, resources have spare capacity "
        "and System 4 recently saw a positive market: room to grow."
    ),
)

SEED_PATTERNS = [variety_imbalance, coordination_oscillation, opportunity_emergence]
