"""The default anomaly detector: novelty of quantised contexts, sparse by design.

Why this shape (NAB 72.1 on the standard profile averaged over grid alignments, see
`goldrush bench nab` and docs/models.md §4): operations anomalies are mostly *new
behaviour*: a level, a jump, a shape the series has not produced before. So each value
is quantised on a grid of `levels` bins across the range seen so far plus a `margin` on
each side (CAD OSE's 3-bit grid over the file's range, without its look-ahead), and the
model remembers which short contexts (the last 1…`order` bins) it has seen.

Where a bin edge falls means nothing, yet one grid's edges decide what is new: moving
them by a fraction of a bin moved NAB by 6 points. So the raw novelty is the share of
unseen contexts averaged over `tiles` grids offset by 0, 1/K, … of a bin: the expected
share over K evenly spaced alignments, not one draw of it. A value outside the padded
range is novel by definition and re-grids the model, replaying its recent `history`; the
grid also re-forms when those remembered values span under `shrink` of it, so one old
spike does not leave later values in a single bin for the rest of the stream.

Raw novelty is noisy, and NAB (like an on-call engineer) pays for the first alert
of an incident, not the tenth: a score is emitted only when novelty reaches `base`
and there was no such crossing in the previous `rest` samples; any crossing
restarts that rest. The emitted score mixes the novelty with how far the value is
from an exponentially weighted mean (in standard deviations), so one threshold can
rank alerts across very different series.

A second, independent signal covers what a grid of values cannot see: values inside
the known range, at steps seen before, in a stretch whose *shape* is new (a holiday's
day, a level drop into a range an earlier failure set). Every `window`/`segments`
samples, the last `window` samples as `segments` block means (ARTime's 8 downsampled
values) are compared with every earlier stretch the model remembers (`history`); the
distance to the nearest is the stretch's discord score (the left matrix profile). It
alerts, as a novelty of 1, when it exceeds `beyond` (1) times every discord score of the
last `horizon` samples (pattern_detection_sensitivity scales `beyond` as it scales `base`),
at its first such crossing after `window` quiet samples. So on a stationary series it
errs about once per `horizon` samples, whatever the series' scale; and it
waits until it has scored one `history` of stretches, as a maximum of a few is no
baseline.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .base import Model, ModelError, check_number


class ContextAnomaly(Model):
    name = "anomaly_detection"
    meaning = ("1st alert of new behaviour: share of unseen value contexts (or a stretch unlike any remembered),"
               " mixed with the deviation size")
    evidence = {"base": "scale", "beyond": "scale"}  # both signals follow pattern_detection_sensitivity
    shares = ("base",)

    def __init__(self, levels: int = 8, tiles: int = 8, order: int = 2, margin: float = 0.1,
                 base: float = 0.3, rest: int = 20, warmup: int = 150, history: int = 2000,
                 alpha: float = 0.02, z_scale: float = 4.0, mix: float = 0.5, shrink: float = 0.25,
                 window: int = 192, segments: int = 8, horizon: int = 6000, beyond: float = 1.0):
        check_number("levels", levels, 2, 64, integer=True)
        check_number("tiles", tiles, 1, 16, integer=True)
        check_number("order", order, 1, 6, integer=True)
        check_number("margin", margin, 0.0, 10.0)
        check_number("base", base, 0.0, 1.0)
        check_number("rest", rest, 0, integer=True)
        check_number("warmup", warmup, 0, integer=True)
        check_number("history", history, 2, 1_000_000, integer=True)
        check_number("alpha", alpha, 1e-6, 1.0)
        check_number("z_scale", z_scale, 1e-6)
        check_number("mix", mix, 0.0, 1.0)
        check_number("shrink", shrink, 0.0, 1.0)
        check_number("window", window, 0, 1_000_000, integer=True)
        check_number("segments", segments, 1, 64, integer=True)
        check_number("horizon", horizon, 1, integer=True)
        check_number("beyond", beyond, 1e-6, 1e6)
        if window and window < segments:
            raise ModelError(f"window={window} must be 0 (off) or at least segments={segments}")
        self.levels, self.tiles, self.order, self.margin = levels, tiles, order, float(margin)
        self.base, self.rest, self.warmup, self.history = float(base), rest, warmup, history
        self.alpha, self.z_scale, self.mix, self.shrink = float(alpha), float(z_scale), float(mix), float(shrink)
        # K evenly spaced alignments: a shift of the grid by a multiple of 1/K of a bin only relabels them
        self._offsets = tuple(j / tiles for j in range(tiles))
        self._radix = levels + 3
        self._check_every = max(1, history // 8)
        self.window, self.segments, self.horizon, self.beyond = window, segments, horizon, float(beyond)
        self._block = max(1, window // segments)  # samples per block mean
        self._reset()

    @classmethod
    def params_from_state(cls, params: dict[str, Any]) -> dict[str, Any]:
        # saved before `shrink` existed: keep the grid that only widens, as it was; saved
        # before the discord signal existed: keep it off (window 0)
        if "shrink" not in params:
            params = {**params, "shrink": 0.0}
        return params if "window" in params else {**params, "window": 0}

    def params(self) -> dict[str, Any]:
        return {"levels": self.levels, "tiles": self.tiles, "order": self.order, "margin": self.margin,
                "base": self.base, "rest": self.rest, "warmup": self.warmup, "history": self.history,
                "alpha": self.alpha, "z_scale": self.z_scale, "mix": self.mix, "shrink": self.shrink,
                "window": self.window, "segments": self.segments, "horizon": self.horizon, "beyond": self.beyond}

    def _reset(self) -> None:
        self._n = 0  # finite samples taken
        self._last: int | None = None  # sample number of the last novelty crossing
        self._mean: float | None = None
        self._var = 0.0
        self._values: deque[float] = deque(maxlen=self.history)
        self._lo = self._hi = self._width = 0.0
        self._gridded = False
        self._seen: list[list[set[int]]] = [[set() for _ in range(self.order)] for _ in range(self.tiles)]
        self._recent: list[tuple[int, ...]] = [()] * self.tiles
        # the discord signal: block means over the remembered history, the block being filled,
        # the discord scores of the last `horizon` samples, the sample of its last crossing
        self._blocks: deque[float] = deque(maxlen=self.history // self._block + self.segments)
        self._acc, self._cnt = 0.0, 0
        self._dists: deque[float] = deque(maxlen=max(1, self.horizon // self._block))
        # the largest of a few scores is no baseline: alert only once a memory's worth is known
        self._known = min(self._dists.maxlen or 1, max(1, self.history // self._block))
        self._dlast: int | None = None

    # -- the grid ------------------------------------------------------------
    def _regrid(self) -> None:
        """New grid over the recent values (plus margins), contexts replayed from them."""
        vmin, vmax = min(self._values), max(self._values)
        span = max(vmax - vmin, abs(vmax) * 1e-3, 1e-9)
        self._lo = vmin - self.margin * span
        self._hi = vmax + self.margin * span
        self._width = (self._hi - self._lo) / self.levels
        self._gridded = True
        self._seen = [[set() for _ in range(self.order)] for _ in range(self.tiles)]
        self._recent = [()] * self.tiles
        for v in self._values:
            self._contexts(v, learn=True)

    def _contexts(self, x: float, learn: bool) -> float:
        """Share of x's contexts (all tiles and orders) not seen before; learns them if asked.

        Averaged over the K tiles, this is the expected share over K evenly spaced grid
        alignments, so no single alignment decides what is new.
        """
        pos = (x - self._lo) / self._width
        radix = self._radix
        keep = self.order - 1
        seen_all, recent_all = self._seen, self._recent
        if keep == 1 and recent_all[0]:  # the default order 2 once primed: the same, unrolled
            new = 0
            qs = [int(pos + off) for off in self._offsets]
            for q, (s0, s1), (p,) in zip(qs, seen_all, recent_all, strict=True):
                code = q + (p + 1) * radix
                if q not in s0:
                    new += 1
                    if learn:
                        s0.add(q)
                if code not in s1:
                    new += 1
                    if learn:
                        s1.add(code)
            if learn:
                self._recent = [(q,) for q in qs]
            return new / (2 * len(qs))
        new = 0
        total = len(self._offsets) + sum(len(r) for r in recent_all)
        for j, off in enumerate(self._offsets):
            q = int(pos + off)
            seen = seen_all[j]
            recent = recent_all[j]
            s = seen[0]
            if q not in s:
                new += 1
                if learn:
                    s.add(q)
            code = q
            scale = radix
            for k, p in enumerate(reversed(recent), 1):
                code += (p + 1) * scale
                scale *= radix
                s = seen[k]
                if code not in s:
                    new += 1
                    if learn:
                        s.add(code)
            if learn and keep:
                recent_all[j] = (*recent, q)[-keep:] if keep > 1 else (q,)
        return new / total

    # -- scoring -------------------------------------------------------------
    def _step(self, x: float, learn: bool) -> float:
        if not (isinstance(x, float | int) and math.isfinite(x)):
            return 0.0
        x = float(x)
        if not self._gridded or x < self._lo or x >= self._hi:
            novelty = 1.0 if self._gridded else 0.0
            if learn:
                self._values.append(x)
                self._regrid()
        else:
            novelty = self._contexts(x, learn)
            if learn:
                self._values.append(x)
        mean = self._mean
        if mean is None:
            z = 0.0
        else:
            sd = math.sqrt(self._var)
            z = abs(x - mean) / max(sd, 1e-9 * max(1.0, abs(mean)))
        n = self._n + 1
        score = 0.0
        if n > self.warmup and novelty >= self.base:
            if self._last is None or n - self._last > self.rest:
                score = self.mix * novelty + (1.0 - self.mix) * (1.0 - math.exp(-z / self.z_scale))
            if learn:
                self._last = n
        if self.window:
            if self._cnt + 1 < self._block:  # inside a block: only its sum moves
                if learn:
                    self._acc += x
                    self._cnt += 1
            elif self._discord(x, n, learn):
                score = max(score, self.mix + (1.0 - self.mix) * (1.0 - math.exp(-z / self.z_scale)))
        if learn:
            self._n = n
            if mean is None:
                self._mean = x
            else:
                d = x - mean
                self._mean = mean + self.alpha * d
                self._var = (1.0 - self.alpha) * (self._var + self.alpha * d * d)
            if self.shrink and n % self._check_every == 0 and len(self._values) == self.history:
                self._maybe_shrink()
        return score

    def _maybe_shrink(self) -> None:
        """Re-grid when the remembered values span less than `shrink` of the grid.

        The grid otherwise only widens: one early spike would leave every later value in
        one or two bins for the rest of the stream, so a later spike, large against the
        recent past but under the old one, could never be new.
        """
        vmin, vmax = min(self._values), max(self._values)
        if (vmax - vmin) * (1.0 + 2.0 * self.margin) < self.shrink * (self._hi - self._lo):
            self._regrid()

    def _discord(self, x: float, n: int, learn: bool) -> bool:
        """Whether x, closing a block, makes the last `window` samples alert as a discord.

        Scored before learned like the novelty: the new stretch is compared only with
        stretches that ended at least `window` samples earlier (no overlap, no look-ahead).
        """
        mean = (self._acc + x) / (self._cnt + 1)
        seg = self.segments
        blocks = self._blocks
        if learn:
            blocks.append(mean)
            self._acc, self._cnt = 0.0, 0
            b = np.fromiter(blocks, float, len(blocks))
        else:  # the blocks as learning would leave them
            b = np.append(np.fromiter(blocks, float, len(blocks)), mean)[-(blocks.maxlen or 0):]
        m = len(b) - 2 * seg + 1  # earlier stretches, none overlapping the new one
        if m < 1:
            return False
        cur = b[-seg:]
        best = (b[:m] - cur[0]) ** 2
        for k in range(1, seg):  # squared distances to every earlier stretch, one segment at a time
            d = b[k:k + m] - cur[k]
            best += d * d
        best = float(best.min())
        dists = self._dists
        cross = len(dists) >= self._known and n > self.warmup and best > max(dists) * self.beyond * (1.0 + 1e-9)
        alert = cross and (self._dlast is None or n - self._dlast > self.window)
        if learn:
            dists.append(best)
            if cross:
                self._dlast = n
        return alert

    def score_one(self, x: float, t: float | None = None) -> float:
        return self._step(x, learn=False)

    def learn_one(self, x: float, t: float | None = None) -> None:
        self._step(x, learn=True)

    def update_one(self, x: float, t: float | None = None) -> float:
        return self._step(x, learn=True)

    # -- state ---------------------------------------------------------------
    def _dump(self) -> dict[str, Any]:
        # Contexts are a pure function of the grid and the values since the last
        # re-grid, but that can be longer than `history`: keep them explicitly.
        return {"n": self._n, "last": self._last, "mean": self._mean, "var": self._var,
                "values": list(self._values), "grid": [self._lo, self._hi, self._width] if self._gridded else None,
                "seen": [[sorted(s) for s in tile] for tile in self._seen],
                "recent": [list(r) for r in self._recent],
                "blocks": list(self._blocks), "acc": self._acc, "cnt": self._cnt,
                "dists": list(self._dists), "dlast": self._dlast}

    def _load(self, state: dict[str, Any]) -> None:
        self._n, self._last = int(state["n"]), state["last"]
        self._mean, self._var = state["mean"], float(state["var"])
        self._values.extend(float(v) for v in state["values"])
        grid = state["grid"]
        self._gridded = grid is not None
        if grid is not None:
            self._lo, self._hi, self._width = (float(g) for g in grid)
        self._seen = [[set(s) for s in tile] for tile in state["seen"]]
        self._recent = [tuple(r) for r in state["recent"]]
        # absent from states saved before the discord signal (restored with window 0)
        self._blocks.extend(float(b) for b in state.get("blocks", ()))
        self._acc, self._cnt = float(state.get("acc", 0.0)), int(state.get("cnt", 0))
        self._dists.extend(float(d) for d in state.get("dists", ()))
        self._dlast = state.get("dlast")
        if len(self._seen) != self.tiles or any(len(t) != self.order for t in self._seen):
            raise ModelError(f"bad {self.name} state: contexts do not match tiles={self.tiles}, order={self.order}")
