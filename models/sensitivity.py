"""`pattern_detection_sensitivity`: one knob (0–1, default 0.8) that moves every model's threshold.

Coherent means: the same knob setting asks every model for the same *factor* of
evidence. From the sensitivity s the factor is f = 2^((0.8 − s) / 0.4): 1 at the
default, 0.71 at s = 1 (less evidence: more alerts), 1.41 at s = 0.6, 2 at s = 0.4
and 4 at s = 0.
Each model names, in `evidence`, the parameters that set how much evidence it
needs, and how each takes the factor:

- `scale` — a threshold in the statistic's own units (CUSUM σ-units, bits, a
  relative gain, a share of novel contexts): multiplied by f (a share stays ≤ 1);
- `excess` — a ratio that is at least 1 (peak growth): its excess over 1 times f;
- `tail` — a probability bound (the clause's `score` when the score is 1 − p):
  p' = p^f, i.e. the surprisal −log p times f.

`with_sensitivity(patterns, s)` rewrites every `anomaly` clause accordingly and
leaves every other clause as written; the rewritten parameters are explicit in
the pattern's JSON, so a snapshot or a worker carries them unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from goldrush.dsl import Pattern
from goldrush.errors import PatternError

from .clause import Anomaly
from .registry import make_model, model_class

DEFAULT_SENSITIVITY = 0.8
KINDS = ("scale", "excess", "tail")


def evidence_factor(sensitivity: float) -> float:
    """f: how much evidence a model needs relative to its defaults (1 at 0.8)."""
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, int | float) or not 0 <= sensitivity <= 1:
        raise PatternError(f"pattern_detection_sensitivity must be a number from 0 to 1, got {sensitivity!r}")
    return 2.0 ** ((DEFAULT_SENSITIVITY - sensitivity) / 0.4)


def _scaled(kind: str, value: float, f: float, share: bool) -> float:
    if kind == "scale":
        out = min(1.0, value * f) if share else value * f
    elif kind == "excess":
        out = 1.0 + (value - 1.0) * f
    else:
        out = 1.0 - (1.0 - value) ** f  # tail: value is 1 − p
    return float(f"{out:.12g}")  # 6.0, not 6.000000000000002, in the pattern's JSON


def sensitized(clause: Anomaly, f: float) -> Anomaly:
    """`clause` asking for f times the evidence (params and score bound as the model declares)."""
    cls = model_class(clause.model)
    declared = cls.evidence
    if not declared or f == 1.0 or clause.score[0] not in (">", ">="):
        return clause  # a clause asking for a *low* score ("no anomaly") is not an alarm threshold
    current = make_model(clause.model, **clause.params).params()
    params = dict(clause.params)
    op, bound = clause.score
    for name, kind in declared.items():
        if name == "score":
            bound = _scaled(kind, bound, f, share=True)
        else:
            params[name] = _scaled(kind, float(current[name]), f, share=name in cls.shares)
    return dataclasses.replace(clause, params=params, score=(op, bound)).normalized()


def with_sensitivity(patterns: Iterable[Pattern], sensitivity: float) -> list[Pattern]:
    """The patterns with every anomaly clause's thresholds moved by `sensitivity` (0.8: unchanged)."""
    f = evidence_factor(sensitivity)
    out = []
    for p in patterns:
        clauses = tuple(sensitized(c, f) if isinstance(c, Anomaly) else c for c in p.clauses)
        out.append(p if clauses == p.clauses else p._copy(clauses=clauses))
    return out


def describe() -> dict[str, dict[str, Any]]:
    """model name → {parameter or "score": how it takes the factor}, for docs and checks."""
    from .registry import model_names

    return {n: dict(model_class(n).evidence) for n in model_names()}
