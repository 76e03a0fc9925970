"""The engine split in a tenant stage and a key stage gives replay's matches and actions.

A small in-process model of the streaming runtime: key-stage messages go to
partitions by key, and messages are delivered in random interleavings — the
key stage's verdicts come back out of order across keys. Workers move (state
goes through JSON snapshots) and the tenant stage crashes back to an older
snapshot with its uncommitted input delivered again, as Kafka does.
"""

from __future__ import annotations

import random
from collections import deque

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goldrush import F, Pattern, event, frequency, metric, recent, replay, sequence, trend
from goldrush.actions import AlgedonicAlert, AutoScale, CoordinationAdjustment
from goldrush.compiler.keygroups import partition_key, split_key_groups
from goldrush.engine import engine as engine_module
from goldrush.engine.stages import KeyStage, TenantStage
from goldrush.events.codec import pack, unpack
from goldrush.events.envelope import decode
from tests.support.strategies import patterns, streams

PARTITIONS = 3


def roundtrip(data):
    """Through the JSON the worker writes to its internal topics and tables."""
    return unpack(pack(data))


class Pipeline:
    """Both stages with queues between them; `step` delivers one message chosen at random."""

    def __init__(self, pats: list[Pattern], lateness: float, rnd: random.Random):
        self.pats, self.lateness, self.rnd = pats, lateness, rnd
        self.floors: dict[tuple[str, int], int] = {}  # (tenant, partition) → floor (agents/key_expiry.py)
        self.forgotten = 0
        self.tenant = TenantStage(pats, allowed_lateness=lateness)
        self.key = KeyStage(pats)
        self.to_keys: list[deque] = [deque() for _ in range(PARTITIONS)]
        self.to_tenant: deque = deque()
        self.matches: list[dict] = []
        self.actions: list[dict] = []
        self.checkpoint: tuple | None = None  # (tenant snapshot, input position, verdicts since)
        self.position = 0

    def _collect(self, matches: list) -> None:
        self.matches += [m.to_dict() for m in matches]
        self.actions += [a.to_dict() for a in self.tenant.drain_actions()]
        tenants = set()
        for group, key, seq, ev in self.tenant.drain_outbox():
            wire = decode(roundtrip(ev.to_dict()))  # as the keyed topic carries it
            self.to_keys[self.partition(group, key)].append((group, tuple(roundtrip(list(key))), [(seq, wire)]))
            tenants.add(ev.tenant)
        for tenant in tenants:  # progress after the forwards, to every partition: idle keys go
            progress = self.tenant.progress(tenant)
            if progress is not None and self.rnd.random() < 0.5:
                for queue in self.to_keys:
                    queue.append(("progress", tenant, progress))

    @staticmethod
    def partition(group: int, key: tuple) -> int:
        return hash(partition_key(group, key)) % PARTITIONS

    def push(self, events: list) -> None:
        self._collect(self.tenant.engine.push_many(events))
        self.position += len(events)

    def flush(self) -> None:
        self._collect(self.tenant.engine.flush())

    def pending(self) -> list[deque]:
        return [q for q in (*self.to_keys, self.to_tenant) if q]

    def deliver_verdict(self) -> None:
        tenant, group, done = self.to_tenant.popleft()
        self.tenant.on_results(tenant, group, roundtrip(done))
        if self.checkpoint is not None:
            self.checkpoint[2].append((tenant, group, done))
        self._collect([])

    def step(self) -> None:
        queue = self.rnd.choice(self.pending())
        if queue is self.to_tenant:
            self.deliver_verdict()
        else:
            p = next(i for i, q in enumerate(self.to_keys) if q is queue)
            group, key, events = queue.popleft()
            if group == "progress":
                tenant, (seq, clock) = key, events
                self.floors[tenant, p] = max(self.floors.get((tenant, p), 0), seq)
                for g, k in list(self.key.last):
                    if k[0] == tenant and self.partition(g, k) == p and self.key.forget_idle(g, k, clock):
                        self.forgotten += 1
                return
            matches, done = self.key.apply(group, key, events, floor=self.floors.get((key[0], p), 0))
            self.matches += [m.to_dict() for m in matches]
            if self.key.groups[group].has_actions:
                self.to_tenant.append((key[0], group, done))

    def move(self) -> None:
        """Every partition moves to a new worker: state only through JSON snapshots."""
        old_t, old_k = self.tenant, self.key
        self.tenant = TenantStage(self.pats, allowed_lateness=self.lateness)
        self.tenant.engine.restore(roundtrip(old_t.engine.snapshot()))
        self.key = KeyStage(self.pats)
        for group, key in old_k.last:
            self.key.restore(group, key, roundtrip(old_k.snapshot(group, key)))

    def save(self) -> None:
        self.checkpoint = (roundtrip(self.tenant.engine.snapshot()), self.position, [])

    def crash(self, events: list) -> None:
        """The tenant stage restarts from its last snapshot: input and verdicts since come again.

        Verdicts already in flight may arrive before the input is redone: they are
        then ahead of the tenant stage and must be kept until their events come again.
        """
        assert self.checkpoint is not None
        snap, position, verdicts = self.checkpoint
        self.checkpoint = None
        self.tenant = TenantStage(self.pats, allowed_lateness=self.lateness)
        self.tenant.engine.restore(snap)
        self.to_tenant.extendleft(reversed(verdicts))
        if self.rnd.random() < 0.5:
            while self.to_tenant:
                self.deliver_verdict()
        upto, self.position = self.position, position
        self.push(events[position:upto])

    def run(self, events: list, chunks: list[int], moves: set[int], crash_at: int | None) -> None:
        for n, size in enumerate(chunks):
            if n == crash_at:
                self.save()
            if crash_at is not None and n == crash_at + 3:
                self.crash(events)
            self.push(events[self.position:self.position + size])
            for _ in range(self.rnd.randint(0, 4)):
                if self.pending():
                    self.step()
            if n in moves:
                self.move()
        self.push(events[self.position:])
        self.flush()
        while self.pending():
            self.step()


