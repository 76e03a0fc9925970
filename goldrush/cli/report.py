"""`goldrush replay … --report report.html`: one self-contained HTML file with plots.

Plotly draws the figures (docs/report.md says why Plotly); its JavaScript is inlined
once from the installed package (`plotly.offline.get_plotlyjs`), so the file opens with
no network. The page holds the summary table, a timeline of matches and of actions per
pattern and tenant, and, for every frequency, trend and anomaly clause, the series the
engine evaluated (window counts, metric samples with the trend's confidence, model
scores) per key with the threshold and the matches marked.
"""

from __future__ import annotations

import bisect
import html
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from goldrush.dsl import Pattern
from goldrush.explainer import Observer, document
from goldrush.explainer.series import Point, downsample
from goldrush.explainer.watch import Watch

MAX_KEYS = 6  # keys plotted per clause: those with matches first, then the busiest
MAX_POINTS = 2000  # per series: min and max of each bucket are kept, so peaks survive


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def timeline(rows: list[dict[str, Any]], label: str, title: str, symbol: str) -> go.Figure:
    """One marker per record: x its time, y `label(record)`, one trace (colour) per tenant."""
    fig = go.Figure()
    by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_tenant[r["tenant"]].append(r)
    for tenant in sorted(by_tenant):
        rs = by_tenant[tenant]
        fig.add_trace(go.Scatter(
            x=[_time(r["timestamp"]) for r in rs], y=[r[label] for r in rs], mode="markers", name=tenant,
            marker={"symbol": symbol, "size": 9}, legendgroup=tenant,
            hovertext=[f"{r[label]}<br>{html.escape(str(r['key']))}<br>{r.get('match_id', '')}" for r in rs],
            hoverinfo="text+x"))
    fig.update_layout(title=title, height=max(260, 60 + 28 * len({r[label] for r in rows})),
                      xaxis_title="event time (UTC)", legend_title="tenant", margin={"l": 220})
    return fig


def clause_figure(w: Watch, clause: int, series: dict[str, list[Point]], matches: list[dict[str, Any]]) -> go.Figure:
    """One windowed clause's series per key, its threshold, and the key's matches marked."""
    label = next(c.label for c in w.clauses if c.index == clause)
    op = w.cp.ops[clause - 1]
    kind = label.split("(")[-1].rstrip(")")
    trend = kind == "trend"
    fig = make_subplots(specs=[[{"secondary_y": trend}]])
    for key, pts in series.items():
        xy = downsample(pts, MAX_POINTS)
        fig.add_trace(go.Scatter(x=[_time(p[0]) for p in xy], y=[p[1] for p in xy], mode="lines", name=key,
                                 legendgroup=key), secondary_y=False)
        hits = [_at(pts, m["match"]["timestamp"]) for m in matches if _key_of(m) == key]
        if hits:
            fig.add_trace(go.Scatter(x=[_time(p[0]) for p in hits], y=[p[1] for p in hits], mode="markers",
                                     name=f"{key} match", legendgroup=key,
                                     marker={"symbol": "star", "size": 13, "color": "crimson"}), secondary_y=False)
        if trend:
            conf = downsample([p for p in pts if p[2] is not None], MAX_POINTS)
            fig.add_trace(go.Scatter(x=[_time(p[0]) for p in conf], y=[p[2] for p in conf], mode="lines",
                                     name=f"{key} confidence", legendgroup=key, line={"dash": "dot"}),
                          secondary_y=True)
    threshold, what = _threshold(op, kind)
    if threshold is not None:
        fig.add_hline(y=threshold, line_dash="dash", line_color="crimson", annotation_text=what,
                      secondary_y=trend or None)
    fig.update_layout(title=f"{w.cp.name} · clause {label}: {_ylabel(kind)}", height=360,
                      xaxis_title="event time (UTC)")
    fig.update_yaxes(title_text=_ylabel(kind), secondary_y=False)
    if trend:
        fig.update_yaxes(title_text="slope confidence", range=[0, 1.05], secondary_y=True)
    return fig


def _at(points: list[Point], t: float) -> Point:
    """The point at time `t`, or the last one before it (a thinned series may have dropped it)."""
    i = bisect.bisect_right(points, t, key=lambda p: p[0])
    return points[max(0, i - 1)]


def _key_of(m: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in m["match"]["key"].items())


