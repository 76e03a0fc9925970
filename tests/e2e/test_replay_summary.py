"""The replay summary lists every pattern; those with no match get their main reason in one line."""

from __future__ import annotations

import json
import subprocess
import sys

from goldrush.cli.main import main

T0 = 1_767_225_600


def _files(tmp_path):
    events = tmp_path / "e.jsonl"
    rows = [{"name": "op", "timestamp": T0 + i, "tenant": "acme", "id": f"e{i}", "data": {"ms": 100 * i}}
            for i in range(5)]
    rows.append({"name": "scan", "timestamp": T0 + 6, "tenant": "acme", "data": {"mood": "good"}})
    events.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pf = tmp_path / "p.py"
    pf.write_text(
        "from goldrush import F, Pattern, event, frequency, recent\n"
        "busy = Pattern('busy', frequency(event('op'), ('>=', 3), '1m'))\n"
        "slow = Pattern('slow', frequency(event('op', F.ms > 1000), ('>=', 1), '1m'))\n"
        "typo = Pattern('typo', recent(event('opp')))\n"
        "keyed = Pattern('keyed', recent(event('scan')), key_by=('tenant', 'source'))\n")
    return pf, events


def test_every_pattern_is_listed_with_the_reason_for_zero(tmp_path, capsys):
    pf, events = _files(tmp_path)
    assert main(["replay", str(pf), str(events), "--out", str(tmp_path / "m.jsonl")]) == 0
    err = capsys.readouterr().err
    lines = {line.split(":")[0].strip(): line for line in err.splitlines() if line.startswith("  ")}
    assert lines["busy"].strip() == "busy: 1"
    assert "slow: 0 — clause #1 (frequency): no event selected" in lines["slow"] and "nearest 400" in lines["slow"]
    assert "typo: 0 — no event of event('opp') in the input (did you mean 'op'?)" in lines["typo"]
    assert "keyed: 0 — clause #1 (recent): all 1 events of event('scan') lack key field 'source'" in lines["keyed"]
    assert main(["replay", str(pf), str(events), "--out", str(tmp_path / "m.jsonl"), "--no-reasons"]) == 0
    assert "slow: 0\n" in capsys.readouterr().err


def test_reasons_come_for_stdin_too(tmp_path):
    pf, events = _files(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "goldrush", "replay", str(pf), "-"], input=events.read_text(),
                          capture_output=True, text=True, check=True)
    assert "typo: 0 — no event of event('opp')" in proc.stderr and "busy: 1" in proc.stderr


def test_late_events_are_counted_in_the_summary_and_the_report(tmp_path):
    """replay hands late events to its --late file as it goes: the report and the explainer
    count them all the same (the report said late 0)."""
    import subprocess
    import sys

    events = [{"name": "vsm_core.system1.failure", "timestamp": 1_767_225_600.0 + t, "id": f"e{t}",
               "data": {"service": "db"}} for t in (0, 10, 20, 3)]  # the last is late (lateness 2 s)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    report = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "goldrush", "replay", str(src), "--report", str(report)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "late: 1" in proc.stderr
    assert "late 1" in report.read_text()
