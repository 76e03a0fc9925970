"""Action records: the JSON that consumers of the action topics receive.

One pydantic model per action type, discriminated by `type`; `action_schema()`
is the documented JSON schema (`goldrush schema actions`).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from goldrush.events.topics import ACTIONS


def action_id(match_id: str, action_type: str, index: int) -> str:
    """Deterministic: the same match and binding give the same id everywhere."""
    text = f"{match_id}|{action_type}|{index}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Suppressed(BaseModel):
    count: int = Field(description="alerts held back by the rate limit since the last one that passed")
    since: float = Field(description="event time of the first of them")


class AutoScaleParams(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    direction: Literal["scale_out", "scale_in"]
    from_: int = Field(alias="from", description="instance count before")
    to: int = Field(description="proposed instance count, always within [min_instances, max_instances]")
    target: str = Field(description="the service (value of the key field named by `target`) or the tenant")
    min_instances: int
    max_instances: int
    reason: str


class AlgedonicParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    signal: Literal["pain", "pleasure"]
    severity: Literal["critical", "high", "medium", "low"]
    description: str
    suppressed: Suppressed | None = None


class CoordinationParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    strategy: Literal["dampen", "hold", "reset"]
    factor: float
    reason: str


class _ActionBase(BaseModel):
    model_config = ConfigDict(frozen=True)

    action_id: str = Field(description="deterministic from match_id, type and the binding's position")
    pattern: str
    tenant: str
    key: dict[str, Any]
    timestamp: float = Field(description="event time of the match, epoch seconds")
    match_id: str
    event_ids: list[str] = Field(description="the evidence: ids of the events of the match")
    pattern_set_version: int | None = Field(default=None, description=(
        "the pattern-set version whose match produced it (workers following goldrush.patterns); "
        "absent when patterns come from a file"))

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump(mode="json", by_alias=True)
        if d.get("pattern_set_version") is None:
            d.pop("pattern_set_version", None)
        return d


class AutoScaleAction(_ActionBase):
    type: Literal["autoscale"] = "autoscale"
    params: AutoScaleParams


class AlgedonicAlertAction(_ActionBase):
    type: Literal["algedonic_alert"] = "algedonic_alert"
    params: AlgedonicParams


class CoordinationAdjustmentAction(_ActionBase):
    type: Literal["coordination_adjustment"] = "coordination_adjustment"
    params: CoordinationParams


Action = Annotated[AutoScaleAction | AlgedonicAlertAction | CoordinationAdjustmentAction,
                   Field(discriminator="type")]
ACTION_ADAPTER: TypeAdapter = TypeAdapter(Action)

def parse_action(data: dict[str, Any] | str | bytes) -> Any:
    """An action record from its JSON (dict or text)."""
    if isinstance(data, str | bytes):
        return ACTION_ADAPTER.validate_json(data)
    return ACTION_ADAPTER.validate_python(data)


def action_schema() -> dict[str, Any]:
    schema = ACTION_ADAPTER.json_schema(by_alias=True)
    schema["title"] = "goldrush action"
    *first, last = ACTIONS.values()
    schema["description"] = (
        f"One record per Kafka message on {', '.join(first)} and {last} (keyed by tenant), and per line of "
        "`goldrush replay --actions`. `type` selects the shape of `params`."
    )
    return schema
