"""The raw and quarantine layers hold no plaintext personal value after an ingest, and the
sealed values still standardise into the same std rows and open back to what was sent."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest
import xlsxwriter
from typer.testing import CliRunner

from molar.cli import app
from molar.identity import resolve
from molar.ingest import quarantine
from molar.model.events import Event
from molar.privacy import consent, crypto, event_data, fields, keys, sealed
from molar.privacy.blind_index import BlindIndexer
from molar.realtime.event_table import store_events, store_provisional
from molar.warehouse import open_warehouse
from support import PATIENT_HEADER, id_number, issues, load, seal_free_text

GOOD_ID = id_number("51010719850315001")
BAD_ID = GOOD_ID[:-1] + ("1" if GOOD_ID[-1] != "1" else "2")   # checksum fails: quarantined
PATIENTS = PATIENT_HEADER + (
    f"P1,欧阳明华,女,1985-03-15,13812345678,{GOOD_ID},锦江区,红星路88号,2024-01-05,锦江口腔门诊部\r\n"
    "P2,司马光远,男,1990-01-01,1391234567,,锦江区,,2024-01-05,锦江口腔门诊部\r\n"     # 10 digits
    f"P3,诸葛云飞,男,1985-03-15,13700001111,{BAD_ID},锦江区,,2024-01-05,锦江口腔门诊部\r\n"
    "P4,上官婉清,女,13600002222,锦江区\r\n"                                            # too few columns
)
MEMBERS = ("会员卡号,姓名,手机号码,生日,性别,身份证,开卡日期,开卡门店,会员等级,余额,积分,套餐\r\n"
           f"M1,欧阳明华,13812345678,1985-03-15,女,{GOOD_ID},2024-03-01,锦江口腔门诊部,金卡,500,120,\r\n"
           "M2,东方既白,1350000444,1991-01-01,男,,2024-03-01,锦江口腔门诊部,金卡,0,0,\r\n")
CUSTOMERS = [["客户ID", "姓名", "手机", "性别", "生日", "注册时间"],
             ["B1", "慕容秋水", "13600005555", "女", "1990-01-01", "2024-01-01"]]
USERS = [{"unionid": "uUNION0001", "openid": "oOPENID0001", "nickname": "小鱼儿游游", "sex": 1,
          "mobile": "13500006666", "city": "成都", "subscribe_time": "2024-03-01 10:22:00"}]

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


@pytest.fixture
def chain(reference, tmp_path):
    folder = tmp_path / "src"   # the reference fixture put the clinics there
    (folder / "patients.csv").write_bytes(PATIENTS.encode("gbk"))
    (folder / "members.csv").write_bytes(MEMBERS.encode("gbk"))
    book = xlsxwriter.Workbook(folder / "customers.xlsx")
    sheet = book.add_worksheet("客户")
    for i, row in enumerate(CUSTOMERS):
        sheet.write_row(i, 0, row)
    book.close()
    (folder / "users.jsonl").write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in USERS))
    results = load(reference, *(folder / n for n in ("patients.csv", "members.csv", "customers.xlsx", "users.jsonl")))
    assert [r.status for r in results] == ["complete"] * 4, [r.message_en for r in results]
    return reference


def _names_in_sources() -> set[str]:
    """Every person's name, read from the source texts above (not from the code under test)."""
    names = {row["患者姓名"] for row in csv.DictReader(io.StringIO(PATIENTS)) if row.get("患者姓名")}
    names |= {row["姓名"] for row in csv.DictReader(io.StringIO(MEMBERS))}
    names |= {row[1] for row in CUSTOMERS[1:]} | {u["nickname"] for u in USERS}
    names.add("上官婉清")   # the short line's name sits in the mobile's column
    return names


def _varchar_values(engine, schema: str):
    columns = engine.rows("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = ? AND data_type = 'VARCHAR'", [schema])
    for table, column in columns:
        if column in ("_load_id", "load_id"):   # hex batch IDs, not values
            continue
        for (value,) in engine.rows(f'SELECT DISTINCT "{column}" FROM {schema}."{table}" WHERE "{column}" IS NOT NULL'):
            yield f"{schema}.{table}.{column}", value


