"""The rules router on a real uvicorn server on 127.0.0.1, over HTTP."""

import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from molar.automation import ManualClock, load_catalogue
from molar.automation.api import rules_router
from unit.automation.autolib import (
    SHIPPED_RULE_FILES,
    add_patient,
    automation,
    in_every_rule,
    visit,
)

T0 = datetime(2026, 10, 5, 10, 0)


@contextmanager
def serve(app):
    """Run the app on a real uvicorn server on 127.0.0.1; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(250):
        if srv.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(warehouse):
    app = FastAPI()
    app.include_router(rules_router(warehouse, catalogue=load_catalogue(), clock=lambda: T0))
    with serve(app) as url:
        yield url


def test_rules_admin_over_http(server, warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    a = automation(ManualClock(T0))
    a.on_events(warehouse, [visit(g, T0, "CLN")])
    a.tick(warehouse, T0 + timedelta(days=7))

    with httpx.Client(base_url=server, timeout=10) as http:
        rules = http.get("/v1/rules").json()["rules"]
        by_key = {r["key"]: r for r in rules}
        assert len(rules) == len(SHIPPED_RULE_FILES) and by_key["recall_due_reminder"]["enabled"] is False
        assert len(by_key["decline_winback"]["version"]) == 12

        r = http.post("/v1/rules/decline_winback/disable")
        assert r.status_code == 200 and r.json()["enabled"] is False
        assert r.json()["override"]["updated_by"] == "api"
        assert http.get("/v1/rules/decline_winback").json()["enabled"] is False
        assert warehouse.rows("SELECT enabled FROM ops.rule_state WHERE rule_key = 'decline_winback'") == [(False,)]
        assert http.post("/v1/rules/decline_winback/enable").json()["enabled"] is True

        why = http.get(f"/v1/rules/cleaning_oral_care_article/why/{g}").json()
        assert why["sentences"][0]["code"] == "received"
        assert why["sentences"][0]["en"].startswith("Yes: the patient received 'oral_care_article' on sms")
        assert why["sentences"][0]["zh"].startswith("是：")

        decisions = http.get("/v1/rules/decisions", params={"patient": g}).json()["decisions"]
        assert [d["outcome"] for d in decisions][:2] == ["sent", "completed"]  # newest first
        assert decisions[0]["detail"]["channel"] == "sms"

        assert http.get("/v1/rules/nope").status_code == 404
        assert "did you mean 'decline_winback'" in http.get("/v1/rules/decline_winbak/why/G1").json()["detail"]
        assert http.post("/v1/rules/nope/enable").status_code == 404
        assert http.get("/v1/rules/decisions").status_code == 422  # patient is required


def test_inside_the_server_reads_use_its_engine_and_writes_go_through_the_worker(warehouse):
    """Mounted with no engine, as in `molar serve`: app.state.realtime supplies the read
    engine and runs writes on its worker (here a stand-in with the same two methods)."""
    from concurrent.futures import Future
    from types import SimpleNamespace

    from fastapi import Depends, Header, HTTPException

    calls = []

    def call(fn):
        calls.append(fn)
        future = Future()
        future.set_result(fn(warehouse))
        return future

    def admin(authorization: str = Header(default="")):
        if authorization != "Bearer admin":
            raise HTTPException(401, "admin key required")

    app = FastAPI()
    app.state.realtime = SimpleNamespace(read_engine=lambda: warehouse, pipeline=SimpleNamespace(call=call))
    app.include_router(rules_router(catalogue=load_catalogue(), clock=lambda: T0, dependencies=[Depends(admin)],
                                    actor=lambda request: "admin-key"))
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/v1/rules").status_code == 401
        auth = {"Authorization": "Bearer admin"}
        assert len(client.get("/v1/rules", headers=auth).json()["rules"]) == len(SHIPPED_RULE_FILES)
        r = client.post("/v1/rules/implant_follow_up/disable", headers=auth).json()
        assert r["enabled"] is False and r["override"]["updated_by"] == "admin-key" and len(calls) == 1
