"""The named anomaly models as patterns of their own: they feed matches and actions
exactly as DSL patterns do, in replay and in streaming (see docs/models.md)."""

from __future__ import annotations

from goldrush import Pattern, metric
from goldrush.actions import AlgedonicAlert, AutoScale, CoordinationAdjustment
from goldrush.models.clause import anomaly

from .triggers import OPERATION, RESOURCES

cascading_failure_model = Pattern(
    "cascading_failure_model",
    anomaly(model="cascading_failure", score=(">=", 0.95)),
    cooldown="5m",
    action=AlgedonicAlert(signal="pain", severity="critical",
                          description="failures are spreading across services"),
    description="Three or more services failing within a minute, far beyond this tenant's usual spread.",
)

performance_degradation_model = Pattern(
    "performance_degradation_model",
    anomaly(metric("response_time_ms", event=OPERATION), model="performance_degradation", score=(">=", 1.0)),
    key_by=("tenant", "source"),
    cooldown="10m",
    action=AutoScale(direction="scale_out", target="source"),
    description="A service's latency level has shifted up (CUSUM change point on log latency): add an instance.",
)

load_oscillation_model = Pattern(
    "load_oscillation_model",
    anomaly(metric("utilization", event=RESOURCES), model="load_oscillation", score=(">=", 0.8)),
    cooldown="10m",
    action=CoordinationAdjustment(strategy="dampen", factor=0.5, cooldown="5m"),
    description="Utilisation swings periodically with a growing amplitude: dampen coordination.",
)

variety_imbalance_model = Pattern(
    "variety_imbalance_model",
    anomaly(model="variety_imbalance", score=(">=", 0.9)),
    key_by=("tenant", "source"),
    cooldown="10m",
    action=AlgedonicAlert(signal="pain", severity="high",
                          description="input variety exceeds what the regulator can absorb"),
    description="Input variety has exceeded output variety by ~4× (≥ 1.8 bits), sustained (Ashby).",
)

emerging_opportunity_model = Pattern(
    "emerging_opportunity_model",
    anomaly(model="emerging_opportunity", score=(">=", 0.99)),
    cooldown="15m",
    action=AlgedonicAlert(signal="pleasure", severity="low",
                          description="performance keeps improving with capacity to spare"),
    description="Performance has risen steadily (confidence ≥ 99.5 %) over the last 120 readings while utilisation stays ≤ 40 %.",
)

MODEL_PATTERNS = [cascading_failure_model, performance_degradation_model, load_oscillation_model,
                  variety_imbalance_model, emerging_opportunity_model]
