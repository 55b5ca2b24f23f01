"""The real-time API on a real server (Uvicorn on 127.0.0.1) and a real DuckDB file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import (  # noqa: E402
    ADMIN_KEY,
    API_KEYS,
    BOOKING_KEY,
    HIS_KEY,
    WECHAT_KEY,
    Record,
    ThreadServer,
    event,
    seed_identity,
    seed_profile,
)

from molar.config import Settings  # noqa: E402
from molar.realtime.app import create_app  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("rt") / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    seed_profile(engine)
    engine.close()
    app = create_app(Settings(warehouse_path=db, api_keys=API_KEYS, max_batch_events=5))
    with ThreadServer(app) as srv:
        srv.runtime = app.state.realtime
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


def post(client, body, key=HIS_KEY, path="/v1/events"):
    headers = {"X-API-Key": key} if key else {}
    return client.post(path, json=body, headers=headers)


def get_patient(client, patient_id, key=HIS_KEY):
    return client.get(f"/v1/patients/{patient_id}", headers={"Authorization": f"Bearer {key}"})


def rows(server, sql, params=None):
    return server.runtime.read_engine().rows(sql, params)


def test_api_keys(client):
    r = post(client, event(), key=None)
    assert r.status_code == 401
    assert r.json() == {"error": "missing_api_key", "message": (
        "send your API token in the X-API-Key header (or Authorization: Bearer <token>); "
        "ask the Molar administrator for a token (molar tokens create) or sign in with "
        "POST /v1/sessions")}
    assert r.headers["www-authenticate"] == "Bearer"
    r = post(client, event(), key="not-a-key-at-all-xxxxxxxx")
    assert (r.status_code, r.json()["error"]) == (401, "unknown_api_key")
    r = post(client, event("review.posted"), key=BOOKING_KEY)
    assert r.status_code == 403
    assert r.json()["message"] == (
        "the API key 'booking' (source booking) may not send these events: #0 review.posted. "
        "It may send: appointment.booked, appointment.cancelled, appointment.no_show. Ask the Molar "
        "administrator to add the type to this key, or use the key of the system that owns these events")
    r = client.post("/v1/identity/refresh", headers={"X-API-Key": WECHAT_KEY})
    assert r.status_code == 403
    assert r.json()["message"] == (
        "'wechat' may not do this: the role wechat may not identity_refresh operations. Ask the Molar "
        "administrator for a role that may (docs/privacy.md lists what each role may do)")


def test_batch_size_and_body_problems(client, server):
    before = server.runtime.log.durable_seq
    r = post(client, {"events": [event(event_id=f"big{i}") for i in range(6)]}, path="/v1/events/batch")
    assert r.status_code == 413
    assert r.json() == {"error": "batch_too_large", "message": (
        "a batch may hold at most 5 events and this one has 6; split it into smaller batches "
        "(nothing was accepted)")}
    r = client.post("/v1/events", content=b"{not json", headers={"X-API-Key": HIS_KEY})
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = post(client, [event()])
    assert r.status_code == 422 and "for several events use POST /v1/events/batch" in r.json()["message"]
    r = post(client, {"events": "x"}, path="/v1/events/batch")
    assert r.status_code == 422 and r.json()["message"] == 'send {"events": [ … ]} with one object per event'
    assert server.runtime.log.durable_seq == before


def test_invalid_events_are_listed_and_nothing_is_accepted(client, server):
    before = server.runtime.log.durable_seq
    body = {"events": [
        event(event_id="v-ok"),
        event("review.posted", data={"review_id": "R2", "rating": 6}),
        event("consent.changed", patient={"mobile": "139 0000 0002"},
              data={"channel": "sms", "purpose": "marketing", "granted": "yes"}),
        event("visit.done"),
        event(patient={"golden_id": "G0000000404"}),
    ]}
    r = post(client, body, path="/v1/events/batch")
    assert r.status_code == 422
    out = r.json()
    assert out["error"] == "invalid_events"
    assert out["message"] == ("4 problem(s) in 4 event(s); nothing was accepted. "
                              "Fix them and send the request again")
    assert out["errors"] == [
        {"index": 1, "field": "data.rating", "message": "must be a whole number from 1 to 5 (got 6)"},
        {"index": 2, "field": "data.granted", "message": "must be true or false (got 'yes')"},
        {"index": 3, "field": "type", "message": (
            "'visit.done' is not an event type Molar accepts; use one of: "
            "appointment.booked, appointment.cancelled, appointment.no_show, visit.completed, "
            "charge.paid, app.action, consult.message, review.posted, telemetry.daily, "
            "consent.changed, followup.reply")},
        {"index": 4, "field": "patient.golden_id", "message": (
            "'G0000000404' is not a golden ID Molar knows (golden IDs look like G0000000042, "
            "provisional IDs like PV3fa09c21d7); send unionid, mobile or source_patient_key instead")},
    ]
    assert server.runtime.log.durable_seq == before
    assert rows(server, "SELECT count(*) FROM ops.rt_event WHERE event_id = 'his:v-ok'") == [(0,)]


def test_family_phone_is_not_used_to_resolve(client):
    r = post(client, event("consent.changed", patient={"mobile": "139 0000 0002"},
                           data={"channel": "sms", "purpose": "marketing", "granted": False}))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"index": 0, "field": "patient.mobile", "message": (
        "this number is shared by 2 patients (a family phone), so it cannot say who the event is "
        "about; also send golden_id, unionid or source_patient_key")}]


def test_identity_lookup_and_read_your_writes(client, server):
    body = {"events": [
        event(event_id="g1-by-key", patient={"source_patient_key": "BL00010001"}),
        event(event_id="g1-by-mobile", patient={"mobile": "+86 138-0000-0001"},
              data={"review_id": "R3", "rating": 4, "text": "医生很耐心"}),
        event(event_id="g1-by-unionid", patient={"unionid": "oUNION0000000000000000000001"}),
        event(event_id="g1-by-booking", patient={"source": "booking", "source_patient_key": 10000001}),
        event(event_id="g4-by-card", patient={"source": "member", "source_patient_key": "886000000004"}),
    ]}
    r = post(client, body, path="/v1/events/batch")
    assert r.status_code == 202, r.text
    accepted = r.json()["accepted"]
    assert [a["event_id"] for a in accepted] == [e["event_id"] for e in body["events"]]
    seqs = [a["seq"] for a in accepted]
    assert seqs == list(range(seqs[0], seqs[0] + 5))

    # No waiting: the GET itself waits for the worker to catch up with the log.
    r = get_patient(client, "G0000000001")
    assert r.status_code == 200
    p = r.json()
    assert p["consistency"]["up_to_date"] and p["consistency"]["applied_seq"] >= seqs[-1]
    ids = [e["event_id"] for e in p["events"]]
    assert {"his:g1-by-key", "his:g1-by-mobile", "his:g1-by-unionid", "his:g1-by-booking"} <= set(ids)
    assert "his:g4-by-card" not in ids
    assert p["patient"]["name"] == "张*" and p["patient"]["mobile"] == "138****0001"
    assert p["patient"]["wechat_linked"] is True and p["patient"]["age"] == 36
    text = json.dumps(p, ensure_ascii=False)
    for secret in ("510104199001011234", "红星路", "13800000001", "张伟", "oUNION0000000000000000000001", "医生很耐心"):
        assert secret not in text
    by_mobile = next(e for e in p["events"] if e["event_id"] == "his:g1-by-mobile")
    assert by_mobile["data"]["text"] == "[5 characters]" and by_mobile["source"] == "his"
    assert {"source": "wechat", "source_patient_key": "oUNI****"} in p["sources"]
    profile = p["profile"]
    assert profile["tags"][0]["tag_key"] == "perio_risk" and profile["tags"][0]["evidence"] == {"bleeding": True}
    assert profile["tier"]["tier"] == "growth" and profile["lifecycle"]["stage"] == "mature"
    assert profile["value_score"]["value_score"] == 72.5
    assert get_patient(client, "G0000000004").json()["events"][0]["event_id"] == "his:g4-by-card"


def test_merged_and_unknown_ids(client):
    r = get_patient(client, "G0000000009")
    assert r.status_code == 200
    assert r.json()["golden_id"] == "G0000000001"
    assert r.json()["merged"] == {"requested": "G0000000009", "merged_into": "G0000000001", "via": ["G0000000009"]}
    r = get_patient(client, "G0000000404")
    assert r.status_code == 404
    assert r.json()["message"].startswith("no patient with ID 'G0000000404' that you may see.")


def test_duplicate_event_id_is_processed_once(client, server):
    body = event(event_id="dup-1", data={"review_id": "R5", "rating": 3})
    first = post(client, body)
    second = post(client, body)
    assert first.status_code == second.status_code == 202
    seq = first.json()["accepted"][0]["seq"]
    assert second.json()["accepted"] == [
        {"event_id": "dup-1", "seq": seq, "patient_id": "G0000000001", "duplicate": True}]
    r = post(client, {"events": [event(event_id="dup-2"), event(event_id="dup-2"), body]}, path="/v1/events/batch")
    acc = r.json()["accepted"]
    assert [a.get("duplicate", False) for a in acc] == [False, True, True]
    assert acc[0]["seq"] == acc[1]["seq"] and acc[2]["seq"] == seq
    # Forget the collector's memory (as after a restart, which replays the log first): the
    # stored event still answers.
    assert server.runtime.wait_applied(5)[0]
    server.runtime.collector._recent.clear()
    assert post(client, body).json()["accepted"][0] == {
        "event_id": "dup-1", "seq": seq, "patient_id": "G0000000001", "duplicate": True}
    # The same ID with other content is refused and the stored version shown.
    server.runtime.collector._recent.clear()
    changed = post(client, {**body, "data": {"review_id": "R5", "rating": 1}})
    assert changed.status_code == 409
    assert changed.json()["stored"] == [{"event_id": "dup-1", "type": "review.posted",
                                         "occurred_at": "2026-11-23T09:30:00",
                                         "data": {"review_id": "R5", "rating": 3}, "patient_id": "G0000000001"}]
    events = get_patient(client, "G0000000001").json()["events"]
    assert [e["event_id"] for e in events].count("his:dup-1") == 1
    assert rows(server, "SELECT count(*) FROM ops.rt_event WHERE event_id IN ('his:dup-1', 'his:dup-2')") == [(2,)]
    # Event IDs are scoped by source: the WeChat system's "dup-1" is another event.
    assert post(client, body, key=WECHAT_KEY).json()["accepted"][0].get("duplicate") is None
    assert server.runtime.wait_applied(5)[0]
    assert rows(server, "SELECT count(*) FROM ops.rt_event WHERE event_id LIKE '%:dup-1'") == [(2,)]


def test_provisional_id_is_stable_and_reconciled(client, server):
    unknown = {"unionid": "oNEWPERSON000000000000000001"}
    for i in range(2):
        r = post(client, event("app.action", event_id=f"new-{i}", patient=unknown,
                               data={"platform": "wechat", "action": "article_read"}), key=WECHAT_KEY)
        assert r.status_code == 202, r.text
    r = post(client, event("app.action", event_id="new-2", patient={"mobile": "13500000005", **unknown},
                           data={"platform": "wechat", "action": "share"}), key=WECHAT_KEY)
    assert r.status_code == 202
    r = post(client, event("app.action", event_id="new-3", patient={"mobile": "13500000005"},
                           data={"platform": "app", "action": "share"}), key=WECHAT_KEY)
    get_patient(client, "G0000000001")   # read-your-writes: everything above is applied
    pvs = rows(server, "SELECT DISTINCT golden_id, provisional FROM ops.rt_event WHERE event_id LIKE 'wechat:new-%'")
    assert len(pvs) == 1 and pvs[0][1] is True
    pv = pvs[0][0]
    assert pv.startswith("PV") and len(pv) == 12
    p = get_patient(client, pv).json()
    assert p["provisional"] is True and p["patient"] is None
    assert p["known_by"]["wechat_linked"] and p["known_by"]["mobile"] == "135****0005"
    assert len(p["events"]) == 4

    # An identity run learns who they are; the server is told to refresh.
    server.runtime.pipeline.call(lambda engine: seed_identity(engine, [
        Record("G0000000005", "wechat", "oNEWPERSON000000000000000001", "赵六", "+8613500000005",
               "oNEWPERSON000000000000000001")], run_id="run2", retired=())).result(10)
    r = client.post("/v1/identity/refresh", headers={"X-API-Key": WECHAT_KEY})
    assert r.status_code == 403
    r = client.post("/v1/identity/refresh", headers={"X-API-Key": ADMIN_KEY})
    assert r.status_code == 200 and r.json()["provisional_resolved"] == 1
    p = get_patient(client, pv).json()
    assert p["golden_id"] == "G0000000005" and p["resolved_from"]["matched_by"] == "unionid"
    assert len(p["events"]) == 4 and p["patient"]["name"] == "赵*"
    r = post(client, event("app.action", event_id="new-4", patient=unknown,
                           data={"platform": "wechat", "action": "share"}), key=WECHAT_KEY)
    assert len(get_patient(client, "G0000000005").json()["events"]) == 5


def test_health_and_openapi(client, server):
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["lag"] == h["log_seq"] - h["applied_seq"]
    assert client.get("/v1/health", params={"stats": "true"}).status_code == 401
    assert client.get("/v1/health", params={"stats": "true"}, headers={"X-API-Key": WECHAT_KEY}).status_code == 403
    h = client.get("/v1/health", params={"stats": "true"}, headers={"X-API-Key": ADMIN_KEY}).json()
    assert h["stages"] == [] and "ack_to_applied_ms" in h and h["identity_index"]["golden_ids"] >= 4
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventIn"}
    assert "PatientRef" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["ApiKeyHeader"]["name"] == "X-API-Key"
    assert client.get("/docs").status_code == 200
