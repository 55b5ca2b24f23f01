"""Access on the real `molar serve` app (Uvicorn on 127.0.0.1, a real DuckDB file): every
route has a policy, every role × route answer, masking of every personal field, source
systems limited to their own events and patients, and the audit rows reads leave."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import NOW, ThreadServer, event, seed_identity, seed_profile  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.privacy import audit, event_data, fields  # noqa: E402
from molar.privacy.accounts import add_user, create_token  # noqa: E402
from molar.privacy.policy import load_policy  # noqa: E402
from molar.realtime.schemas import data_fields  # noqa: E402
from molar.serve import build_server  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402

pytestmark = pytest.mark.timeout(180)
ROLES = ("front_desk", "nurse", "doctor", "marketer", "analyst", "clinic_manager", "admin", "auditor",
         "his", "booking", "wechat", "consult", "telemetry")
RULE = "decline_winback"


# ---------------------------------------------------------------------- route walk
def unguarded_routes(app: FastAPI) -> list[str]:
    """Routes that neither declare a permission nor are listed as public in the policy."""
    public = load_policy().public
    missing = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            if f"GET {route.path}" not in public:
                missing.append(f"GET {route.path}")
            continue
        methods = sorted(getattr(route, "methods", None) or ["GET"])
        names = [f"{m} {context.path}" for m in methods if m != "HEAD"]
        if isinstance(route, APIRoute) and _permission(route.dependant):
            continue
        missing.extend(n for n in names if n not in public)
    return missing


def _permission(dependant) -> bool:
    if getattr(dependant.call, "permission", None):
        return True
    return any(_permission(d) for d in dependant.dependencies)


def test_every_route_has_a_policy(tmp_path):
    app = build_server(Settings(warehouse_path=tmp_path / "molar.duckdb"))
    assert unguarded_routes(app) == []
    # A new route without a policy is found.
    app.get("/v1/new-thing")(lambda: {})
    assert unguarded_routes(app) == ["GET /v1/new-thing"]


# ---------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("access") / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    seed_profile(engine)
    tokens = {role: create_token(engine, f"{role}-token", role, now=NOW, by="test") for role in ROLES}
    tokens["front_desk_c02"] = create_token(engine, "fd-c02", "front_desk", clinics=["C02"], now=NOW, by="test")
    add_user(engine, "li.nurse", "correct horse battery", "nurse", now=NOW, by="test")
    cipher = fields.cipher_for(engine)
    with engine.transaction():  # a HIS charge with extra fields stored before they were refused (sealed by 0020)
        for seq, event_id, type_, source, data in (
                (1, "his:c1", "charge.paid", "his", {"charge_id": "F1", "amount_yuan": 120.0,
                                                     "payer_mobile": "13999999999"}),
                (2, "wechat:m1", "consult.message", "wechat", {"consult_id": "Q1", "channel": "wechat",
                                                               "text": "牙龈出血怎么办"})):
            plain, token = event_data.seal(cipher, event_id, data, data_fields(type_))
            engine.execute("INSERT INTO ops.rt_event VALUES (?, ?, ?, 'G0000000001', false, ?, ?, ?, ?, false, ?, ?)",
                           [seq, event_id, type_, source, NOW, NOW, NOW, json.dumps(plain), token])
    engine.close()
    app = build_server(Settings(warehouse_path=db), clock=lambda: NOW, profile_first_after=timedelta(days=3650))
    with ThreadServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        srv.http, srv.tokens, srv.runtime = http, tokens, app.state.realtime
        yield srv


def call(live, who, method, path, headers=None, **kw):
    auth = {"Authorization": f"Bearer {live.tokens[who]}"} if who else {}
    return live.http.request(method, path, headers={**auth, **(headers or {})}, **kw)


PROBES = {
    "send": ("POST", "/v1/events", {"json": {}}),   # allowed: 422 (empty event); denied: 403
    "lookup": ("GET", "/v1/patients/lookup", {"params": {"mobile": "13800000001"}}),
    "read": ("GET", "/v1/patients/G0000000001", {}),
    "stats": ("GET", "/v1/health", {"params": {"stats": "true"}}),
    "refresh": ("POST", "/v1/identity/refresh", {}),
    "rules": ("GET", "/v1/rules", {}),
    "rule": ("GET", f"/v1/rules/{RULE}", {}),
    "enable": ("POST", f"/v1/rules/{RULE}/enable", {}),
    "decisions": ("GET", "/v1/rules/decisions", {"params": {"patient": "G0000000001"}}),
    "why": ("GET", f"/v1/rules/{RULE}/why/G0000000001", {}),
    "audit": ("GET", "/v1/audit", {}),
    "verify": ("GET", "/v1/audit/verify", {}),
}
# What each role may do, written out by hand from the product's intent (docs/privacy.md).
ALLOWED = {
    "front_desk": {"lookup", "read"},
    "nurse": {"lookup", "read"},
    "doctor": {"lookup", "read", "decisions", "why"},
    "marketer": {"read", "rules", "rule", "enable", "decisions", "why"},
    "analyst": {"read", "rules", "rule", "decisions", "why"},
    "clinic_manager": {"lookup", "read", "stats", "rules", "rule", "decisions", "why"},
    "admin": {"send", "lookup", "read", "stats", "refresh", "rules", "rule", "enable", "decisions", "why"},
    "auditor": {"stats", "audit", "verify"},
    "his": {"send", "lookup", "read"},
    "booking": {"send", "lookup", "read"},
    "wechat": {"send", "lookup", "read"},
    "consult": {"send", "lookup", "read"},
    "telemetry": {"send", "lookup"},
}


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(live, role):
    answers = {}
    for probe, (method, path, kw) in PROBES.items():
        r = call(live, role, method, path, **kw)
        assert r.status_code != 500, (probe, r.text)
        answers[probe] = r.status_code != 403 or r.json()["error"] != "not_allowed"
        if not answers[probe]:
            assert r.status_code == 403
    assert {p for p, ok in answers.items() if ok} == ALLOWED[role]


def test_no_credential_is_401_everywhere_but_health(live):
    for method, path, kw in PROBES.values():
        if path == "/v1/health":
            continue
        assert call(live, None, method, path, **kw).status_code == 401, path
    assert call(live, None, "GET", "/v1/health").status_code == 200


# Each personal field of G0000000001 as each role sees it (None: left out).
FULL = {"name": "张伟", "mobile": "+8613800000001", "birth_date": "1990-01-01", "id_number": "510104199001011234",
        "address": "红星路1号", "wechat_unionid": "oUNION0000000000000000000001"}
MASKED = {"name": "张*", "mobile": "138****0001", "birth_date": None, "id_number": "510104********1234",
          "address": None, "wechat_unionid": "oUNI****"}
HIDDEN = dict.fromkeys(FULL)
SEEN = {
    "front_desk": {**FULL, "id_number": MASKED["id_number"], "address": None, "wechat_unionid": "oUNI****"},
    "nurse": {**FULL, "mobile": MASKED["mobile"], "id_number": None, "address": None, "wechat_unionid": None},
    "doctor": {**FULL, "mobile": MASKED["mobile"], "id_number": None, "address": None, "wechat_unionid": None},
    "marketer": {**HIDDEN, "name": "张*", "mobile": "138****0001"},
    "analyst": HIDDEN,
    "clinic_manager": {**FULL, "mobile": MASKED["mobile"], "id_number": MASKED["id_number"], "address": None,
                       "wechat_unionid": "oUNI****"},
    "admin": {**MASKED, "id_number": None},
    "his": {**HIDDEN, "name": "张*", "mobile": "138****0001"},
    "booking": {**HIDDEN, "name": "张*", "mobile": "138****0001"},
    "wechat": {**HIDDEN, "name": "张*", "mobile": "138****0001", "wechat_unionid": FULL["wechat_unionid"]},
}
CONSULT_TEXT = {"front_desk": None, "nurse": "牙龈出血怎么办", "doctor": "牙龈出血怎么办", "marketer": None,
                "analyst": None, "clinic_manager": "牙龈出血怎么办", "admin": "[7 characters]", "wechat": None}


@pytest.mark.parametrize("role", list(SEEN))
def test_masking_of_each_personal_field(live, role):
    r = call(live, role, "GET", "/v1/patients/G0000000001")
    assert r.status_code == 200, r.text
    p = r.json()
    assert {k: p["patient"][k] for k in FULL} == SEEN[role]
    text = json.dumps(p, ensure_ascii=False)
    assert "13999999999" not in text and "payer_mobile" not in text   # unknown event fields never echo
    consult = [e for e in p["events"] if e["type"] == "consult.message"]
    if role in CONSULT_TEXT:
        assert [e["data"].get("text") for e in consult] == ([CONSULT_TEXT[role]] if role not in ("his", "booking")
                                                             else [])
    if role == "analyst":
        assert all(s["source_patient_key"] is None for s in p["sources"])
    if role in ("his", "booking", "wechat"):   # only their own system's part
        assert {s["source"] for s in p["sources"]} == {role} and p["profile"] is None
        assert {e["source"] for e in p["events"]} <= {role}


def test_clinic_scoped_token_sees_only_its_clinics_patients(live):
    assert call(live, "front_desk_c02", "GET", "/v1/patients/G0000000001").status_code == 404
    assert call(live, "front_desk", "GET", "/v1/patients/G0000000001").status_code == 200


def test_source_systems_are_limited_to_their_events_and_patients(live):
    visit = event("visit.completed", patient={"unionid": "oUNION0000000000000000000001"}, data={
        "visit_id": "V9", "clinic_id": "C01", "department": "牙周科", "items": [{"item_code": "CLN"}]})
    r = call(live, "wechat", "POST", "/v1/events", json=visit)
    assert r.status_code == 403 and r.json()["error"] == "event_type_not_allowed"
    review = event(patient={"source": "his", "source_patient_key": "BL00010002"})
    r = call(live, "wechat", "POST", "/v1/events", json=review)
    assert r.status_code == 403 and r.json()["error"] == "not_your_patient"
    r = call(live, "wechat", "POST", "/v1/events", json=event(patient={"golden_id": "G0000000002"}))
    assert r.status_code == 403 and r.json()["error"] == "not_your_patient"
    # The consult system holds no record of G1: it cannot read the patient's HIS charges.
    assert call(live, "consult", "GET", "/v1/patients/G0000000001").status_code == 404
    his = call(live, "his", "GET", "/v1/patients/G0000000001").json()
    charge = next(e for e in his["events"] if e["type"] == "charge.paid")
    assert charge["data"] == {"charge_id": "F1", "amount_yuan": 120.0}
    r = call(live, "wechat", "GET", "/v1/patients/lookup", params={"source": "his", "source_patient_key": "BL00010001"})
    assert r.status_code == 403
    r = call(live, "his", "GET", "/v1/patients/lookup", params={"source_patient_key": "BL00010001"})
    assert r.json() == {"patient_id": "G0000000001", "provisional": False, "matched_by": "source_patient_key"}


def test_sign_in_gives_a_session_with_the_users_role(live):
    r = live.http.post("/v1/sessions", json={"username": "li.nurse", "password": "wrong password!"})
    assert r.status_code == 401
    r = live.http.post("/v1/sessions", json={"username": "nobody", "password": "correct horse battery"})
    assert r.status_code == 401
    r = live.http.post("/v1/sessions", json={"username": "li.nurse", "password": "correct horse battery"})
    assert r.status_code == 200 and r.json()["role"] == "nurse"
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    assert live.http.get("/v1/patients/G0000000001", headers=auth).json()["patient"]["name"] == "张伟"
    assert live.http.get("/v1/rules", headers=auth).status_code == 403


def test_reads_are_audited_and_the_chain_verifies(live):
    r = call(live, "doctor", "GET", "/v1/patients/G0000000002", headers={"X-Purpose": "treatment"})
    assert r.status_code == 200
    entries = call(live, "auditor", "GET", "/v1/audit", params={"patient": "G0000000002", "actor": "doctor-token"}).json()
    row = entries["entries"][0]
    assert (row["actor"], row["role"], row["action"], row["resource"], row["purpose"]) == (
        "doctor-token", "doctor", "patient.read", "GET /v1/patients/{patient_id}", "treatment")
    assert row["fields"] == ["birth_date", "district", "name", "source_key"]
    assert row["detail"] == {"masked": ["mobile"]}
    assert "李娜" not in json.dumps(entries, ensure_ascii=False)   # the audit log holds no values
    call(live, "marketer", "POST", f"/v1/rules/{RULE}/enable")
    changes = call(live, "auditor", "GET", "/v1/audit", params={"action": "rule.change"}).json()["entries"]
    assert changes[0]["actor"] == "marketer-token" and changes[0]["detail"]["rule"] == RULE
    consent = event("consent.changed", event_id="cc-1", patient={"unionid": "oUNION0000000000000000000001"},
                    data={"channel": "sms", "purpose": "marketing", "granted": False})
    assert call(live, "wechat", "POST", "/v1/events", json=consent).status_code == 202
    row = call(live, "auditor", "GET", "/v1/audit", params={"action": "consent.change"}).json()["entries"][0]
    assert (row["actor"], row["patient"], row["detail"]) == ("wechat-token", "G0000000001", {
        "event_id": "cc-1", "channel": "sms", "purpose": "marketing", "after": {"granted": False}})
    assert call(live, "auditor", "GET", "/v1/audit/verify").json()["ok"] is True


def test_an_edited_audit_row_is_detected(tmp_path):
    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    for i in range(3):
        audit.record(engine, actor=f"u{i}", role="doctor", action="patient.read", resource="GET /v1/patients/{id}",
                     patient="G1", fields=["name"], purpose="api", at=datetime(2026, 11, 23, 10, i))
    assert audit.verify(engine).ok and audit.verify(engine).rows == 3
    engine.execute("UPDATE ops.audit_log SET actor = 'someone-else' WHERE seq = 2")
    result = audit.verify(engine)
    assert not result.ok and result.bad_seq == 2 and "changed after it was written" in result.problem
    engine.execute("UPDATE ops.audit_log SET actor = 'u1' WHERE seq = 2")
    assert audit.verify(engine).ok
    engine.execute("DELETE FROM ops.audit_log WHERE seq = 2")
    result = audit.verify(engine)
    assert not result.ok and result.bad_seq == 2 and "deleted" in result.problem
    engine.close()
