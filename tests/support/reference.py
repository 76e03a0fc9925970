"""A plain, obviously-correct reference implementation of SEMANTICS.md.

No incremental state, no indexes, no generated code: every clause is computed
from the key's full history, exactly as the contract words it. It is slow on
purpose; the property tests check that the compiled engine agrees with it.
Patterns are read from their validated `Pattern` objects (the DSL is input);
expressions are interpreted from their nodes here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from scipy import stats

from goldrush.dsl import Concurrent, Frequency, Pattern, Recent, Sequence, Trend

MISSING = object()


@dataclass
class Ev:
    name: str
    ts: float
    tenant: str
    source: Any
    subsystem: Any
    data: dict
    id: str
    arrival: int


# -- §1 events -----------------------------------------------------------------
def ref_decode(obj: Any, arrival: int) -> Ev | None:
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = obj.get("name") if obj.get("name") is not None else obj.get("type")
    if isinstance(name, list) and name and all(isinstance(p, str) and p for p in name):
        name = ".".join(name)
    if not isinstance(name, str) or not name:
        return None
    ts = obj.get("timestamp") if obj.get("timestamp") is not None else meta.get("timestamp")
    if isinstance(ts, bool):
        return None
    if isinstance(ts, int | float):
        ts = float(ts)
    elif isinstance(ts, str):
        try:
            dt = datetime.fromisoformat(ts)
        except ValueError:
            return None
        ts = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    else:
        return None
    if not math.isfinite(ts):
        return None
    tenant = obj.get("tenant") if obj.get("tenant") is not None else meta.get("tenant")
    tenant = "default" if tenant is None else tenant
    data = obj.get("data", {})
    if not isinstance(data, dict) or not isinstance(tenant, str):
        return None
    return Ev(name, ts, tenant, obj.get("source"), obj.get("subsystem"), data, obj.get("id"), arrival)


# -- §2 expressions -------------------------------------------------------------
def is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def lookup(data: Any, path: tuple) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def value(node: tuple, data: dict) -> Any:
    kind = node[0]
    if kind == "field":
        return lookup(data, node[1])
    if kind == "const":
        return node[1]
    if kind == "arith":
        a, b = value(node[2], data), value(node[3], data)
        if not (is_num(a) and is_num(b)):
            return MISSING
        op = node[1]
        if op == "/" and b == 0:
            return MISSING
        return {"+": a + b, "-": a - b, "*": a * b}[op] if op != "/" else a / b
    raise AssertionError(node)


def compare(op: str, a: Any, b: Any) -> bool | None:
    if a is MISSING or b is MISSING or a is None or b is None:
        return None
    if is_num(a) and is_num(b):
        if math.isnan(a) or math.isnan(b):
            return None
    elif isinstance(a, str) and isinstance(b, str):
        pass
    elif isinstance(a, bool) and isinstance(b, bool):
        if op not in ("==", "!="):
            return None
    else:
        return None
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b, "!=": a != b}[op]


def truth(node: tuple, data: dict) -> bool | None:
    """Kleene three-valued logic: True, False or None (UNKNOWN)."""
    kind = node[0]
    if kind == "const":
        return node[1]
    if kind == "cmp":
        return compare(node[1], value(node[2], data), value(node[3], data))
    if kind == "and":
        vals = [truth(n, data) for n in node[1]]
        return False if False in vals else (True if all(v is True for v in vals) else None)
    if kind == "or":
        vals = [truth(n, data) for n in node[1]]
        return True if True in vals else (False if all(v is False for v in vals) else None)
    if kind == "not":
        v = truth(node[1], data)
        return None if v is None else not v
    if kind == "exists":
        v = value(node[1], data)
        return v is not MISSING and v is not None
    if kind == "isin":
        v = value(node[1], data)
        if v is MISSING or v is None:
            return None
        for m in node[2]:
            if is_num(v) and is_num(m) and v == m:
                return True
            if type(v) is type(m) and not is_num(v) and v == m:
                return True
        return False
    raise AssertionError(node)


def name_matches(glob: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.fullmatch(regex, name, re.DOTALL) is not None


def spec_matches(spec, ev: Ev) -> bool:
    if not name_matches(spec.name, ev.name):
        return False
    return spec.where is None or truth(spec.where, ev.data) is True


def sample(m, ev: Ev) -> float | None:
    if m.event is not None and not name_matches(m.event, ev.name):
        return None
    v = lookup(ev.data, m.path)
    if is_num(v) and math.isfinite(v):
        return float(v)
    return None


# -- §5 durative clauses, computed from the whole history -------------------------
def holds(clause, history: list[Ev], t: float) -> bool:
    if isinstance(clause, Frequency):
        c = sum(1 for e in history if spec_matches(clause.spec, e) and t - clause.within < e.ts <= t)
        return compare(clause.count[0], c, clause.count[1]) is True
    if isinstance(clause, Recent):
        return any(spec_matches(clause.spec, e) and t - clause.within < e.ts <= t for e in history)
    if isinstance(clause, Concurrent):
        for spec in clause.specs_:
            named = [e for e in history if name_matches(spec.name, e.name)]
            if not named:
                return False
            latest = named[-1]
            if not (spec.where is None or truth(spec.where, latest.data) is True):
                return False
            if clause.within is not None and t - latest.ts > clause.within:
                return False
        return True
    if isinstance(clause, Trend):
        pts = [(e.ts, sample(clause.metric, e)) for e in history]
        pts = [(ts, v) for ts, v in pts if v is not None and t - clause.duration < ts <= t]
        if len(pts) < max(3, clause.min_samples):
            return False
        x = np.array([p[0] for p in pts])
        y = np.array([p[1] for p in pts])
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            return False
        xc = x - x.mean()
        b = float((xc * (y - y.mean())).sum() / (xc * xc).sum())
        if b == 0:
            return False
        resid = y - (y.mean() + b * xc)
        n = len(pts)
        if np.var(resid) <= 1e-12 * np.var(y):
            conf = 1.0
        else:
            se = math.sqrt((resid**2).sum() / (n - 2) / (xc * xc).sum())
            conf = float(stats.t.cdf(abs(b) / se, n - 2))
        agrees = b > 0 if clause.direction == "increasing" else b < 0
        return agrees and conf >= clause.confidence
    raise AssertionError(clause)


# -- §4 keys and order --------------------------------------------------------------
KEY_NAN = float("nan")  # one object for every NaN key value: NaN != NaN, but it is one key


def key_of(pattern: Pattern, ev: Ev) -> tuple | None:
    out = []
    for k in pattern.key_by:
        v = getattr(ev, k) if k in ("tenant", "source", "subsystem") else lookup(ev.data, tuple(k.split(".")))
        if v is None or v is MISSING:
            return None
        if isinstance(v, dict | list):
            v = json.dumps(v, sort_keys=True, separators=(",", ":"))
        elif isinstance(v, float) and math.isnan(v):
            v = KEY_NAN  # every NaN is one key
        if isinstance(v, str) and len(v) > 256:
            return None  # too long to be a key value: like a missing field
        out.append(v)
    return tuple(out)


def processing_order(events: list[Ev], lateness: float) -> tuple[list[Ev], list[Ev]]:
    """Per tenant: late events, and the others sorted by (time, arrival).

    An event whose id an accepted event of its tenant carried, with a timestamp at or above
    the tenant's watermark when it arrives, is a duplicate: left out, and it moves no clock."""
    high: dict[str, float] = {}
    kept, late = [], []
    for e in events:
        h = high.get(e.tenant, -math.inf)
        if e.id is not None and any(k.tenant == e.tenant and k.id == e.id and k.ts >= h - lateness for k in kept):
            continue
        h = max(h, e.ts)
        high[e.tenant] = h
        (late if e.ts < h - lateness else kept).append(e)
    return sorted(kept, key=lambda e: (e.ts, e.arrival)), late


