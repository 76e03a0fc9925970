"""The key stage across pattern-set versions (docs/semantics.md §7, docs/streaming.md).

A live switch happens on every worker between two of its batches, but the keyed messages the
tenant stages forwarded before it are still in flight. The tenant stage stamps each with the
version its events are evaluated under (`Keyed.version`), and the key stage evaluates them
with that version's key groups, not with whatever it runs when they arrive: that is what makes
`replay_versions` reproduce a switch of patterns keyed finer than the tenant.

So the key stage keeps the stages of the versions it has seen (a version whose key groups equal
its predecessor's shares its stage). A key's state lives in one of them. At the key's first
event of a newer version, the state moves there the way a restart moves it: definition ids
decide (unchanged patterns keep their state, edited or new ones start fresh and are counted in
`goldrush_states_reset_total`, removed ones are dropped). A key never moves back: an event of an
older version after that (a re-delivery, which its sequence number skips) is evaluated where the
key is.

A key's state only moves with it when its group keeps its number in the new version: the number
is part of the key's Kafka key and table key. Versions from the pattern store carry a layout that
keeps every `key_by`'s number while it is used (goldrush/compiler/keygroups.py). Without one (a
record written before layouts), groups are numbered by order: a renumbered group's keys are read
on other partitions, possibly by other workers, and start fresh there, as on a restart (counted).

A message of a version this worker does not have is never evaluated with another set. The agent
waits for it (`KeyStep.wait_for_versions`: the pattern watch adopts it, usually within a poll);
after `VERSION_WAIT` seconds, or at once in-process, its events are dead-lettered
(`unknown_pattern_set`) and the tenant stage is told "no matches", so its policy work goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from goldrush.compiler.keygroups import KeyGroup, Layout, partition_key
from goldrush.dsl import Pattern
from goldrush.engine.stages import KeyStage
from goldrush.events.codec import unpack

log = logging.getLogger("goldrush.worker")

VERSION_WAIT = 30.0  # seconds a keyed message of a version not adopted yet waits for it


class KeyVersions:
    def __init__(self) -> None:
        # earlier version → its key stage (the running one is `host.keys`; one whose groups equal the
        # next version's shares its stage)
        self.stages: dict[int, KeyStage] = {}
        # earlier versions read at start, with their layouts: staged on first use
        self.patterns: dict[int, tuple[list[Pattern], Layout | None]] = {}
        self.home: dict[str, int] = {}  # table key → the earlier version whose stage holds the key's state
        # False while the pattern watch has not read the earlier versions yet (after a start): a
        # message of an unknown earlier version then waits for it too
        self.complete = True

    def remember(self, version: int, patterns: list[Pattern], layout: Layout | None = None) -> None:
        """An earlier version, compiled: in-flight messages may still name it (after a restart)."""
        if version not in self.stages:
            self.patterns[version] = (patterns, layout)

    def stage(self, host: Any, version: int | None) -> KeyStage | None:
        """The key stage of `version` (None: the running one); None when this worker does not have it."""
        if version is None or version == host.version:
            return host.keys
        stage = self.stages.get(version)
        if stage is None and version in self.patterns:
            patterns, layout = self.patterns.pop(version)
            stage = self.stages[version] = KeyStage(patterns, version, layout)
        return stage

    def known(self, host: Any, version: int | None) -> bool:
        return host.version is None or version is None or self.stage(host, version) is not None

    def may_come(self, host: Any, version: int | None) -> bool:
        """Whether waiting can make `version` known: it is newer than the running one, or the earlier
        versions are not all read yet."""
        return not self.known(host, version) and (version > host.version or not self.complete)

    def switched(self, host: Any, previous: int | None, old: KeyStage) -> None:
        """`host.keys` is a new stage now (`agents/pattern_set.py`): the keys loaded in `old` stay there
        until their first event of the new version moves them."""
        if previous is None:  # nothing was stamped: the keys are read again from the table, as on a restart
            host.keys_loaded = set()
            return
        self.stages[previous] = old
        for group, key in host.keys_loaded:
            self.home[partition_key(group, key).decode()] = previous
        host.keys_loaded = set()

    def locate(self, host: Any, version: int | None, key_by: list[str], key: tuple, table_key: str,
               table: Any) -> tuple[KeyStage, KeyGroup, int | None] | None:
        """(stage, group, the version its matches carry) for an event of `key` evaluated under `version`, with
        the key's state loaded or moved there; None when that version has no group of `key_by`.
        The caller checked that `version` is known."""
        if host.version is None or version is None:  # not following goldrush.patterns, or an old sender
            version = host.version
        running = host.keys
        at = self.home.get(table_key)  # the version whose stage holds the key now (None: not in memory)
        if at is None and host.version is not None:
            group = running.group_of(key_by)
            if group is not None and (group.index, key) in host.keys_loaded:
                at = host.version
        target = version if at is None or version is None or version >= at else at  # never back
        if at is None and target is not None and host.version is not None and target < host.version:
            # not in memory (a restart): the version its snapshot was saved under is where it is
            saved, _ = self.saved(host, table, table_key)
            if saved is not None and saved > target:
                target = saved
        stage = self.stage(host, target)
        assert stage is not None
        group = stage.group_of(key_by)
        if group is None:
            return None
        if at is None:  # not in memory: from the table
            if stage is running:
                host.ensure_key_loaded(group.index, key, table_key, table)
            else:
                stored = host.key_snapshots.read(table, table_key)
                if stored is not None:
                    stage.restore(group.index, key, unpack(stored))
                    host.report_resets()
                self.home[table_key] = target
        elif at != target:  # its first event of a newer version: the state moves, as across a restart
            old = self.stage(host, at)
            old_group = None if old is None else old.group_of(key_by)
            snap = None if old is None or old_group is None else old.take(old_group.index, key)
            del self.home[table_key]
            if snap is not None:
                stage.restore(group.index, key, snap)
            if stage is running:
                host.keys_loaded.add((group.index, key))
            else:
                self.home[table_key] = target
            host.report_resets()
        # the version the event is evaluated under: the message's, also when it shares its stage
        return stage, group, version if self.stage(host, version) is stage else target

    def saved(self, host: Any, table: Any, table_key: str) -> tuple[int | None, dict | None]:
        """(the version the key's snapshot was saved under, if this worker has it; the snapshot): a
        message of an older version re-delivered after a restart must not take the key back there."""
        stored = host.key_snapshots.read(table, table_key)
        snap = None if stored is None else unpack(stored)
        version = None if snap is None else snap.get("version")
        return (version if type(version) is int and self.stage(host, version) is not None else None), snap

    def load_saved(self, host: Any, group: int, key: tuple, table_key: str, table: Any) -> bool:
        """A key not in memory that the tenant's progress judges (`EngineHost.on_progress`): when its
        snapshot was saved by an earlier version's stage, it is loaded there, not into the running
        one. Events of that version may still come for it (the progress note was sent before the
        switch, or the partition moved): in the running stage they would be evaluated with the new
        version. True when it is in an earlier version's stage now (`forget_idle` judges it)."""
        if table_key in self.home:
            return True
        if host.version is None:
            return False
        saved, snap = self.saved(host, table, table_key)
        if saved is None or saved >= host.version:
            return False
        stage = self.stage(host, saved)
        assert stage is not None
        if not 0 <= group < len(stage.groups):
            return False
        stage.restore(group, key, snap)
        host.report_resets()
        self.home[table_key] = saved
        return True

    def forget_idle(self, host: Any, tenant: str, partition: int, clock: float,
                    seq: int | None = None) -> list[tuple[str, int, tuple]]:
        """The tenant's progress read in `partition` (agents/key_expiry.py): its keys still in an
        earlier version's stage are forgotten when idle at `clock`, as `EngineHost.on_progress` does
        for the running stage's, so that keys with no event since a switch do not stay for ever.
        Returns (table key, group, key) of those forgotten; each stays at its version, with no
        state, until its snapshot's deletion is published (`unload_forgotten`)."""
        keys = host.key_index.keys.get((tenant, partition), {})
        gone = []
        for table_key, (group, key) in list(keys.items()):
            at = self.home.get(table_key)
            stage = None if at is None else self.stage(host, at)
            if stage is None or not 0 <= group < len(stage.groups):
                continue
            if stage.forget_idle(group, key, clock, seq):
                del keys[table_key]
                gone.append((table_key, group, key))
        host.key_index.forgotten += len(gone)
        return gone

    def unload_forgotten(self, gone: list[tuple[str, int, tuple]], touched: Any) -> None:
        for table_key, _, _ in gone:
            if table_key not in touched:
                self.home.pop(table_key, None)

    def state_size(self, host: Any) -> int:
        """Of the earlier versions' stages (the running one is `host.keys`)."""
        earlier = {id(stage): stage for stage in self.stages.values() if stage is not host.keys}
        return sum(stage.state_size() for stage in earlier.values())

    def clear(self) -> None:
        """Partitions moved: the keys of earlier versions are read again from the table when needed."""
        for stage in self.stages.values():
            stage.unload_all()
        self.home.clear()
