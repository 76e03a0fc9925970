"""`/explain?pattern=…&tenant=…[&key=…]`: the live clause states of a pattern for a tenant's keys.

Answers from the worker's own engines: the tenant stage for tenant-keyed patterns, the key
stage's group engine for finer `key_by`s. The states are read by `goldrush.explainer.states`,
which never changes them (expiring a key-stage window at the tenant's clock would lose events
the key still needs). Only what this worker holds is shown: a tenant or key whose partition
another worker owns is answered with 404 saying so.
"""

from __future__ import annotations

from typing import Any

from goldrush.compiler.compiled import CompiledPattern
from goldrush.engine.engine import Engine
from goldrush.explainer.checks import did_you_mean
from goldrush.explainer.states import key_states

MAX_KEYS = 100  # keys listed when no key is asked for


def _engines(host: Any) -> list[tuple[str, Engine]]:
    engines = [("tenant stage", host.engine)]
    engines += [(f"key stage, key_by {g.key_by}", e) for g, e in zip(host.keys.groups, host.keys.engines,
                                                                   strict=True) if g.live]
    return engines


def parse_key(text: str | None, key_by: tuple[str, ...]) -> dict[str, str]:
    """`source=checkout,region=eu` or the values alone in key_by order (`checkout,eu`)."""
    if not text:
        return {}
    parts = text.split(",")
    if all("=" in p for p in parts):
        return dict(p.split("=", 1) for p in parts)
    fields = key_by[1:]
    if len(parts) != len(fields):
        raise ValueError(f"key {text!r}: give {len(fields)} value(s) for {', '.join(fields) or 'no field'} "
                         f"(or FIELD=VALUE pairs)")
    return dict(zip(fields, parts, strict=True))


def explain_live(host: Any, pattern: str | None, tenant: str | None, key: str | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): the clause states of `pattern` for `tenant`'s keys on this worker."""
    names = [cp.name for _, e in _engines(host) for cp in e.compiled.patterns]
    if not pattern or not tenant:
        return 400, {"error": "give ?pattern=NAME&tenant=TENANT (and optionally &key=FIELD=VALUE,…)",
                     "patterns": names}
    found = [(where, e, cp) for where, e in _engines(host) for cp in e.compiled.patterns if cp.name == pattern]
    if not found:
        return 404, {"error": f"no pattern named {pattern!r}", "did_you_mean": did_you_mean(pattern, names),
                     "patterns": names}
    where, engine, cp = found[0]
    try:
        wanted = parse_key(key, cp.key_by)
    except ValueError as exc:
        return 400, {"error": str(exc), "key_by": list(cp.key_by)}
    per_pattern = engine.tenants.get(tenant)
    clock = engine.clock.get(tenant)
    if per_pattern is None and clock is None:
        return 404, {"error": f"tenant {tenant!r} has no state for {pattern!r} on this worker: it has sent "
                              "nothing since the worker started, its state expired, or another worker owns it",
                     "pattern": pattern, "tenant": tenant, "evaluated_by": where}
    return 200, _body(engine, cp, where, tenant, clock, wanted, {} if per_pattern is None else per_pattern[cp.index])


def _body(engine: Engine, cp: CompiledPattern, where: str, tenant: str, clock: float | None,
          wanted: dict[str, str], states: dict[Any, Any]) -> dict[str, Any]:
    keys = []
    for k, st in states.items():
        values = cp.key_dict(k)
        if any(str(values.get(f)) != v for f, v in wanted.items()):
            continue
        keys.append({"key": values, "was_true": st.was_true, "cooldown_until": st.cool_until,
                     "clauses": key_states(engine.compiled, cp, st, clock if clock is not None else 0.0)})
        if len(keys) >= MAX_KEYS:
            break
    buffered = engine.buffer.tenants.get(tenant)
    return {"pattern": cp.name, "tenant": tenant, "key_by": list(cp.key_by), "evaluated_by": where,
            "clock": clock, "buffered_events": 0 if buffered is None else len(buffered.queue),
            "keys": keys, "note": "a key with no state here behaves as a fresh one: nothing in its windows, "
                                  "no partial sequence"}


def register_explain_view(app: Any, host: Any) -> None:
    """Serve `/explain` and `/explain/` on the worker's web port."""

    async def view(web: Any, request: Any) -> Any:
        q = request.query
        status, body = explain_live(host, q.get("pattern"), q.get("tenant"), q.get("key"))
        return web.json(body, status=status)

    for variant in ("/explain", "/explain/"):
        app.page(variant, name=f"goldrush-explain{'-slash' if variant.endswith('/') else ''}")(view)
