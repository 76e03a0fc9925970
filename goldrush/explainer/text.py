"""Words for explanations: clause states and tallies as one line each, and the main reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from goldrush.dsl.durations import format_seconds


def when(t: float | None) -> str:
    """Event time as UTC wall time, to the millisecond when it has a fraction."""
    if t is None:
        return "—"
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + (f".{dt.microsecond // 1000:03d}" if dt.microsecond else "")


def span(seconds: float | None) -> str:
    return "—" if seconds is None else str(format_seconds(seconds))


def state_text(s: dict[str, Any]) -> str:
    """One clause state (explainer/states.py) in words."""
    op = s["op"]
    if op == "sequence":
        if s.get("fired_with"):
            return f"fired with events {', '.join(s['fired_with'])}"
        if not s.get("reached"):
            return f"no partial match (0 of {s['steps']} steps)"
        due = f", due by {when(s['deadline'])}" if s.get("deadline") is not None else ""
        return (f"reached step {s['reached']} of {s['steps']} at {when(s['at'])} (events "
                f"{', '.join(s['events'])}); waiting for step {s['reached'] + 1}: {s['next_step']}{due}")
    if op == "frequency":
        return f"count {s['count']} (needs {s['compare']} {s['threshold']:g} in {span(s['within'])})"
    if op == "trend":
        if s["slope_per_second"] is None:
            return (f"{s['samples']} samples in {span(s['duration'])}: too few to fit "
                    f"(needs {s['min_samples']}, {s['direction']})")
        return (f"slope {s['slope_per_second'] * 60:.4g}/min, confidence {s['confidence']:.3f} over "
                f"{s['samples']} samples (needs {s['direction']}, confidence ≥ {s['required_confidence']:g}, "
                f"≥ {s['min_samples']} samples)")
    if op == "recent":
        if s["holds"]:
            return f"last selected event at {when(s['last'])} (within {span(s['within'])})"
        return f"no selected event within {span(s['within'])}" + (
            f" (last at {when(s['last'])})" if s.get("last") is not None else "")
    if op == "concurrent":
        latest = ", ".join(when(ts) for ts in s["latest_true"])
        return f"latest event TRUE at: {latest}" + (f" (within {span(s['within'])})" if s["within"] else "")
    if op == "anomaly":
        if s.get("score") is None:
            return f"model {s['model']} has scored nothing yet"
        return (f"model {s['model']} score {s['score']:.3f} at {when(s['at'])} "
                f"(needs {s.get('compare', '')} {s.get('threshold', '')})")
    return str(s)


def spec_line(spec: dict[str, Any]) -> str:
    """A spec's tally: seen, selected, and the reasons the others were not."""
    parts = [f"seen {spec['seen']}", f"selected {spec['selected']}"]
    for cond, f in spec["false"].items():
        near = ""
        if "nearest" in f:
            near = f", nearest {f['nearest']['value']!r} at {when(f['nearest']['at'])}"
        elif "values" in f:
            near = ", values " + ", ".join(f"{v!r}×{n}" for v, n in f["values"])
        parts.append(f"FALSE {f['count']} ({cond}{near})")
    for why, n in spec["unknown"].items():
        parts.append(f"UNKNOWN {n} ({why})")
    if spec["late"]:
        parts.append(f"late {spec['late']}")
    for k, n in spec["without_key"].items():
        parts.append(f"without key field {k!r} {n}")
    return f"{spec['spec']}: " + ", ".join(parts)


def main_reason(doc: dict[str, Any]) -> str:
    """The one line a person wants first: why the pattern matched nothing (or how often it did)."""
    if doc["matches"]:
        return f"{len(doc['matches'])} match{'es' if len(doc['matches']) != 1 else ''}"
    clauses = doc["clauses"]
    specs = [(c, s) for c in clauses for s in c["specs"]]
    if specs and not any(s["seen"] or s["late"] or sum(s["without_key"].values()) for _, s in specs):
        names = ", ".join(dict.fromkeys(s["spec"] for _, s in specs))
        hint = doc.get("did_you_mean")
        return f"no event of {names} in the input" + (f" (did you mean {hint}?)" if hint else "")
    for c in clauses:
        for s in c["specs"]:
            if s["late"] and not s["seen"]:
                return (f"clause {c['label']}: all {s['late']} events of {s['spec']} came late "
                        f"(below their tenant's watermark; a larger allowed lateness would keep them)")
            lacking = sum(s["without_key"].values())
            if lacking and not s["seen"]:
                fields = ", ".join(repr(k) for k in s["without_key"])
                return f"clause {c['label']}: all {lacking} events of {s['spec']} lack key field {fields}"
    for c in clauses:
        if any(s["seen"] for s in c["specs"]) and not any(s["selected"] for s in c["specs"]):
            s = next(s for s in c["specs"] if s["seen"])
            return f"clause {c['label']}: no event selected — " + spec_line(s)
    for c in clauses:
        if not c["held"]:
            peak = c["peak"]
            best = state_text(peak) + f" [{peak['key']}]" if peak else "never evaluated"
            return f"clause {c['label']} never held; nearest: {best}"
    holds = doc.get("hold_counts", {})
    if holds:
        return "every clause held, but: " + ", ".join(f"{k.replace('_', ' ')} ×{n}" for k, n in holds.items())
    near = doc.get("nearest_miss") or {}
    failed = [f"{s['clause']}" for s in near.get("clauses", []) if not s["holds"]]
    return (f"the clauses never held together; nearest at {when(near.get('at'))} [{near.get('key')}], "
            f"failing: #{', #'.join(failed)}" if near else "nothing relevant to this pattern was seen")