def with_actions(p: Pattern, kind: int) -> Pattern:
    action = [AlgedonicAlert(signal="pain", severity="high", rate_limit=2, window=10),
              AutoScale(direction="scale_out", target="source", cooldown=3, min_instances=1, max_instances=4),
              AutoScale(direction="scale_out", cooldown=2, min_instances=1, max_instances=5),
              CoordinationAdjustment(cooldown=4)][kind]
    if isinstance(action, AutoScale) and action.target and "source" not in p.key_by:
        action = AlgedonicAlert(signal="pain", severity="high", rate_limit=2, window=10)
    return p.with_actions(action)


def check(pats: list[Pattern], events: list[dict], lateness: float, seed: int, crash: bool = False) -> Pipeline:
    expected = replay(pats, events, allowed_lateness=lateness, actions=True)
    rnd = random.Random(seed)
    chunks = [rnd.randint(1, 6) for _ in range(len(events))]
    pipe = Pipeline(pats, lateness, rnd)
    pipe.run([decode(e) for e in events], chunks, {rnd.randrange(len(chunks))} if chunks else set(),
             rnd.randrange(len(chunks) - 3) if crash and len(chunks) > 4 else None)
    # Records compared by repr: a key value may be NaN (a data field), and NaN != NaN.
    by_id: dict[str, str] = {}
    for m in pipe.matches:
        assert by_id.setdefault(m["match_id"], repr(m)) == repr(m)  # duplicates (after a crash) are identical
    assert by_id == {m.match_id: repr(m.to_dict()) for m in expected.matches}
    acts: dict[str, str] = {}
    for a in pipe.actions:
        assert acts.setdefault(a["action_id"], repr(a)) == repr(a)
    assert acts == {a.action_id: repr(a.to_dict()) for a in expected.actions}
    if not crash:  # without a crash, each match and action exactly once
        assert len(pipe.matches) == len(expected.matches)
        assert len(pipe.actions) == len(expected.actions)
    return pipe


@st.composite
def with_instance_reports(draw, events_strategy):
    events = draw(events_strategy)
    for ev in events:
        if draw(st.integers(0, 5)) == 0:
            ev["data"]["instances"] = draw(st.sampled_from([1, 2, 3, 4, "x"]))
    return events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p1=patterns("p1"), p2=patterns("p2"), p3=patterns("p3"), kinds=st.lists(st.integers(0, 3), min_size=3,
       max_size=3), events=with_instance_reports(streams(max_size=60)), lateness=st.sampled_from([0, 2]),
       seed=st.integers(0, 10_000), crash=st.booleans())
def test_stages_agree_with_replay(p1, p2, p3, kinds, events, lateness, seed, crash):
    p1 = Pattern.from_dict({**p1.to_dict(), "key_by": ["tenant", "source"]})  # one key group at least
    pats = [with_actions(p, k) for p, k in zip((p1, p2, p3), kinds, strict=True)]
    check(pats, events, lateness, seed, crash)


