"""Built-in action triggers, from the seed's auto-scaling and alerting config.

Event names and fields follow the seed's telemetry (`vsm_core.*`); the README's
event catalogue lists them for producers.
"""

from __future__ import annotations

from goldrush import F, Pattern, concurrent, event, frequency
from goldrush.actions import AlgedonicAlert, AutoScale, CoordinationAdjustment

from .vsm import coordination_oscillation as _oscillation

VARIETY = "vsm_core.variety.calculated"
OPERATION = "vsm_core.system1.operation"
FAILURE = "vsm_core.system1.failure"
RESOURCES = "vsm_core.system3.resources"
ALGEDONIC = "vsm_core.algedonic.signal"

variety_overload = Pattern(
    "variety_overload",
    concurrent(event(VARIETY, F.utilization >= 0.9)),
    key_by=("tenant", "source"),
    action=AutoScale(direction="scale_out", target="source"),
    description="The latest variety measurement of a service uses ≥ 90 % of its variety capacity: add an instance.",
)

response_time_degradation = Pattern(
    "response_time_degradation",
    frequency(event(OPERATION, F.response_time_ms > 1000), (">=", 3), "1m"),
    key_by=("tenant", "source"),
    action=AutoScale(direction="scale_out", target="source"),
    description="Three or more operations of a service slower than 1000 ms within a minute: add an instance.",
)

algedonic_signal_frequency = Pattern(
    "algedonic_signal_frequency",
    frequency(event(ALGEDONIC), (">", 10), "5m"),
    action=AutoScale(direction="scale_out"),
    description="More than 10 algedonic signals in 5 minutes: the tenant is in pain, add capacity.",
)

low_utilization = Pattern(
    "low_utilization",
    frequency(event(RESOURCES, F.utilization >= 0.3), ("==", 0), "10m"),
    frequency(event(RESOURCES, F.utilization.exists()), (">=", 5), "10m"),
    action=AutoScale(direction="scale_in"),
    description=(
        "Resource utilisation below 0.3 in every one of at least 5 samples over the last "
        "10 minutes: remove an instance."
    ),
)

failure_cascade = Pattern(
    "failure_cascade",
    frequency(event(FAILURE), (">=", 3), "1m"),
    concurrent(event(FAILURE, F.service.exists())),
    action=AlgedonicAlert(signal="pain", severity="critical",
                          description="failures are spreading across services"),
    description=(
        "Three or more service failures within a minute in one tenant: a critical pain signal. "
        "The DSL counts failures; whether they come from distinct services (and follow the "
        "dependency map) is the CascadingFailure model's job."
    ),
)

coordination_oscillation_damping = _oscillation.renamed("coordination_oscillation").with_actions(
    CoordinationAdjustment(strategy="dampen", factor=0.5, cooldown="5m"))

TRIGGERS = [variety_overload, response_time_degradation, algedonic_signal_frequency, low_utilization,
            failure_cascade]
