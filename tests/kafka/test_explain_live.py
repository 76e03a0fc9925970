"""The worker's live `/explain`: the clause states it holds, equal to what `goldrush explain` reads offline."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

from goldrush import F, Pattern, event, explain, frequency, sequence, trend
from goldrush.agents.explain_view import explain_live, parse_key
from goldrush.engine.stages import KeyStage, TenantStage
from goldrush.events.envelope import decode
from goldrush.kafka.client import EventProducer

T0 = 1_767_225_600.0
BUSY = Pattern("busy", frequency(event("op"), (">", 10), "5m"), trend("ms", "increasing", min_samples=3))
SEQ = Pattern("seq", sequence(event("op", F.ms >= 500), event("op", F.ms >= 500), event("fail"), within="1m"),
              key_by=("tenant", "source"))
PATTERN_FILE = ("from goldrush import F, Pattern, event, frequency, sequence, trend\n"
                "BUSY = Pattern('busy', frequency(event('op'), ('>', 10), '5m'), trend('ms', 'increasing', min_samples=3))\n"
                "SEQ = Pattern('seq', sequence(event('op', F.ms >= 500), event('op', F.ms >= 500), event('fail'), "
                "within='1m'), key_by=('tenant', 'source'))\n")


def events():
    return [{"name": "op", "timestamp": T0 + i, "tenant": "acme", "source": "web" if i % 2 else "api",
             "id": f"e{i}", "data": {"ms": 100 * i}} for i in range(8)]


def test_live_states_equal_the_offline_explanation():
    stage = TenantStage([BUSY, SEQ], allowed_lateness=0, split=False)
    stage.engine.push_many([decode(e) for e in events()])
    host = SimpleNamespace(engine=stage.engine, keys=KeyStage([]))
    status, body = explain_live(host, "busy", "acme", None)
    assert status == 200 and body["evaluated_by"] == "tenant stage"
    offline = explain([BUSY, SEQ], events(), pattern="busy", at=T0 + 7, allowed_lateness=0).to_dict()
    assert body["keys"][0]["clauses"] == offline["at"]["keys"]["tenant=acme"]["clauses"]
    assert body["keys"][0]["clauses"][0]["count"] == 8
    status, body = explain_live(host, "seq", "acme", "web")
    assert status == 200 and [k["key"] for k in body["keys"]] == [{"tenant": "acme", "source": "web"}]
    seq_state = body["keys"][0]["clauses"][0]
    assert seq_state["reached"] == 2 and seq_state["events"] == ["e5", "e7"]


def test_bad_requests_say_what_to_ask():
    stage = TenantStage([BUSY], allowed_lateness=0, split=False)
    host = SimpleNamespace(engine=stage.engine, keys=KeyStage([]))
    assert explain_live(host, None, "acme", None)[0] == 400
    status, body = explain_live(host, "bussy", "acme", None)
    assert status == 404 and body["did_you_mean"] == "'busy'"
    status, body = explain_live(host, "busy", "nobody", None)
    assert status == 404 and "nothing since the worker started" in body["error"]
    assert parse_key("source=web,region=eu", ("tenant", "source", "region")) == {"source": "web", "region": "eu"}
    assert parse_key("web", ("tenant", "source")) == {"source": "web"}


def test_the_worker_answers_explain_from_both_stages(fresh_broker, tmp_path):
    from tests.support.worker import http_get, start_worker, stop, wait_ready

    pf = tmp_path / "p.py"
    pf.write_text(PATTERN_FILE)
    worker = start_worker(fresh_broker.bootstrap, tmp_path, "gr-explain", "--patterns", str(pf), "--lateness", "0")
    try:
        asyncio.run(wait_ready(worker))

        async def send():
            async with EventProducer(fresh_broker.bootstrap, batch=10) as producer:
                await producer.send_many(events())

        asyncio.run(send())
        deadline = time.monotonic() + 60
        busy = seq = (0, "")
        while time.monotonic() < deadline:
            busy = http_get(worker.web_port, "/explain?pattern=busy&tenant=acme")
            seq = http_get(worker.web_port, "/explain?pattern=seq&tenant=acme&key=source=web")
            if busy[0] == 200 and seq[0] == 200 and json.loads(busy[1])["keys"][0]["clauses"][0]["count"] == 8 \
                    and json.loads(seq[1])["keys"] and json.loads(seq[1])["keys"][0]["clauses"][0]["reached"] == 2:
                break
            time.sleep(0.5)
        missing = http_get(worker.web_port, "/explain/?pattern=nope&tenant=acme")
    finally:
        stop(worker)
    busy_doc, seq_doc = json.loads(busy[1]), json.loads(seq[1])
    assert busy_doc["evaluated_by"] == "tenant stage" and busy_doc["keys"][0]["clauses"][0]["count"] == 8
    assert busy_doc["keys"][0]["clauses"][1]["samples"] == 8
    assert seq_doc["evaluated_by"].startswith("key stage")
    assert seq_doc["keys"][0]["clauses"][0]["events"] == ["e5", "e7"]
    assert missing[0] == 404
    log = (tmp_path / "gr-explain.log").read_text()  # catalogue warnings are printed, and the worker ran
    assert "catalogue warnings about the patterns (the worker runs them anyway" in log
    assert "no event in the VSM catalogue is named 'op'" in log
