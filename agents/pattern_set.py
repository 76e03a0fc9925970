"""Changing the running pattern set without a restart (docs/streaming.md, docs/semantics.md §
"Changing the pattern set").

Plain Python, no Kafka: `adopt(host, patterns, version)` is called between two batches (every
stage's `handle` is synchronous, so no batch is half evaluated), and swaps the host's compiled
set. Each loaded tenant is moved to the new set the way a restart would move it: its snapshot
under the old set is restored under the new one, so a pattern whose definition id is unchanged
keeps its state, an edited one starts fresh (`goldrush_states_reset_total`), a removed one is
dropped. The reorder buffer, clock and policy state go along.

The switch point, per tenant, is its clock `C` at adoption (the time of the last event it
evaluated): events with a timestamp ≤ C were evaluated with the old version, those > C are
evaluated with the new one. Every event evaluated later is > C by construction: the tenant's
flush floor is raised just above C, so an event at exactly C arriving after the switch is late
(it would otherwise fall on both sides of the line). A tenant not loaded at adoption switches
when it is loaded (its snapshot records the version it was saved under), at its snapshot's
clock, unless a later switch of it is recorded beyond that clock (a crash back to a snapshot from
before the switch): then it resumes on the old version until that point (agents/tenant_versions.py).
Each switch is recorded (`host.switches` → goldrush.patterns.applied) so that
`goldrush.engine.replay.replay_versions` reproduces the run. Patterns keyed finer than the tenant
follow the same rule: the key stage evaluates each forwarded event under the version the tenant
stage stamped on it (agents/key_versions.py).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from goldrush.compiler.compiled import CompiledSet
from goldrush.compiler.keygroups import Layout, finer_key_bys, split_key_groups
from goldrush.compiler.pattern_sets import PatternSetRejected, compile_set
from goldrush.dsl import Pattern
from goldrush.engine.stages import KeyStage, TenantStage

__all__ = ["PatternSetRejected", "adopt", "compile_set", "key_group_signature", "switched"]
EngineHost = Any  # agents/host.py, which imports this module
log = logging.getLogger("goldrush.worker")


def key_group_signature(patterns: list[Pattern], layout: Layout | None = None) -> list:
    """What the key stage runs: its groups' numbers, key_by and their patterns, in full."""
    _, groups = split_key_groups(patterns, layout)
    return [[list(g.key_by), [p.to_dict() for p in g.patterns]] for g in groups]


def switched(host: EngineHost, tenant: str) -> None:
    """`tenant`'s state, now in the host's engine, is evaluated with `host.version` from its clock on."""
    engine = host.engine
    clock = engine.clock.get(tenant)
    if clock is not None:
        buf = engine.buffer.tenant(tenant)
        above = math.nextafter(clock, math.inf)
        if buf.floor < above:
            buf.floor = above
    host.record_switch(tenant, host.version, clock)


def adopt(host: EngineHost, patterns: list[Pattern], version: int, layout: Layout | None = None) -> dict[str, int]:
    """Swap the host's pattern set for `patterns` as `version`, its key groups numbered by `layout`
    (the version record's; None: by order); returns counts for /metrics:
    {"kept", "fresh", "removed"} patterns by definition id. Raises `PatternSetRejected`, leaving
    the running set untouched, when the set does not compile.

    With the key stage on, patterns keyed finer than the tenant switch too: the tenant stage stamps
    each forward with the version it evaluates the event under, and the key stage evaluates it with
    that version's groups, moving each key's state at its first event of the new version
    (agents/key_versions.py). Policy work queued before the switch still waits for the verdicts of
    the earlier version's groups, and applies its matches with that version's actions.
    """
    cfg = host.cfg
    try:
        compiled = CompiledSet(patterns)
    except Exception as exc:  # noqa: BLE001
        raise PatternSetRejected(f"{type(exc).__name__}: {exc}") from exc
    old = {cp.name: cp.definition for cp in host.compiled.patterns}
    # A worker started with no pattern keyed finer than the tenant has no key stage to hand events
    # to: it evaluates such patterns here, as with --key-stage off, until a restart.
    split = cfg.key_stage and getattr(host, "key_stage_runs", True)
    if not split and cfg.key_stage and finer_key_bys(patterns):
        log.warning("this worker started without patterns keyed finer than the tenant, so without a key "
                    "stage: it evaluates them in the tenant stage until it is restarted")
    stage = TenantStage(compiled, allowed_lateness=cfg.lateness, split=split,
                        sequenced=split and host.stage.sequencer is not None, version=version, layout=layout)
    previous = host.version
    # a tenant held back on an earlier version stays there: it moves on at its recorded switch points
    # (agents/tenant_versions.py), then to this version at its clock
    snaps = {tenant: host.engine.snapshot_tenant(tenant) for tenant in host.loaded
             if tenant not in host.tenant_versions.behind}
    if previous is not None and previous != version:  # (queued matches were saved with their version)
        carry_versions(host.stage, stage, previous)
        host.tenant_versions.remember(previous, [cp.pattern for cp in host.compiled.patterns], host.layout)
    same_keys = (key_group_signature(patterns, layout)
                 == key_group_signature([cp.pattern for cp in host.compiled.patterns], host.layout))
    # Past the last check: from here on nothing raises before the host points at the new set.
    host.resets_retired.update(host.engine.states_reset)  # its counts stay in /metrics
    host.compiled, host.stage, host.engine, host.version = compiled, stage, stage.engine, version
    host.layout = layout
    old_keys = host.keys
    if same_keys:  # the same key groups: one stage serves both versions, its keys stay where they are
        host.keys.version = version
        if previous is not None:
            host.key_versions.stages[previous] = host.keys
    else:
        host.keys = KeyStage(compiled, version, layout)
        if previous is None:  # not kept as an earlier version's stage: its counts stay in /metrics
            for engine in old_keys.engines:
                host.resets_retired.update(engine.states_reset)
        host.key_versions.switched(host, previous, old_keys)
    host.groups_by_key_by = {g.key_by: g for g in stage.groups if g.live}
    for tenant, snap in snaps.items():
        host.engine.restore_tenant(tenant, snap)
        if previous != version:
            switched(host, tenant)
    new = {cp.name: cp.definition for cp in compiled.patterns}
    return {"kept": sum(1 for n, d in new.items() if old.get(n) == d),
            "fresh": sum(1 for n, d in new.items() if old.get(n) != d),
            "removed": sum(1 for n in old if n not in new)}


def carry_versions(old: TenantStage, new: TenantStage, previous: int) -> None:
    """What the new tenant stage needs of the earlier versions for work queued before the switch:
    their actions (by version) and pattern order; and that it keeps awaiting their key groups.
    Added to what `new` knows already (a tenant held back may move into a stage that others use)."""
    old_policies = old.engine.policies if old.sequencer is None else old.sequencer.policies
    policies = new.engine.policies if new.sequencer is None else new.sequencer.policies
    policies.versions = {**policies.versions, **old_policies.versions, previous: old_policies.bindings}
    if new.sequencer is not None:
        new.sequencer.retiring = True
        if old.sequencer is not None:
            new.sequencer.orders = {**new.sequencer.orders, **old.sequencer.orders, previous: old.sequencer.order}
