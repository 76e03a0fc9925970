"""Taking what the tenant stage produced, with the snapshots of the tenants it touched."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from goldrush.compiler.keygroups import partition_key
from goldrush.events.codec import to_row

from ..forwarding import packed_chunks
from ..host import EngineHost
from ..letters import evaluation_letter
from ..messages import Keyed, Progress
from ..metrics import Metrics
from ..table_keys import tenant_key
from .outcome import Outcome

if TYPE_CHECKING:
    from ..keys_in_place import KeysHere


class Settler:
    """Shared by the tenant stage, the verdicts stage and the idle flush: all three advance
    the tenant stage, and each must hand on its forwards, actions and snapshots the same way."""

    def __init__(self, host: EngineHost, state: Any, metrics: Metrics, *, partitions: int,
                 key_expiry: float, keyed: bool):
        self.host, self.state, self.metrics = host, state, metrics
        self.partitions = partitions
        self.key_expiry = key_expiry if keyed else 0.0  # progress notes only go to a key stage
        self.here: KeysHere | None = None  # keyed work evaluated beside the tenants (agents/keys_in_place.py)

    def __call__(self, matches: list, tenants: dict[str, Any], out: Outcome | None = None, *,
                 force: bool = False, now: float | None = None) -> Outcome:
        """Add the tenant stage's output; `tenants` (→ their last stream record) changed, and those
        whose checkpoint is due (all with `force`) get their snapshots and the records they cover."""
        host = self.host
        out = Outcome() if out is None else out
        out.matches += matches
        here = self.here if self.here is not None and self.here.active else None
        # the stages of earlier versions holding tenants back (agents/tenant_versions.py), then the running one:
        # a tenant's events before its switch point are in the first, those after in the next, and a key
        # must get them in that order
        stages = sorted(host.tenant_stages(), key=lambda sv: (sv[0] is host.stage, sv[1] or 0))
        for stage, version in stages:
            self.drain(stage, version if stage is not host.stage else None, version, out, here)
        if here is not None and len(stages) > 1:  # verdicts applied here may complete another stage's work
            for stage, version in stages:
                self.drain(stage, version if stage is not host.stage else None, version, out, here)
        if self.key_expiry and here is None:
            for tenant in tenants:
                progress = host.progress_due(tenant, self.key_expiry)
                if progress is not None:
                    data = Progress(tenant, *progress).to_bytes()
                    out.progress += [(partition, data) for partition in range(self.partitions)]
        host.dirty.update(tenants)
        now = time.monotonic() if now is None else now
        due = {tenant: record for tenant, record in tenants.items() if force or host.checkpoint_due(tenant, now)}
        for tenant, record in due.items():
            if here is not None:  # its keys' snapshots first: agents/keys_in_place.py
                here.checkpoint(tenant, host.stage_of(tenant).progress(tenant), out)
            out.snapshots.append((self.state, tenant_key(tenant), record, host.snapshot(tenant)))
            out.acks += host.checkpointed(tenant, now)
        out.tenants.update(tenants)
        host.settled(tenants)
        out.snapshots += [(self.state, key, record, mark) for key, record, mark in host.marks.changes(due, host)]
        return out

    def drain(self, stage: Any, stamp: int | None, version: int | None, out: Outcome,
              here: KeysHere | None = None) -> None:
        """One tenant stage's output; `stamp`: the version its actions carry when they say none (an
        earlier version's stage: the publisher stamps the running one). Its forwards go to the keyed
        topic, or with `here` are evaluated at once and their verdicts applied."""
        by_key: dict[tuple[int, Any], list] = {}
        outbox = stage.drain_outbox()
        if here is not None:
            for group, key, seq, ev in outbox:
                by_key.setdefault((group, key), []).append((seq, ev))
            if by_key:
                for (tenant, key_by), done in here.evaluate(stage, version, by_key, out).items():
                    self.host.on_verdicts(tenant, list(key_by), done)
        else:
            self.metrics.inc("goldrush_events_forwarded_total", len(outbox))
            for group, key, seq, ev in outbox:
                by_key.setdefault((group, key), []).append([seq, to_row(ev)])
            # `version`: the set these events are evaluated under: the key stage uses it too
            for (group, key), events in by_key.items():
                kb = partition_key(group, key)
                key_by = stage.groups[group].key_by
                for _, data in packed_chunks(events, lambda c: Keyed(key_by, key, c, version)):  # noqa: B023
                    out.forwards.append((kb, data))
        actions = stage.drain_actions()
        if stamp is not None:
            actions = [a if a.pattern_set_version is not None else a.model_copy(update={"pattern_set_version": stamp})
                       for a in actions]
        out.actions += actions
        engine = stage.engine
        out.late += engine.late
        engine.late.clear()
        for ev, error in stage.drain_failed():
            self.metrics.inc("goldrush_rejected_total", reason="evaluation_failed")
            out.dead.append(evaluation_letter(ev, error))