def test_sweeping_idle_state_on_every_event_changes_nothing(monkeypatch):
    """Keys of one tenant reach the key stage out of step with each other (different
    partitions): a sweep there at the tenant's clock dropped window contents a key still
    needed, and its next burst did not match. Sources take turns in bursts 30 s apart."""
    monkeypatch.setattr(engine_module, "SWEEP_EVERY", 1)
    p = Pattern("bursts", frequency(event("err"), (">=", 2), "10s"), key_by=("tenant", "source"),
                action=AlgedonicAlert(signal="pain", severity="high", rate_limit=3, window=60))
    events = [{"name": "err", "timestamp": 1000 + 30 * i + j, "id": f"e{i}-{j}", "tenant": "t",
               "source": f"s{i % 3}", "data": {}} for i in range(12) for j in range(3)]
    for seed in range(20):
        check([p], events, 0, seed)


def test_keys_idle_at_the_tenants_progress_are_forgotten_and_come_back_fresh():
    """Sources take turns in bursts 30 s apart, each burst ending below the threshold (a key
    whose last relevant event held keeps its edge, SEMANTICS §6): each key is idle long before
    its next burst."""
    p = Pattern("bursts", frequency(event("err"), (">=", 2), "1s"), key_by=("tenant", "source"),
                action=AlgedonicAlert(signal="pain", severity="high", rate_limit=3, window=60))
    events = [{"name": "err", "timestamp": 1000 + 30 * i + dt, "id": f"e{i}-{j}", "tenant": "t",
               "source": f"s{i % 3}", "data": {}} for i in range(12) for j, dt in enumerate((0, 0.5, 5))]
    forgotten = sum(check([p], events, 0, seed, crash=seed % 2 == 1).forgotten for seed in range(20))
    assert forgotten > 20


def test_a_forgotten_key_skips_re_deliveries_at_or_below_the_floor():
    p = Pattern("pair", sequence(event("a"), event("b"), within="1m"), key_by=("tenant", "source"))
    ev = [decode({"name": n, "timestamp": 1000 + i, "id": f"e{i}", "tenant": "t", "source": "s", "data": {}})
          for i, n in enumerate("abb")]
    ks = KeyStage([p])
    key = ("t", "s")
    ks.apply(0, key, [(1, ev[0])])
    assert not ks.forget_idle(0, key, 1001)  # the `a` is still open: not idle
    found, _ = ks.apply(0, key, [(2, ev[1])])
    assert [m.event_ids for m in found] == [["e0", "e1"]]
    assert ks.forget_idle(0, key, 2000)
    assert ks.apply(0, key, [(1, ev[0]), (2, ev[1])], floor=2) == ([], [])  # re-delivered: skipped
    found, done = ks.apply(0, key, [(4, ev[2])], floor=2)
    assert found == [] and done == [[4, []]]  # a fresh key: a `b` alone completes nothing


def test_a_key_ahead_of_a_stale_progress_note_is_not_forgotten():
    """A tenant stage restarted from an older snapshot numbers its events again and sends progress
    (S, W) for a point the key has passed: forgetting the key there would drop its last sequence
    number, and the floor S would not skip the events it applied above S, evaluated again fresh."""
    p = Pattern("pair", sequence(event("a"), event("b"), within="1m"), key_by=("tenant", "source"))
    ev = [decode({"name": n, "timestamp": 1000 + i, "id": f"e{i}", "tenant": "t", "source": "s", "data": {}})
          for i, n in enumerate("ab")]
    ks = KeyStage([p])
    key = ("t", "s")
    ks.apply(0, key, [(1, ev[0]), (5, ev[1])])
    assert not ks.forget_idle(0, key, 2000, seq=3)  # the note is older than the key's state
    assert ks.apply(0, key, [(5, ev[1])], floor=3) == ([], [])  # so its re-delivery is still skipped
    assert ks.forget_idle(0, key, 2000, seq=5)


def test_nan_key_values_are_one_key_whatever_float_object_holds_them():
    """NaN != NaN: keys holding NaN used to be equal only when they held the same object,
    so events parsed separately (and every event the key stage reads back) never shared one."""
    p = Pattern("twice", frequency(event("err"), (">=", 2), "1m"), key_by=("tenant", "s"))
    events = [{"name": "err", "timestamp": 1000 + i, "id": f"e{i}", "tenant": "t", "data": {"s": float("nan")}}
              for i in range(2)]
    assert events[0]["data"]["s"] is not events[1]["data"]["s"]
    assert [m.event_ids for m in replay([p], events)] == [["e1"]]
    check([p], events, 0, 0)
    # The key stage gets the key from a message and its state from a snapshot: new NaN objects.
    before = KeyStage([p])
    before.apply(0, tuple(roundtrip(["t", float("nan")])), [(1, decode(events[0]))])
    after = KeyStage([p])
    after.restore(0, tuple(roundtrip(["t", float("nan")])), roundtrip(before.snapshot(0, ("t", float("nan")))))
    assert after.apply(0, tuple(roundtrip(["t", float("nan")])), [(1, decode(events[0]))]) == ([], [])  # applied before
    found, _ = after.apply(0, tuple(roundtrip(["t", float("nan")])), [(2, decode(events[1]))])
    assert [m.event_ids for m in found] == [["e1"]]  # the first event's count came back


