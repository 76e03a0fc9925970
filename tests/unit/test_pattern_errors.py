"""SEMANTICS §2–§6 validation: `PatternError` names the pattern, the clause and the problem."""

from __future__ import annotations

from datetime import timedelta

import pytest

from goldrush import (
    F,
    Pattern,
    PatternError,
    concurrent,
    event,
    frequency,
    recent,
    sequence,
    trend,
)
from goldrush.dsl.durations import to_seconds


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("1.5s", 1.5), ("30s", 30), ("5m", 300), ("5min", 300), ("2h", 7200), ("1d", 86400),
    ("30S", 30), ("5M", 300), ("seconds_30", 30), ("minutes_5", 300), ("hours_1", 3600), ("days_1", 86400),
    (timedelta(minutes=2), 120), (3, 3.0), (2.5, 2.5),
])
def test_duration_spellings(text, seconds):
    assert to_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 parsecs", "m5", "-5s", 0, -1, "0s", float("nan"), True, [5]])
def test_bad_durations(bad):
    with pytest.raises(PatternError):
        to_seconds(bad)


def test_lateness_may_be_zero():
    assert to_seconds(0, allow_zero=True) == 0


@pytest.mark.parametrize("build, fragment", [
    (lambda: Pattern("p", sequence("a"), sequence("b")), "at most one sequence"),
    (lambda: Pattern("p", frequency("a", (">",), "1m")), "count must be (op, n)"),
    (lambda: Pattern("p", frequency("a", ("~", 3), "1m")), "count must be (op, n)"),
    (lambda: Pattern("p", trend("x", "sideways")), "unknown direction 'sideways'"),
    (lambda: Pattern("p", trend("x", "increasing", confidence=2)), "confidence"),
    (lambda: Pattern("p", trend("x", "increasing", min_samples=0)), "min_samples"),
    (lambda: Pattern("p", recent("a", within="forever")), "is not a duration"),
    (lambda: Pattern("p", recent("a", within=0)), "must be positive"),
    (lambda: Pattern("p", sequence(event("a"), event("b", within="-1s"))), "must be positive"),
    (lambda: Pattern("p", concurrent()), "at least one"),
    (lambda: Pattern("p", event("a")), "not a clause"),
    (lambda: Pattern("p", "sequence"), "not a clause"),
    (lambda: Pattern("p", 42), "unknown operator"),
    (lambda: Pattern("p", recent(event("a", {"x": ("like", 1)}))), "unknown operator 'like'"),
    (lambda: Pattern("p", recent("a"), cooldown="soon"), "not a duration"),
    (lambda: Pattern("p"), "at least one clause"),
])
def test_pattern_errors_name_pattern_and_problem(build, fragment):
    with pytest.raises(PatternError) as err:
        build()
    assert "pattern 'p'" in str(err.value)
    assert fragment in str(err.value)


def test_error_names_the_clause():
    with pytest.raises(PatternError, match=r"clause #2 \(trend\)"):
        Pattern("p", recent("a"), trend("x", "up"))


def test_from_dict_reports_unknown_operators():
    with pytest.raises(PatternError, match="unknown operator 'eventually'"):
        Pattern.from_dict({"name": "p", "clauses": [{"op": "eventually"}]})


def test_duplicate_pattern_names_are_rejected_at_compile():
    from goldrush.compiler.compiled import CompiledSet

    with pytest.raises(PatternError, match="share this name"):
        CompiledSet([Pattern("p", recent("a")), Pattern("p", recent("b"))])


def test_where_errors_are_located():
    with pytest.raises(PatternError, match=r"pattern 'p', clause #1 \(sequence\).*event 'a' where"):
        Pattern("p", sequence(event("a", F.x > None)))


@pytest.mark.parametrize("name, text, fragments", [
    ("typo.py", "from goldrush import Pattern, recent\n\nPATTERNS = [Pattern('p', recent('a', '1s'))]\n",
     ["typo.py, line 3", "TypeError", "recent()"]),
    ("invalid.py", "from goldrush import Pattern, recent\nx = 1\nslow = Pattern('slow', recent('a'), cooldown='soon')\n",
     ["invalid.py, line 3", "pattern 'slow'", "not a duration"]),
    ("syntax.py", "from goldrush import Pattern\nPATTERNS = [\n", ["syntax.py, line 2", "SyntaxError"]),
    ("broken.json", '[{"name": "p",\n "clauses": [}]\n', ["broken.json", "line 2", "not JSON"]),
])
def test_a_broken_pattern_file_is_named_with_the_line(tmp_path, name, text, fragments):
    """A pattern file that fails to load says which file, which line and what, not a traceback."""
    import subprocess
    import sys

    from goldrush.loader import load_patterns

    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PatternError) as err:
        load_patterns(str(path))
    assert all(f in str(err.value) for f in fragments), str(err.value)
    proc = subprocess.run([sys.executable, "-m", "goldrush", "check", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert all(f in proc.stderr for f in fragments), proc.stderr
