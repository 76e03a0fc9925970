"""Tenants held back on an earlier pattern-set version until their recorded switch point
(docs/semantics.md §7, docs/streaming.md).

A tenant stage that crashes, or loses its partition, after a switch reads the engine-in records
applied since the tenant's last snapshot again. When that snapshot is older than the switch, the
events between it and the switch point were evaluated, forwarded and published under the old
version the first time, and the key stage skips them when they come again. Switching at the
snapshot's clock would give them the new version here and leave the old one's results in the
key stage, and replace the recorded switch point, so no history could replay the run.

So a restored tenant whose snapshot's version has a recorded later switch (goldrush.patterns.applied:
tenant, version → `after`) beyond the snapshot's clock is restored into that earlier version's
tenant stage, and stays there until its watermark passes `after`: its events up to `after` are
released there, and it moves on at `after` exactly, as it did the first time (the record is written
again unchanged). It may go through several versions that way; past the last recorded switch it
switches to the running version at its clock, as any tenant saved under another version does.
A tenant whose earlier version this worker has not compiled switches at the snapshot's clock, as
before (logged).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable
from typing import Any

from goldrush.compiler.keygroups import Layout
from goldrush.dsl import Pattern
from goldrush.engine.stages import TenantStage
from goldrush.events.envelope import Event
from goldrush.events.match import Match

from .pattern_set import carry_versions

log = logging.getLogger("goldrush.worker")


def stamped(matches: list[Match], version: int) -> list[Match]:
    return [m if m.pattern_set_version is not None else dataclasses.replace(m, pattern_set_version=version)
            for m in matches]


class TenantVersions:
    def __init__(self) -> None:
        self.recorded: dict[str, dict[int, float | None]] = {}  # tenant → version → its switch point
        # earlier versions this worker can run, with their key groups' layouts
        self.patterns: dict[int, tuple[list[Pattern], Layout | None]] = {}
        self.stages: dict[int, TenantStage] = {}  # earlier version → its tenant stage (built when needed)
        self.behind: dict[str, int] = {}  # tenant → the earlier version it is evaluated under

    # -- what is known ---------------------------------------------------------------
    def remember(self, version: int, patterns: list[Pattern], layout: Layout | None = None) -> None:
        self.patterns.setdefault(version, (patterns, layout))

    def record(self, tenant: str, version: int, after: float | None) -> None:
        self.recorded.setdefault(tenant, {})[version] = after

    def learn(self, switches: Iterable[dict[str, Any]]) -> None:
        """Switch records read from goldrush.patterns.applied (at start)."""
        for s in switches:
            self.record(s["tenant"], s["version"], s.get("after"))

    def next_step(self, tenant: str, version: int, running: int) -> tuple[int, float | None]:
        """(the version the tenant moves to from `version`, the switch point): the lowest recorded
        switch above `version` up to the running version; else the running one, at once (None)."""
        later = [v for v in self.recorded.get(tenant, {}) if version < v <= running]
        if not later:
            return running, None
        v = min(later)
        return v, self.recorded[tenant][v]

    def stage(self, host: Any, version: int) -> TenantStage | None:
        stage = self.stages.get(version)
        if stage is None and version in self.patterns:
            split = host.cfg.key_stage and host.key_stage_runs
            patterns, layout = self.patterns[version]
            stage = self.stages[version] = TenantStage(patterns, allowed_lateness=host.cfg.lateness, split=split,
                                                       sequenced=split, version=version, layout=layout)
        return stage

    # -- restoring -------------------------------------------------------------------
    def hold_back(self, host: Any, tenant: str, snap: dict[str, Any]) -> bool:
        """Restore `snap`, saved under an earlier version than the running one, into the stage of the
        version the tenant was under at the snapshot's clock, if a recorded switch lies ahead of it.
        False: the caller restores it into the running stage and switches at the snapshot's clock."""
        version, clock = snap.get("version"), snap.get("clock")
        if version is None or host.version is None or version >= host.version:
            return False
        if clock is None:  # nothing evaluated yet (its events may all be buffered)
            clock = -math.inf
        while version != host.version:  # past the switches recorded at or before the snapshot's clock
            to, after = self.next_step(tenant, version, host.version)
            if after is None or after > clock:
                break
            version = to
        if version == host.version or self.next_step(tenant, version, host.version)[1] is None:
            return False
        stage = self.stage(host, version)
        if stage is None:
            log.warning("tenant %s: its snapshot is older than its recorded switch to pattern-set version %s, and "
                        "this worker has not compiled version %s: it switches at the snapshot's clock", tenant,
                        host.version, version)
            return False
        stage.engine.restore_tenant(tenant, snap)
        self.behind[tenant] = version
        log.info("tenant %s resumes on pattern-set version %s until its recorded switch", tenant, version)
        return True

    # -- evaluating --------------------------------------------------------------------
    def push(self, host: Any, events: list[Event]) -> list[Match]:
        """Events of tenants held back, one by one: a tenant whose watermark would pass its switch point
        first releases its events up to that point under its version, then moves on."""
        out: list[Match] = []
        for ev in events:
            tenant = ev.tenant
            while True:
                version = self.behind.get(tenant)
                if version is None:
                    out += host.engine.push_many([ev])
                    break
                stage = self.stages[version]
                step = self.next_step(tenant, version, host.version)
                buf = stage.engine.buffer.tenant(tenant)
                if step[1] is None or max(buf.high, ev.timestamp) - stage.engine.lateness > step[1]:
                    out += self.move_on(host, tenant, step)
                    continue
                out += stamped(stage.engine.push_many([ev]), version)
                break
        return out

    def flush(self, host: Any, tenant: str) -> list[Match]:
        """The tenant went quiet: its buffer released, each event under the version it falls in."""
        out: list[Match] = []
        while (version := self.behind.get(tenant)) is not None:
            stage = self.stages[version]
            step = self.next_step(tenant, version, host.version)
            queue = stage.engine.buffer.tenant(tenant).queue
            if step[1] is not None and (not queue or queue[-1].timestamp <= step[1]):
                return out + stamped(stage.engine.flush_tenant(tenant), version)  # all before the switch point
            out += self.move_on(host, tenant, step)
        return out + host.engine.flush_tenant(tenant)

    def move_on(self, host: Any, tenant: str, step: tuple[int, float | None]) -> list[Match]:
        """The tenant crosses its next switch point (None: its clock): what is buffered up to it is
        evaluated under its version, the rest moves to the next one, with the flush floor above it."""
        version, (to, after) = self.behind.pop(tenant), step
        old = self.stages[version]
        matches = [] if after is None else stamped(old.engine.release_through(tenant, after), version)
        snap = old.engine.snapshot_tenant(tenant)
        old.engine.unload_tenant(tenant)
        target = host.stage if to == host.version else self.stage(host, to)
        if target is None:  # (not compiled: `hold_back` checks only the first) on to the running one
            to, after, target = host.version, None, host.stage
        if target is not host.stage:
            self.behind[tenant] = to
        carry_versions(old, target, version)
        engine = target.engine
        engine.restore_tenant(tenant, snap)
        if after is None:
            after = engine.clock.get(tenant)
        if after is not None:
            buf = engine.buffer.tenant(tenant)
            buf.floor = max(buf.floor, math.nextafter(after, math.inf))
        host.record_switch(tenant, to, after)
        return matches

    # -- the rest of the host ------------------------------------------------------------
    def unload(self, tenant: str) -> None:
        version = self.behind.pop(tenant, None)
        if version is not None:
            self.stages[version].engine.unload_tenant(tenant)

    def clear(self) -> None:
        for tenant in list(self.behind):
            self.unload(tenant)

    def state_size(self) -> int:
        return sum(stage.engine.state_size() for stage in self.stages.values())
