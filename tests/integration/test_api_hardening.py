"""Hostile input against the real-time API on a real server (Uvicorn on 127.0.0.1, real
DuckDB): no 500s, clear 4xx answers, limits per caller, no personal data in the request log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import ADMIN_KEY, API_KEYS, HIS_KEY, NOW, ThreadServer, event, seed_identity  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.realtime.app import create_app  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402

pytestmark = pytest.mark.timeout(120)
AUTH = {"X-API-Key": HIS_KEY}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("hard") / "molar.duckdb"
    engine = open_warehouse(path=path)
    seed_identity(engine)
    engine.close()
    return path


@pytest.fixture(scope="module")
def http(db):
    app = create_app(Settings(warehouse_path=db, api_keys=API_KEYS), clock=lambda: NOW)
    with ThreadServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30, headers=AUTH) as client:
        yield client


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:01:02+01:00"])
def test_times_out_of_range_are_422(http, when):
    r = http.post("/v1/events", json=event(occurred_at=when))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"index": 0, "field": "occurred_at",
                                   "message": "is outside the years 2000–2099; check the date"}]


def test_deep_json_is_422_and_big_json_413(http):
    deep: object = "x"
    for _ in range(300):
        deep = {"a": deep}
    r = http.post("/v1/events", json=event(data={"review_id": "R1", "rating": 5, "x": deep}))
    assert (r.status_code, r.json()["error"]) == (422, "json_too_deep")
    r = http.post("/v1/events", content=b"[" * 50_000 + b"]" * 50_000, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (422, "json_too_deep")
    r = http.post("/v1/events", content=b"[" * 50_000, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = http.post("/v1/events", content=b'{"a": "' + b"x" * 300_000 + b'"}',
                  headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (413, "body_too_large")


def test_202_names_the_patient(http):
    r = http.post("/v1/events", json=event(event_id="who-1"))
    assert r.json()["accepted"] == [{"event_id": "who-1", "seq": r.json()["accepted"][0]["seq"],
                                     "patient_id": "G0000000001"}]
    r = http.post("/v1/events", json=event(event_id="who-2", patient={"unionid": "oNEW00000000000000000000009"}))
    assert r.json()["accepted"][0]["patient_id"].startswith("PV")


def test_cors_is_closed_by_default(http):
    r = http.options("/v1/events", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "x-api-key"})
    assert "access-control-allow-origin" not in r.headers
    r = http.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_configured_origins(db, tmp_path):
    app = create_app(Settings(warehouse_path=tmp_path / "other.duckdb", api_keys=API_KEYS,
                              cors_origins=("https://crm.example.cn",)))
    with ThreadServer(app) as srv:
        r = httpx.get(f"{srv.url}/v1/health", headers={"Origin": "https://crm.example.cn"})
        assert r.headers["access-control-allow-origin"] == "https://crm.example.cn"


def test_rate_limit_per_key(tmp_path):
    app = create_app(Settings(warehouse_path=tmp_path / "molar.duckdb", api_keys=API_KEYS, api_rate_per_minute=5))
    with ThreadServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        codes = [client.get("/v1/patients/G0000000001", headers=AUTH).status_code for _ in range(7)]
        assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
        r = client.get("/v1/patients/G0000000001", headers=AUTH)
        assert int(r.headers["retry-after"]) >= 1
        # Another key has its own budget.
        assert client.get("/v1/patients/G0000000001", headers={"X-API-Key": ADMIN_KEY}).status_code == 404


def test_request_log_has_no_personal_data(http, caplog):
    with caplog.at_level(logging.INFO, logger="molar.access"):
        http.post("/v1/events", json=event(patient={"mobile": "13800000001"}, event_id="log-1"))
        http.get("/v1/patients/G0000000001")
    lines = [r.getMessage() for r in caplog.records if r.name == "molar.access"]
    assert any(line.startswith("POST /v1/events 202 ") and line.endswith(" his/admin") for line in lines)
    assert any(line.startswith("GET /v1/patients/{patient_id} 200 ") for line in lines)
    assert not any("13800000001" in line or "G0000000001" in line for line in lines)


def test_event_ids_survive_a_restart(tmp_path):
    db = tmp_path / "molar.duckdb"
    body = event(event_id="again-1")
    for attempt in range(2):
        app = create_app(Settings(warehouse_path=db, api_keys=API_KEYS), clock=lambda: NOW)
        with ThreadServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10, headers=AUTH) as client:
            r = client.post("/v1/events", json=body)
            assert r.status_code == 202
            assert r.json()["accepted"][0].get("duplicate", False) is (attempt == 1)
            if attempt == 1:
                changed = client.post("/v1/events", json={**body, "data": {"review_id": "R1", "rating": 1}})
                assert changed.status_code == 409
                assert changed.json()["stored"][0]["data"] == {"review_id": "R1", "rating": 5}
    engine = open_warehouse(path=db)
    assert engine.rows("SELECT count(*) FROM ops.rt_event WHERE event_id = 'his:again-1'") == [(1,)]
    engine.close()