def test_no_plaintext_mobile_id_number_or_name_in_raw_or_quarantine(chain):
    names = _names_in_sources()
    hits = []
    for schema in ("raw", "quarantine"):
        for where, value in _varchar_values(chain, schema):
            if MOBILE.search(value) or ID_NUMBER.search(value) or any(n in value for n in names):
                hits.append((where, value))
    assert hits == []
    # the scan looked where the values were sent: the sealed columns hold tokens
    tokens = chain.rows('SELECT "手机号" FROM raw.his__patients WHERE "手机号" IS NOT NULL')
    assert len(tokens) == 3 and all(t.startswith("v1.") for (t,) in tokens)


def test_sealed_values_standardise_and_open_back(chain):
    plain = fields.read_patients(chain, "source_patient_key, name, mobile, id_number",
                                 "WHERE source = 'his' ORDER BY source_patient_key").to_pylist()
    assert plain == [{"source_patient_key": "P1", "name": "欧阳明华", "mobile": "+8613812345678", "id_number": GOOD_ID}]
    booking = fields.read_patients(chain, "name, mobile", "WHERE source = 'booking'").to_pylist()
    assert booking == [{"name": "慕容秋水", "mobile": "+8613600005555"}]
    reveal = crypto.FieldCipher(keys.open_keyring_from(None, chain))
    opened = quarantine.issues(chain, "row_number, field, code", "WHERE severity = 'error' ORDER BY file_path, row_number",
                               None, reveal)
    assert [(r[1], r[2], r[3]) for r in opened] == [
        ("手机号码", "mobile_wrong_length", "1350000444"),
        ("手机号", "mobile_wrong_length", "1391234567"),
        ("身份证号", "id_bad_checksum", BAD_ID),
        (None, "wrong_column_count", opened[3][3]),
    ]
    assert opened[3][3] == "expected=10;actual=5"
    # the short line's cells are kept only inside its sealed problem detail
    raw = chain.arrow("SELECT * FROM raw.his__patients WHERE _problem = 'wrong_column_count'")
    short = sealed.open_raw(raw, "raw.his__patients", ["_problem_detail"], reveal).to_pylist()[0]
    assert short["出生日期"] is None and "13600002222" in short["_problem_detail"]
    hidden = quarantine.issues(chain, "field", "WHERE code = 'mobile_wrong_length' ORDER BY field")
    assert [v for _, v in hidden] == ["***", "***"]


def test_reasons_name_the_field_and_the_shape_not_the_value(chain):
    reasons = dict(chain.rows("SELECT value_sealed::VARCHAR || code, reason_en || ' / ' || reason_zh "
                              "FROM quarantine.issue WHERE field = '手机号'"))
    text = reasons["truemobile_wrong_length"]
    assert "1391234567" not in text
    assert "10 digits" in text and "10位数字" in text and text.startswith("手机号: ")


def _opened(engine) -> dict[str, list]:
    """Every sealed value of the warehouse, opened through the privacy layer, by layer."""
    cipher = fields.cipher_for(engine)

    def rows(table, sql, key=None):
        found = fields.open_rows(table, engine.arrow(sql), cipher, key)
        return sorted(map(str, found.to_pylist()))

    raw = {t: sealed.open_raw(engine.arrow(f"SELECT * FROM {t}"), t, c, cipher).to_pylist()
           for t, c in sealed.sealed_columns(engine).items()}
    live = engine.arrow("SELECT event_id, sealed FROM ops.rt_event ORDER BY event_id")
    return {
        "raw": sorted(str(r) for t in raw.values() for r in t),
        "quarantine": sorted(map(str, issues(engine))),
        "std.patient": sorted(map(str, fields.read_patients(engine, "name, mobile, id_number, address, nickname")
                                  .to_pylist())),
        "golden": sorted(map(str, fields.read_golden(engine, "name, mobile, id_number").to_pylist())),
        "name_parse": rows("identity.name_parse", "SELECT text_bi || ':' || nickname_field AS k, parts "
                           "FROM identity.name_parse", "k"),
        "consult": rows("std.consult", "SELECT consult_id, text FROM std.consult"),
        "outbox": rows("ops.outbox", "SELECT message_id, rendered_text, payload FROM ops.outbox"),
        "consent": rows("privacy.consent_event", "SELECT event_id, evidence FROM privacy.consent_event"),
        "live": event_data.open_tokens(cipher, live["sealed"].to_pylist(), live["event_id"].to_pylist()),
        "provisional": rows("ops.provisional_identity",
                            "SELECT provisional_id, unionid, mobile FROM ops.provisional_identity"),
    }


