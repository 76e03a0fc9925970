"""`goldrush replay --report`: one self-contained HTML file, checked by content and in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from goldrush.cli.main import main
from goldrush.explainer.series import SeriesStore, downsample
from goldrush.patterns import ALL
from goldrush.simulator import simulate


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    events = tmp / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in simulate("cascade", tenants=2, rate=5, duration=1200)))
    path = tmp / "report.html"
    assert main(["replay", str(events), "--report", str(path), "--out", str(tmp / "m.jsonl")]) == 0
    return path, [json.loads(line) for line in (tmp / "m.jsonl").read_text().splitlines()]


def test_the_report_is_self_contained_and_lists_every_pattern(report):
    path, matches = report
    text = path.read_text()
    assert "<script src" not in text and "<link" not in text  # nothing to fetch: Plotly's JS is inlined
    assert "Plotly.newPlot" in text and "plotly.js" in text.lower()
    table = text[text.index('<table id="summary">'):text.index("</table>")]
    for p in ALL:
        assert f"<td>{p.name}</td>" in table
    assert table.count("class='zero'") == sum(1 for p in ALL if not any(m["pattern"] == p.name for m in matches))
    assert "never held" in table or "no event" in table  # zero-match rows carry their reason
    assert "Matches per pattern, by tenant" in text and "Actions (after policies), by tenant" in text
    assert "events in window" in text and "holds when count" in text  # a frequency clause's series
    assert "model score" in text
    assert '"symbol":"star"' in text  # matches marked on their clause's series


def test_downsampling_keeps_the_peaks_and_bounds_memory():
    points = [(float(i), 0.0, None) for i in range(10_000)]
    points[7777] = (7777.0, 42.0, None)
    thin = downsample(points, 200)
    assert len(thin) <= 200 and (7777.0, 42.0, None) in thin and [p[0] for p in thin] == sorted(p[0] for p in thin)
    store = SeriesStore(cap=1000)
    for i in range(100_000):
        store.add(1, "k", float(i), 99.0 if i == 54_321 else float(i % 7))
    kept = store.by_clause()[1]["k"]
    assert len(kept) <= 1000 and (54_321.0, 99.0, None) in kept


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:  # .ci/run installs it; say so rather than skip silently
        pytest.fail("headless Chromium is needed for this test: apt-get install -y chromium")
    return exe


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--virtual-time-budget=10000", "--window-size=1400,2600"]
    return subprocess.run([_chromium(), *flags, *args], capture_output=True, text=True, timeout=180)


def test_the_plots_render_in_headless_chromium(report, tmp_path):
    path, _ = report
    dom = _run_chromium("--dump-dom", path.as_uri()).stdout
    assert 'class="main-svg"' not in path.read_text()  # only Plotly, running in the browser, makes these
    figures = len(re.findall(r'class="plotly-graph-div', dom))
    assert figures >= 4
    assert len(re.findall(r'class="main-svg"', dom)) >= figures  # Plotly drew every figure
    assert len(re.findall(r'class="trace scatter', dom)) >= figures  # with its traces
    assert len(re.findall(r'<path class="js-line" d="M', dom)) >= 3  # and lines with points
    assert "crimson" in dom or "rgb(220, 20, 60)" in dom  # threshold lines and match stars

    from PIL import Image

    shot = tmp_path / "shot.png"
    _run_chromium(f"--screenshot={shot}", path.as_uri())
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    colourful = int(((abs(r - g) + abs(g - b) + abs(r - b)) > 120).sum())
    assert colourful > 2000  # coloured markers and lines, not a blank or grey page
