"""Actions: what a match asks for, and the policies that decide what is published.

`AutoScale`, `AlgedonicAlert` and `CoordinationAdjustment` are the specs a pattern
carries (defined with the DSL, re-exported here where users import them); `policies`
applies bounds, cooldowns, rate limits and de-duplication, `sequencer` orders the
actions of split key groups, `records` is the published record's schema.

>>> from goldrush.actions import AutoScale
>>> AutoScale(target="source", max_instances=4).to_dict()["type"]
'autoscale'
"""

from goldrush.dsl.actions import (
    ActionSpec,
    AlgedonicAlert,
    AutoScale,
    CoordinationAdjustment,
    action_from_dict,
)

__all__ = ["ActionSpec", "AutoScale", "AlgedonicAlert", "CoordinationAdjustment", "action_from_dict"]
