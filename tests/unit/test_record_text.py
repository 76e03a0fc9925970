"""One wording for records in tail, the demo and the web dashboard (goldrush/actions/text.py)."""

from __future__ import annotations

from goldrush.actions.text import action_detail, clip, iso_time, key_text


def test_iso_time_is_full_utc_and_never_raises():
    assert iso_time(1767225604.95) == "2026-01-01T00:00:04.950Z"
    assert iso_time(0, "seconds") == "1970-01-01T00:00:00Z"
    assert iso_time(None) == "" and iso_time(True) == "True" and iso_time("soon") == "soon"
    assert iso_time(float("nan")) == "nan" and iso_time(1e300) == "1e+300"


def test_keys_and_actions_read_as_text_and_names_are_cut():
    assert key_text({"tenant": "acme", "source": "db", "region": "eu"}) == "source=db, region=eu"
    assert key_text(None) == ""
    assert action_detail({"type": "autoscale", "params": {"direction": "scale_in", "target": "db", "from": 4,
                                                          "to": 3}}) == "scale_in db 4→3"
    assert action_detail({"type": "coordination_adjustment", "params": {"strategy": "hold", "factor": 0.5}}) \
        == "hold ×0.5"
    assert action_detail({"type": "other"}) == ""
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc"