def test_rotation_moves_every_sealed_layer(chain, tmp_path, monkeypatch):
    engine = chain
    resolve(engine)   # the golden record and the name-parse cache
    cipher = fields.cipher_for(engine)
    at = datetime(2026, 10, 30, 9, 0)
    golden = engine.scalar("SELECT min(golden_id) FROM identity.patient")
    consent.record(engine, subject=golden, purpose="marketing", channel="sms", granted=False, occurred_at=at,
                   source="cli", evidence="表单 #9 欧阳明华 13812345678", cipher=cipher)
    engine.execute("INSERT INTO std.consult (consult_id, source, source_patient_key, occurred_at, text) "
                   "VALUES ('Q1', 'his', 'P1', ?, '欧阳明华问：种牙多少钱？电话13812345678')", [at])
    seal_free_text(engine)
    engine.execute("INSERT INTO ops.outbox (message_id, idempotency_key, golden_id, channel, purpose, rendered_text, "
                   "payload, status, attempts, created_at, updated_at) VALUES ('m1', 'k1', ?, 'sms', 'care', ?, ?, "
                   "'queued', 0, ?, ?)",
                   [golden, cipher.encrypt("欧阳明华您好，明天复诊", "ops.outbox", "rendered_text", "m1"),
                    cipher.encrypt('{"name": "欧阳明华"}', "ops.outbox", "payload", "m1"), at, at])
    keyring = keys.open_keyring_from(None, engine)
    said = Event("his:q2", "consult.message", "PV00000000aa", at, {"consult_id": "Q2", "channel": "chat",
                                                                    "text": "我是欧阳明华，电话13812345678"},
                 source="his", provisional=True)
    store_events(engine, [said], derived=False, seq=1, now=at, cipher=cipher)
    store_provisional(engine, [(said, {"mobile": "+8613900001111", "unionid": "oLIVE1"})], at, cipher,
                      BlindIndexer.from_keyring(keyring))
    before = _opened(engine)
    assert all(before.values()), [layer for layer, values in before.items() if not values]
    old_key = keyring.active["data"]
    engine.close()

    new = keys.new_master_key()
    monkeypatch.setenv("MOLAR_NEW_MASTER_KEY", new)
    out = CliRunner().invoke(app, ["privacy", "rotate-key", "--reencrypt", "-w", str(tmp_path / "molar.duckdb")])
    assert out.exit_code == 0, out.output
    monkeypatch.setenv("MOLAR_MASTER_KEY", new)
    with open_warehouse(path=tmp_path / "molar.duckdb") as rotated:
        retired = rotated.scalar("SELECT retired_at IS NOT NULL FROM privacy.data_key WHERE key_id = ?", [old_key])
        under_old = [(s, t, c) for s, t, c in rotated.rows(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_catalog = current_database()")
            if rotated.scalar(f'SELECT count(*) FROM "{s}"."{t}" WHERE contains(CAST("{c}" AS VARCHAR), ?)',
                              [f"v1.{old_key}."])]
        after = _opened(rotated)
    assert retired
    assert under_old == []   # looked for in every text column, not only the ones rotation knows
    assert after == before