def relevant(pattern: Pattern, ev: Ev) -> bool:
    for c in pattern.clauses:
        for spec in c.specs():
            if name_matches(spec.name, ev.name):
                return True
        for m in c.metrics():
            if sample(m, ev) is not None:
                return True
    return False


# -- §5.1 sequence and §6 patterns ---------------------------------------------------
def run_pattern(pattern: Pattern, tenant_events: list[Ev]) -> list[tuple]:
    seq: Sequence | None = pattern.sequence
    durative = [c for c in pattern.clauses if not isinstance(c, Sequence)]
    histories: dict[tuple, list[Ev]] = {}
    partials: dict[tuple, list[list[Ev]]] = {}
    was_true: dict[tuple, bool] = {}
    cool_until: dict[tuple, float] = {}
    out = []
    for pos, ev in enumerate(tenant_events):
        key = key_of(pattern, ev)
        if key is None:
            continue
        history = histories.setdefault(key, [])
        history.append(ev)
        if not relevant(pattern, ev):
            continue
        t = ev.ts
        matched = None
        if seq is not None:
            fired = None
            if any(name_matches(s.name, ev.name) for s in seq.steps):
                steps, n = seq.steps, len(seq.steps)
                survivors, completed = [], []
                for p in partials.get(key, []):
                    k = len(p)
                    if seq.within is not None and t - p[0].ts > seq.within:
                        continue
                    if steps[k].within is not None and t - p[-1].ts > steps[k].within:
                        continue
                    if spec_matches(steps[k], ev):
                        (completed if k + 1 == n else survivors).append(p + [ev])
                    elif not seq.strict:
                        survivors.append(p)
                if spec_matches(steps[0], ev):
                    (completed if n == 1 else survivors).append([ev])
                partials[key] = survivors
                if completed:
                    fired = min(completed, key=lambda occ: history.index(occ[0]))
            if fired is not None and all(holds(c, history, t) for c in durative):
                partials[key] = []
                matched = fired
        else:
            now = all(holds(c, history, t) for c in durative)
            if now and not was_true.get(key, False):
                matched = [ev]
            was_true[key] = now
        if matched is None:
            continue
        if key in cool_until and t < cool_until[key]:
            continue
        if pattern.cooldown is not None:
            cool_until[key] = t + pattern.cooldown
        out.append((pos, (pattern.name, ev.tenant, dict(zip(pattern.key_by, key, strict=True)), t,
                          [e.id for e in matched])))
    return out


def reference_replay(patterns: list[Pattern], inputs: list[Any], lateness: float):
    """(matches per tenant in order, late event ids, rejected input indexes)."""
    events, rejected = [], []
    for i, obj in enumerate(inputs):
        ev = ref_decode(obj, i)
        (rejected.append(i) if ev is None else events.append(ev))
    ordered, late = processing_order(events, lateness)
    per_tenant: dict[str, list[tuple]] = {}
    for tenant in dict.fromkeys(e.tenant for e in ordered):
        tenant_events = [e for e in ordered if e.tenant == tenant]
        # At one event, matches come in the order of `patterns`.
        found = []
        for order, p in enumerate(patterns):
            found += [(pos, order, m) for pos, m in run_pattern(p, tenant_events)]
        per_tenant[tenant] = [m for _, _, m in sorted(found, key=lambda f: (f[0], f[1]))]
    return per_tenant, [e.id for e in late], rejected