def _threshold(op: Any, kind: str) -> tuple[float | None, str]:
    if kind == "frequency":
        from goldrush.operators import COUNT_OPS

        sign = next(k for k, f in COUNT_OPS.items() if f is op.compare)
        return float(op.n), f"holds when count {sign} {op.n:g}"
    if kind == "trend":
        return op.confidence, f"required confidence {op.confidence:g}"
    clause = getattr(op, "clause", None)
    if clause is not None:
        return clause.score[1], f"holds when score {clause.score[0]} {clause.score[1]:g}"
    return None, ""


def _ylabel(kind: str) -> str:
    return {"frequency": "events in window", "trend": "metric value", "anomaly": "model score"}.get(kind, kind)


def _clause_series(w: Watch) -> dict[int, dict[str, list[Point]]]:
    """Clause → key → its points, keeping the keys with matches first, then the busiest."""
    matched = {_key_of(m) for m in w.matches}
    out = {}
    for clause, keys in w.series.by_clause().items():
        ranked = sorted(keys, key=lambda k: (k not in matched, -len(keys[k])))[:MAX_KEYS]
        out[clause] = {k: keys[k] for k in ranked}
    return out


def summary_rows(obs: Observer, rejected: list[Any], actions: list[Any]) -> list[dict[str, Any]]:
    by_pattern: dict[str, int] = defaultdict(int)
    for a in actions:
        by_pattern[a.pattern] += 1
    rows = []
    for name, w in obs.watches.items():
        doc = document(obs, w, rejected) if not w.matches else None
        rows.append({"pattern": name, "key_by": ", ".join(w.cp.key_by), "matches": len(w.matches),
                     "suppressed": obs.suppressed.get(name, 0), "actions": by_pattern[name],
                     "reason": "" if doc is None else doc["main_reason"]})
    return rows


def build_html(obs: Observer, patterns: list[Pattern], rejected: list[Any], actions: list[Any],
               reasons: dict[str, str] | None = None) -> str:
    """The whole page as one string."""
    rows = summary_rows(obs, rejected, actions)
    if reasons:
        for r in rows:
            r["reason"] = reasons.get(r["pattern"], r["reason"]) if not r["matches"] else ""
    figures: list[tuple[str, go.Figure]] = []
    match_rows = [m["match"] for w in obs.watches.values() for m in w.matches]
    if match_rows:
        figures.append(("Matches", timeline(match_rows, "pattern", "Matches per pattern, by tenant", "circle")))
    action_rows = [{**a.to_dict(), "label": f"{a.type} ← {a.pattern}"} for a in actions]
    if action_rows:
        figures.append(("Actions", timeline(action_rows, "label", "Actions (after policies), by tenant", "diamond")))
    for w in obs.watches.values():
        for clause, series in _clause_series(w).items():
            figures.append((f"{w.cp.name} #{clause}", clause_figure(w, clause, series, w.matches)))
    events = obs.buffer.arrivals + obs.late_total + len(rejected)
    return _page(rows, figures, events, len(rejected), obs.late_total, len(actions))


def _page(rows: list[dict[str, Any]], figures: list[tuple[str, go.Figure]], events: int, rejected: int,
          late: int, actions: int) -> str:
    e = html.escape
    table = "".join(
        f"<tr class='{'zero' if not r['matches'] else ''}'><td>{e(r['pattern'])}</td><td>{e(r['key_by'])}</td>"
        f"<td>{r['matches']}</td><td>{r['suppressed']}</td><td>{r['actions']}</td><td>{e(r['reason'])}</td></tr>"
        for r in rows)
    plots = "".join(f"<section><h2>{e(title)}</h2>"
                    f"{fig.to_html(full_html=False, include_plotlyjs=False, config={'responsive': True})}</section>"
                    for title, fig in figures)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>goldrush replay report</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}tr.zero td{{background:#fff4e5}}
section{{margin-top:1.5em}}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head>
<body><h1>goldrush replay report</h1>
<p>events read {events} · rejected {rejected} · late {late} · matches {sum(r['matches'] for r in rows)} ·
actions {actions}</p>
<h2>Summary</h2>
<table id="summary"><tr><th>pattern</th><th>key_by</th><th>matches</th><th>suppressed by cooldown</th>
<th>actions</th><th>why no match</th></tr>{table}</table>
{plots}
</body></html>
"""


def write_report(path: str, obs: Observer, patterns: list[Pattern], rejected: list[Any], actions: list[Any],
                 reasons: dict[str, str] | None = None) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(build_html(obs, patterns, rejected, actions, reasons))