def test_verdicts_out_of_order_keep_the_tenants_policy_order():
    """Alerts of one tenant share a rate limit across sources: which alerts pass depends on
    the order of the matches, which the key stage's verdicts do not come back in."""
    noisy = Pattern("noisy", frequency(event("err"), (">=", 2), "10s"), key_by=("tenant", "source"),
                    action=AlgedonicAlert(signal="pain", severity="high", rate_limit=3, window=60))
    local = Pattern("local", sequence(event("err", F.code == 500)),
                    action=AlgedonicAlert(signal="pain", severity="high", rate_limit=3, window=60))
    events = [{"name": "err", "timestamp": 1000 + i, "id": f"e{i}", "tenant": "t", "source": f"s{i % 4}",
               "data": {"code": 500 if i % 5 == 0 else 400}} for i in range(40)]
    expected = replay([noisy, local], events, actions=True)
    assert len(expected.actions) == 3 and len(expected.matches) > 3  # the rate limit held some back
    for seed in range(20):
        check([noisy, local], events, 2, seed)


def test_only_relevant_events_with_a_key_go_to_a_key_group():
    p = Pattern("p", frequency(event("a.*"), (">", 1), "1m"), key_by=("tenant", "source"))
    q = Pattern("q", recent(event("b")), key_by=("tenant", "host"), action=CoordinationAdjustment())
    t = Pattern("t", trend(metric("load", event="c"), "increasing"), key_by=("tenant", "host"))
    local, groups = split_key_groups([p, q, Pattern("r", recent(event("a.x"))), t])
    assert [x.name for x in local] == ["r"]
    assert [(g.key_by, g.has_actions) for g in groups] == [(("tenant", "source"), False), (("tenant", "host"), True)]
    stage = TenantStage([p, q, Pattern("r", recent(event("a.x"))), t], allowed_lateness=0)
    events = [{"name": "a.x", "timestamp": 1, "tenant": "t", "source": "s", "data": {"host": "h"}},
              {"name": "a.x", "timestamp": 2},  # no source: not seen by p
              {"name": "b", "timestamp": 3, "data": {"host": "h"}},
              {"name": "c", "timestamp": 4, "data": {"host": "h", "load": "high"}},  # no sample: not relevant
              {"name": "c", "timestamp": 5, "data": {"host": "h", "load": 0.5}}]
    stage.engine.push_many([decode(e) for e in events])
    sent = [(group, key, seq) for group, key, seq, _ in stage.drain_outbox()]
    assert sent == [(0, ("t", "s"), 1), (1, ("default", "h"), 2), (1, ("default", "h"), 4)]  # seq: per tenant
    assert (stage.waiting("t"), stage.waiting("default")) == (0, 2)  # group 0 has no actions: nothing waits for it


def test_a_verdict_for_a_missing_group_is_an_error():
    stage = TenantStage([Pattern("p", recent(event("a")))])
    try:
        stage.on_results("t", 0, [])
    except ValueError as exc:
        assert "no key groups" in str(exc)
    else:
        raise AssertionError("accepted")


def test_the_verdict_queue_survives_a_snapshot_with_many_groups():
    """Masks wider than a byte (more than 8 key groups) take the other snapshot form."""
    from goldrush.actions import AlgedonicAlert
    from goldrush.actions.policies import PolicyEngine
    from goldrush.actions.sequencer import PolicySequencer
    from goldrush.compiler.keygroups import split_key_groups

    alert = AlgedonicAlert(signal="pain", severity="low")
    _, groups = split_key_groups([Pattern(f"p{i}", recent(event("x")), key_by=("tenant", f"f{i}"), action=alert)
                                  for i in range(10)])
    for mask in (0b101, 1 << 9):
        seq = PolicySequencer(PolicyEngine(()), {}, groups)
        seq.next_seq("t")
        seq.wait("t", 1, mask)
        seq.seq["t"] = 5
        seq.wait("t", 5, 1)
        again = PolicySequencer(PolicyEngine(()), {}, groups)
        again.load(unpack(pack(seq.dump("t"))), "t")
        assert again.queue["t"] == seq.queue["t"] and again.seq["t"] == 5
