"""`molar privacy scan`: finds plaintext mobiles, ID numbers and patient names planted in
any text column, and leaves tokens, hex identifiers and staff names alone."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from typer.testing import CliRunner

from molar.cli import app
from molar.config import Settings
from molar.privacy import crypto, keys, scan
from molar.realtime.schemas import local_now
from molar.serve import build_server
from molar.warehouse import open_warehouse
from support import PATIENT_HEADER, id_number, load

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))
from rtsupport import API_KEYS, HIS_KEY, ThreadServer  # noqa: E402

# Planted values; none comes from the code under test.
NAME, MOBILE = "欧阳明华", "13812345678"
IDN = id_number("51010719850315001")
DOCTOR = "王建国"   # a doctor in support.DOCTORS_CSV, and below also a patient's name


def _patients(write):
    return write("patients.csv", PATIENT_HEADER
                 + f"P1,{NAME},女,1985-03-15,{MOBILE},{IDN},锦江区,,2024-01-05,锦江口腔门诊部\r\n"
                 + f"P2,{DOCTOR},男,1990-01-01,13912345678,,锦江区,,2024-01-05,锦江口腔门诊部\r\n")


def _plant(engine):
    cipher = crypto.FieldCipher(keys.open_keyring_from(None, engine))
    engine.execute("CREATE SCHEMA planted")
    engine.execute("CREATE TABLE planted.t (k INTEGER, contact VARCHAR, idcard VARCHAR, who VARCHAR, note VARCHAR, "
                   "tags VARCHAR[], data JSON, sealed VARCHAR, event_id VARCHAR, sealed_json JSON)")
    token = cipher.encrypt(f"{NAME} {MOBILE} {IDN}", "planted.t", "sealed", 1)
    engine.execute(
        "INSERT INTO planted.t VALUES (1, '电话：138-1234-5678', ?, ?, ?, ['vip', '+86' || ?], ?, ?, ?, ?), "
        "(2, 'no phone', 'n/a', '张', '牙疼三天了', ['vip'], '{}', ?, 'ab13812345678', '{}')",
        [IDN, NAME, f"患者{NAME}说牙疼", MOBILE, json.dumps({"payer_mobile": MOBILE}), token,
         "3fae7258c7e9d13890984414", json.dumps({"mobile": token}),
         "v1.d0a1b2c3.AAAA-13812345678-AAAA"])   # base64url may hold a bounded digit run


def _found(result, schema):
    return {h.column.removeprefix(schema + "."): (h.mobiles, h.id_numbers, h.names, h.text_with_name)
            for h in result.hits if h.column.startswith(schema + ".")}


def test_scan_finds_planted_plaintext_and_not_tokens_or_hex_ids(reference, write):
    load(reference, _patients(write))
    _plant(reference)
    result = scan.scan(reference)
    assert result.patient_names == 2
    assert _found(result, "planted") == {
        "t.contact": (1, 0, 0, 0), "t.idcard": (0, 1, 0, 0), "t.who": (0, 0, 1, 0),
        "t.note": (0, 0, 0, 1), "t.tags": (1, 0, 0, 0), "t.data": (1, 0, 0, 0)}
    assert _found(result, "std") == {}   # std.patient holds tokens and blind indexes (hex) only


def test_staff_names_are_not_patient_names(reference, write):
    load(reference, _patients(write))
    assert reference.scalar("SELECT count(*) FROM std.doctor WHERE name = ?", [DOCTOR]) == 2
    result = scan.scan(reference)
    assert [c for c in result.columns if c.startswith("std.doctor")] == []
    # every layer is sealed, and the doctor's name (also a patient's) is staff data, not a hit
    assert result.hits == [], result.columns


def test_cli_scan_prints_columns_and_exits_1(reference, write, tmp_path):
    load(reference, _patients(write))
    _plant(reference)
    reference.close()
    env = {"MOLAR_WAREHOUSE": str(tmp_path / "molar.duckdb"), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    out = CliRunner().invoke(app, ["privacy", "scan", "--json"], env=env)
    assert out.exit_code == 1, out.output
    listed = {c["column"]: c for c in json.loads(out.stdout)["columns"]}
    assert listed["planted.t.idcard"]["id_numbers"] == 1 and "planted.t.sealed" not in listed
    text = CliRunner().invoke(app, ["privacy", "scan"], env=env)
    assert "planted.t.note" in text.output and "明文扫描" in text.output


def test_live_events_leave_no_plaintext(reference, write, tmp_path):
    """Events from a running server: free text naming a patient with her mobile, a new
    person known only by a mobile and a unionid, a referral by unionid."""
    load(reference, _patients(write))
    reference.close()
    db = tmp_path / "molar.duckdb"
    at = (local_now() - timedelta(hours=1)).isoformat(timespec="seconds")
    said = f"我是{NAME}，种植牙术后有点肿，电话{MOBILE}"
    events = [
        {"event_id": "q1", "type": "consult.message", "occurred_at": at,
         "patient": {"mobile": "13987654321", "unionid": "oLIVEUNION000000000000000001"},
         "data": {"consult_id": "Q1", "channel": "chat", "text": said}},
        {"event_id": "f1", "type": "followup.reply", "occurred_at": at, "patient": {"mobile": "13987654321"},
         "data": {"status": "concern", "text": said}},
        {"event_id": "r1", "type": "review.posted", "occurred_at": at, "patient": {"source_patient_key": "P1"},
         "data": {"review_id": "R1", "rating": 2, "text": f"{NAME}：医生很好，就是等太久"}},
        {"event_id": "a1", "type": "app.action", "occurred_at": at, "patient": {"source_patient_key": "P1"},
         "data": {"platform": "wechat", "action": "referral", "referrer_unionid": "oLIVEUNION000000000000000001"}},
    ]
    server_app = build_server(Settings(warehouse_path=db, api_keys=API_KEYS), profile_first_after=timedelta(days=3650))
    with ThreadServer(server_app) as srv, httpx.Client(base_url=srv.url, timeout=30) as http:
        sent = http.post("/v1/events/batch", json={"events": events}, headers={"X-API-Key": HIS_KEY})
        assert sent.status_code == 202, sent.text
        extra = http.post("/v1/events", headers={"X-API-Key": HIS_KEY}, json={
            "type": "charge.paid", "occurred_at": at, "patient": {"source_patient_key": "P1"},
            "data": {"charge_id": "F1", "amount_yuan": 80, "payer_mobile": MOBILE}})
        assert extra.status_code == 422   # an undeclared field is refused, never stored
        runtime = server_app.state.realtime
        assert runtime.wait_applied(120)[0], runtime.health(stats=True)
        # the readers still see what was said (through the privacy layer)
        pv = runtime.index.resolve(mobile="+8613987654321").golden_id
        seen = runtime.read_engine().rows("SELECT count(*) FROM ops.followup_reply WHERE golden_id = ?", [pv])
    with open_warehouse(path=db) as engine:
        assert engine.count("ops.rt_event") >= 4 and engine.count("ops.provisional_identity") >= 1
        assert seen == [(1,)]
        result = scan.scan(engine)
    assert result.hits == [], result.columns
