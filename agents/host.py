"""The two engine stages plus what the runtime needs around them: which tenants and keys are
loaded, offsets and source positions already applied, idle times.

Plain Python: the Faust tables are passed in, so this reads like the engine it wraps.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from goldrush.compiler.compiled import CompiledSet
from goldrush.compiler.keygroups import KeyGroup, Layout
from goldrush.dsl import Pattern
from goldrush.engine.stages import KeyStage, TenantStage
from goldrush.events.codec import from_row, unpack
from goldrush.events.envelope import Event
from goldrush.loader import load_patterns

from .config import WorkerConfig
from .key_expiry import KeyIndex
from .key_versions import KeyVersions
from .messages import EngineIn
from .pattern_set import adopt, switched
from .quiet_flush import BufferMarks
from .snapshot_store import SnapshotStore
from .table_keys import tenant_key
from .tenant_versions import TenantVersions

log = logging.getLogger("goldrush.worker")


class EngineHost:
    def __init__(self, cfg: WorkerConfig, patterns: list[Pattern] | None = None, version: int | None = None,
                 layout: Layout | None = None):
        """`patterns` (default: `cfg.patterns` loaded) as pattern-set `version` (None: not from the
        pattern-set topic), key groups numbered by `layout` (the version record's; None: by order);
        `adopt` changes them while running (agents/pattern_set.py)."""
        self.cfg = cfg
        self.version = version
        self.layout = layout
        # switch records not published yet: {"tenant", "version", "after"} (docs/semantics.md)
        self.switches: list[dict[str, Any]] = []
        compiled = self.compiled = CompiledSet(load_patterns(cfg.patterns) if patterns is None else patterns)
        self.stage = TenantStage(compiled, allowed_lateness=cfg.lateness, split=cfg.key_stage, version=version,
                                 layout=layout)
        self.engine = self.stage.engine
        self.keys = KeyStage(compiled, version, layout)
        self.key_versions = KeyVersions()  # the key stages of earlier versions (agents/key_versions.py)
        # tenants held back on an earlier version until their recorded switch (agents/tenant_versions.py)
        self.tenant_versions = TenantVersions()
        self.groups_by_key_by = {g.key_by: g for g in self.stage.groups if g.live}
        self.key_stage_runs = bool(self.stage.groups)  # the keyed and verdicts stages exist (agents/app.py)
        self.idle_after = max(self.engine.lateness, 1.0)
        self.loaded: set[str] = set()
        self.keys_loaded: set[tuple[int, Any]] = set()
        self.offsets: dict[str, int] = {}  # tenant → last engine-in offset applied
        # tenant → "topic/partition" of a source → [offset, index] of the last event applied from it.
        # A worker killed after forwarding but before committing its source offsets
        # forwards those events again; their source positions show they were applied.
        self.sources: dict[str, dict[str, list[int]]] = {}
        self.last_arrival: dict[str, float] = {}  # tenant → wall-clock time of its last event
        self.last_event: dict[str, Any] = {}  # tenant → its last engine-in stream event
        self.tenant_snapshots = SnapshotStore()
        self.key_snapshots = SnapshotStore()
        self.key_index = KeyIndex(self.key_snapshots, cfg.partitions)
        self.progress_sent: dict[str, tuple[int, float]] = {}  # tenant → (sequence number, wall time) last sent
        self.marks = BufferMarks()  # see agents/quiet_flush.py
        self.marks_scanned = False  # the marked tenants of this assignment are loaded
        self.resets_reported: set[str] = set()  # patterns whose changed definition was logged
        # resets counted by engines no longer in use (the tenant engine a switch replaced): the counter
        # in /metrics never goes down
        self.resets_retired: Counter[str] = Counter()
        # tenant → wall-clock time it was last used, oldest first (re-inserted on use): idle tenants
        # are unloaded (`unload_idle`), so memory follows the active tenants, not every tenant ever seen
        self.last_used: dict[str, float] = {}
        self.unpublished: Counter[str] = Counter()  # tenant → settled outcomes not published yet
        # Checkpoints (`Settler`): a busy tenant's snapshot is written every `checkpoint_every` seconds,
        # not after every batch. Until then its state is newer than the table's (`dirty`, → the last
        # stream record, whose changelog partition the snapshot goes to), and the records applied to it
        # stay uncommitted (`unacked`): after a crash they are read again, onto the older snapshot.
        self.checkpoint_every = cfg.checkpoint_every
        self.dirty: dict[str, Any] = {}
        self.unacked: dict[str, list[Any]] = {}
        self.snapshot_at: dict[str, float] = {}  # tenant → when its last snapshot was taken (monotonic)
        self.unloaded_total = 0

    # -- tenant stage ------------------------------------------------------------
    def ensure_loaded(self, tenant: str, table: Any, stream_event: Any = None) -> None:
        """Restore `tenant` from the table the first time one of its messages (`stream_event`) is seen."""
        self.used(tenant)
        if tenant in self.loaded:
            return
        stored = self.tenant_snapshots.read(table, tenant_key(tenant))
        snap = unpack(stored) if stored is not None else self.legacy_snapshot(tenant, table)
        if snap is not None:
            other = self.version is not None and snap.get("version") != self.version
            if not (other and self.tenant_versions.hold_back(self, tenant, snap)):
                self.engine.restore_tenant(tenant, snap)
                if other:
                    switched(self, tenant)  # saved under another version: this one applies from here
            self.report_resets()
            self.offsets[tenant] = snap.get("offset", -1)
            self.sources[tenant] = snap.get("sources", {})
            log.info("tenant %s restored from the changelog at engine-in offset %s", tenant, self.offsets[tenant])
            self.marks.loaded(tenant, table)
            if stream_event is not None:
                # Its restored buffer is flushed when the tenant stays quiet, as it would have been
                # before the restart, even if every message read now is a skipped re-delivery.
                self.arrived(tenant, stream_event)
        elif self.version is not None:
            self.record_switch(tenant, self.version, None)
        self.loaded.add(tenant)

    def record_switch(self, tenant: str, version: int, after: float | None) -> None:
        """`tenant` evaluates with `version` the events after `after` (for goldrush.patterns.applied)."""
        self.switches.append({"tenant": tenant, "version": version, "after": after})
        self.tenant_versions.record(tenant, version, after)

    def remember(self, version: int, patterns: list[Pattern], layout: Layout | None = None) -> None:
        """An earlier version, compiled, with its key groups' layout: in-flight keyed messages and
        tenants restored from older snapshots may still need it (after a restart)."""
        self.key_versions.remember(version, patterns, layout)
        self.tenant_versions.remember(version, patterns, layout)

    def stage_of(self, tenant: str) -> TenantStage:
        """The tenant stage `tenant` is evaluated in: the running one, or an earlier version's."""
        version = self.tenant_versions.behind.get(tenant)
        return self.stage if version is None else self.tenant_versions.stages[version]

    def tenant_stages(self) -> list[tuple[TenantStage, int | None]]:
        """Every tenant stage with its version, the running one first."""
        return [(self.stage, self.version), *((s, v) for v, s in self.tenant_versions.stages.items())]

    def on_verdicts(self, tenant: str, key_by: list[str], done: list[list]) -> None:
        """A key group's verdicts into the tenant's stage. A tenant held back on an earlier version
        (agents/tenant_versions.py) keeps those of a later version's group too: after a crash they
        are read again before the tenant reaches its switch point, and after it its events wait for
        them (the key stage skips the events it evaluated before, so it sends them no more)."""
        stage = self.stage_of(tenant)
        wanted = tuple(key_by)
        if (stage is not self.stage and stage.sequencer is not None and stage.verdict_bit(wanted) is None
                and any(s.verdict_bit(wanted) is not None for s, _ in self.tenant_stages())):
            stage.sequencer.accept([wanted])
        stage.on_verdicts(tenant, key_by, done)

    def push_many(self, events: list[Event]) -> list[Any]:
        """Events into their tenants' stages; the matches."""
        versions = self.tenant_versions
        if not versions.behind:
            return self.engine.push_many(events)
        held = [ev for ev in events if ev.tenant in versions.behind]
        matches = self.engine.push_many([ev for ev in events if ev.tenant not in versions.behind])
        return matches + versions.push(self, held)

    def flush_tenant(self, tenant: str) -> list[Any]:
        if tenant in self.tenant_versions.behind:
            return self.tenant_versions.flush(self, tenant)
        return self.engine.flush_tenant(tenant)

    def holds(self, tenant: str) -> bool:
        """Whether the tenant has events buffered."""
        return self.stage_of(tenant).engine.buffer.holds(tenant)

    def adopt(self, patterns: list[Pattern], version: int, layout: Layout | None = None) -> dict[str, int]:
        """Run `patterns` as pattern-set `version`, its key groups numbered by `layout`, from now on
        (between two batches); see agents/pattern_set.py."""
        return adopt(self, patterns, version, layout)

    def legacy_snapshot(self, tenant: str, table: Any) -> dict[str, Any] | None:
        """A snapshot stored under the bare tenant name, before keys were tagged (agents/table_keys.py).
        Taken only when it has a snapshot's shape: under that scheme a tenant's name could be another
        entry's key. The next write goes to the tagged key, which is read first from then on."""
        try:
            stored = self.tenant_snapshots.read(table, tenant)
            snap = None if stored is None else unpack(stored)
        except (LookupError, ValueError, TypeError):
            return None
        return snap if type(snap) is dict and type(snap.get("patterns")) is dict else None

    def states_reset(self) -> dict[str, int]:
        """Pattern → key states not restored because the pattern's definition changed since they were saved:
        in the running engines, the key stages of earlier versions (a key restored or moved there)
        and the engines a switch retired."""
        total = Counter(self.resets_retired)
        total.update(self.engine.states_reset)
        for stage in self.tenant_versions.stages.values():
            total.update(stage.engine.states_reset)
        stages = {id(stage): stage for stage in [self.keys, *self.key_versions.stages.values()]}
        for stage in stages.values():
            for engine in stage.engines:
                total.update(engine.states_reset)
        return dict(total)

    def report_resets(self) -> None:
        """Log, once per pattern, that a changed pattern starts fresh (its count is in /metrics)."""
        for name in self.states_reset().keys() - self.resets_reported:
            self.resets_reported.add(name)
            log.warning("pattern %r changed since its state was saved: that state is not restored and the "
                        "pattern starts fresh for each tenant and key (goldrush_states_reset_total)", name)

    def snapshot(self, tenant: str) -> dict[str, Any]:
        held = self.tenant_versions.behind.get(tenant)
        snap = self.stage_of(tenant).engine.snapshot_tenant(tenant)
        snap["offset"] = self.offsets.get(tenant, -1)
        snap["sources"] = self.sources.get(tenant, {})
        if self.version is not None:
            snap["version"] = self.version if held is None else held
        return snap

    def fresh(self, tenant: str, message: EngineIn) -> list[Event]:
        """The events of an engine-in message not applied before, by their source position
        (topic, partition, offset, index in the message); see agents/messages.py."""
        return self.fresh_of(tenant, message.rows, message.runs, from_row)

    def fresh_of(self, tenant: str, items: list, runs: list, convert: Any = None) -> list:
        """`fresh` for `items` in the order of `runs`, each made `convert(tenant, item)` (None: taken as they are)."""
        seen = self.sources.setdefault(tenant, {})
        out: list = []
        at = 0
        for topic, partition, offset, indexes in runs:
            source = f"{topic}/{partition}"
            last = seen.get(source)
            part = items[at:at + len(indexes)]
            if last is not None and [offset, indexes[0]] <= last:  # a re-delivery, at least in part
                part = [item for item, index in zip(part, indexes, strict=True) if [offset, index] > last]
            out += part if convert is None else [convert(tenant, item) for item in part]
            at += len(indexes)
            if last is None or [offset, indexes[-1]] > last:
                seen[source] = [offset, indexes[-1]]
        return out

    def arrived(self, tenant: str, stream_event: Any, now: float | None = None) -> None:
        """A message of `tenant` came in: its idle flush is timed from now and writes through `stream_event`."""
        self.last_arrival[tenant] = time.monotonic() if now is None else now
        self.last_event[tenant] = stream_event

    def idle_tenants(self, now: float | None = None) -> list[str]:
        """Tenants quiet for `idle_after` whose reorder buffers hold events. A tenant with nothing
        buffered is let go of here: its last stream event holds a whole engine-in message."""
        now = time.monotonic() if now is None else now
        holds = self.holds
        idle = []
        for tenant, seen in list(self.last_arrival.items()):
            if not holds(tenant):
                del self.last_arrival[tenant], self.last_event[tenant]
            elif now - seen >= self.idle_after:
                idle.append(tenant)
        return idle

    # -- checkpoints -------------------------------------------------------------------
    def applied(self, tenant: str, record: Any) -> None:
        """`record` changed the tenant's state: it is committed with the tenant's next snapshot."""
        pending = self.unacked.get(tenant)
        if pending is None:
            pending = self.unacked[tenant] = []
        pending.append(record)

    def covered(self, tenant: str, record: Any, acks: list[Any]) -> None:
        """`record` changed nothing (a re-delivery, an unreadable message): committed with the
        tenant's next snapshot if its state is ahead of the table, else at once (into `acks`)."""
        if tenant in self.dirty:
            self.applied(tenant, record)
        else:
            acks.append(record)

    def checkpoint_due(self, tenant: str, now: float) -> bool:
        every = self.checkpoint_every
        return every <= 0 or now - self.snapshot_at.get(tenant, -every) >= every

    def due_checkpoints(self, now: float) -> dict[str, Any]:
        """Dirty tenants whose snapshot is due (→ their last stream record)."""
        return {tenant: record for tenant, record in self.dirty.items() if self.checkpoint_due(tenant, now)}

    def checkpointed(self, tenant: str, now: float) -> list[Any]:
        """The tenant's snapshot is taken now: the records it covers, to commit once it is written."""
        self.dirty.pop(tenant, None)
        self.snapshot_at[tenant] = min(now, time.monotonic())  # `now` may be +inf (a final flush)
        return self.unacked.pop(tenant, [])

    def used(self, tenant: str, now: float | None = None) -> None:
        self.last_used.pop(tenant, None)
        self.last_used[tenant] = time.monotonic() if now is None else now

    def settled(self, tenants: Iterable[str]) -> None:
        """Snapshots of `tenants` were taken; until `published`, their state is newer than the table's."""
        self.unpublished.update(list(tenants))  # a list: a mapping would be taken for counts

    def published(self, tenants: Iterable[str]) -> None:
        tenants = list(tenants)
        self.unpublished.subtract(tenants)
        for tenant in tenants:
            if self.unpublished[tenant] <= 0:
                del self.unpublished[tenant]

    def unload_idle(self, idle_for: float, now: float | None = None) -> list[str]:
        """Unload tenants unused for `idle_for` seconds whose state is all in the table: nothing
        buffered, no policy work waiting, every snapshot written. The next message reloads them."""
        now = time.monotonic() if now is None else now
        gone = []
        for tenant, at in list(self.last_used.items()):
            if now - at < idle_for:
                break  # oldest first: the rest were used later
            if (self.holds(tenant) or self.stage_of(tenant).waiting(tenant) or tenant in self.unpublished
                    or tenant in self.last_arrival or tenant in self.dirty):
                self.used(tenant, now)  # busy: look again after another `idle_for`
                continue
            del self.last_used[tenant]
            if tenant in self.loaded:
                self.unload_tenant(tenant)
                gone.append(tenant)
        self.unloaded_total += len(gone)
        return gone

    def unload_tenant(self, tenant: str) -> None:
        self.engine.unload_tenant(tenant)
        self.tenant_versions.unload(tenant)
        self.loaded.discard(tenant)
        self.offsets.pop(tenant, None)
        self.sources.pop(tenant, None)
        self.progress_sent.pop(tenant, None)
        self.marks.marked.discard(tenant)
        self.dirty.pop(tenant, None)
        self.unacked.pop(tenant, None)
        self.snapshot_at.pop(tenant, None)

    # -- key stage -----------------------------------------------------------------
    def group(self, key_by: list[str]) -> KeyGroup | None:
        """The loaded key group with this `key_by` (messages name it, not an index, so that a
        changed pattern set never evaluates a key under another group's patterns)."""
        return self.groups_by_key_by.get(tuple(key_by))

    def ensure_key_loaded(self, group: int, key: tuple, table_key: str, table: Any) -> None:
        if (group, key) in self.keys_loaded:
            return
        stored = self.key_snapshots.read(table, table_key)
        if stored is not None:
            self.keys.restore(group, key, unpack(stored))
            self.report_resets()
        self.keys_loaded.add((group, key))

    def on_progress(self, tenant: str, partition: int, seq: int, clock: float,
                    table: Any) -> tuple[int, list[tuple[str, int, tuple]]]:
        """The tenant stage's progress read in a keyed partition: (the partition's new floor,
        (table key, group, key) of the keys forgotten). See agents/key_expiry.py.

        A forgotten key stays in `keys_loaded`, with no state, until its snapshot is deleted
        (`unload_forgotten`): loading it from the table before that would bring the old state back.
        """
        index = self.key_index
        floor = index.floors[tenant, partition] = max(index.floor(tenant, partition, table), seq)
        keys = index.keys.get((tenant, partition), {})
        gone = []
        for table_key, (group, key) in list(keys.items()):
            if (group, key) not in self.keys_loaded and self.key_versions.load_saved(self, group, key, table_key, table):
                continue  # saved by an earlier version: loaded there, its events of that version may still come
            if (not 0 <= group < len(self.keys.groups) or not self.keys.groups[group].live
                    or table_key in self.key_versions.home):
                continue  # written by another pattern set, or still in an earlier version's stage
            self.ensure_key_loaded(group, key, table_key, table)
            if self.keys.forget_idle(group, key, clock, seq):
                del keys[table_key]
                gone.append((table_key, group, key))
        index.forgotten += len(gone)
        return floor, gone

    def unload_forgotten(self, gone: list[tuple[str, int, tuple]], touched: Any) -> None:
        """Forgotten keys whose snapshots are deleted now, except those that got events again."""
        for table_key, group, key in gone:
            if table_key not in touched:
                self.keys_loaded.discard((group, key))

    def progress_due(self, tenant: str, every: float) -> tuple[int, float] | None:
        """The tenant's progress, if the key stage has not had it for `every` seconds and it moved."""
        progress = self.stage_of(tenant).progress(tenant)
        if progress is None:
            return None
        sent = self.progress_sent.get(tenant)
        now = time.monotonic()
        if sent is not None and (progress[0] <= sent[0] or now - sent[1] < every):
            return None
        self.progress_sent[tenant] = (progress[0], now)
        return progress

    # -- both ------------------------------------------------------------------------
    def unload_all(self) -> None:
        log.info("partitions revoked: unloading %d tenants and %d keys", len(self.loaded), len(self.keys_loaded))
        for tenant in list(self.loaded):
            self.engine.unload_tenant(tenant)
        self.tenant_versions.clear()
        self.loaded.clear()
        self.offsets.clear()
        self.sources.clear()
        self.last_arrival.clear()
        self.last_event.clear()
        self.marks.clear()
        self.marks_scanned = False
        self.keys.unload_all()
        self.keys_loaded.clear()
        self.key_versions.clear()
        self.tenant_snapshots.forget()
        self.key_snapshots.forget()
        self.key_index.clear()
        self.progress_sent.clear()
        self.last_used.clear()
        self.unpublished.clear()
        self.dirty.clear()  # their state is gone; their uncommitted records are read again
        self.unacked.clear()
        self.snapshot_at.clear()

    def state_size(self) -> int:
        return (self.engine.state_size() + self.keys.state_size() + self.key_versions.state_size(self)
                + self.tenant_versions.state_size())

    def policy_waiting(self) -> int:
        return sum(self.stage_of(t).waiting(t) for t in self.loaded)


def started_host(cfg: WorkerConfig, initial: tuple[Any, int | None, int, Any] | None = None,
                 history: tuple[list, list] | None = None) -> EngineHost:
    """The host a worker starts with. `initial`: (patterns, version, offset, layout) read from
    goldrush.patterns; `history`: (earlier versions, recorded switches) read with it
    (agents/pattern_watch.py `recorded_history`), for keyed messages still in flight and tenants
    restored from snapshots older than their recorded switch."""
    patterns, version, _, layout = initial if initial is not None else (None, None, 0, None)
    host = EngineHost(cfg, patterns, version, layout)
    earlier, switches = history if history is not None else ([], [])
    for number, earlier_patterns, earlier_layout in earlier:
        host.remember(number, earlier_patterns, earlier_layout)
    host.tenant_versions.learn(switches)
    return host
