"""Export and erasure on a small warehouse built the way a chain builds one: files ingested,
identity resolved, profile computed, automation rows written."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.identity import resolve
from molar.ingest import ingest_paths
from molar.ingest.cli import run_ingest
from molar.privacy import consent, keys, rights
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.profile.run import compute_profile
from molar.warehouse import open_warehouse
from support import CLINICS_CSV, DOCTORS_CSV, PATIENT_HEADER, TODAY, id_number

MASTER = keys.new_master_key()
ZHANG_ID = id_number("51010719850312001")
MOBILE = "13812345678"

PATIENTS = PATIENT_HEADER + (
    f"P90001,张三丰,男,1985-03-12,{MOBILE},{ZHANG_ID},锦江区,红星路9号,2024-01-05,锦江口腔门诊部\r\n"
    # his daughter, registered with his phone: must survive his erasure
    f"P90002,张小花,女,2015-06-01,{MOBILE},,锦江区,红星路9号,2024-01-05,锦江口腔门诊部\r\n"
    "P90003,李四光,男,1979-02-11,13900001111,,武侯区,天府大道8号,2024-02-01,高新口腔门诊部\r\n"
)
VISITS = ("就诊号,病历号,就诊日期,诊所,科室,医生,诊断\r\n"
          "V90001,P90001,2026-03-01,锦江口腔门诊部,牙周科,D001,牙周炎\r\n"
          "V90002,P90001,2026-09-01,锦江口腔门诊部,牙周科,D001,复查\r\n"
          "V90003,P90002,2026-09-01,锦江口腔门诊部,综合科,D002,龋齿\r\n"
          "V90004,P90003,2026-08-01,高新口腔门诊部,综合科,D003,洁治\r\n")
TREATMENTS = ("就诊号,序号,项目编码,牙位,数量\r\n"
              "V90001,1,PERIO,16,1\r\nV90003,1,CLN,36,1\r\n")
CHARGES = ("收费单号,就诊号,病历号,收费日期,金额,实收,支付方式,优惠券\r\n"
           "F90001,V90001,P90001,2026-03-01,1200,1200,微信,\r\n"
           "F90004,V90004,P90003,2026-08-01,300,300,现金,\r\n")
MEMBERS = ("会员卡号,姓名,手机号码,生日,性别,身份证,开卡日期,开卡门店,会员等级,余额,积分,套餐\r\n"
           f"M90001,张三丰,{MOBILE},1985-03-12,男,{ZHANG_ID},2024-03-01,锦江口腔门诊部,金卡,500,120,\r\n")
CONSULTS = ("咨询ID,客户来源,客户编号,渠道,时间,内容\r\n"
            "Q90001,his,P90001,微信,2026-09-02 10:00,医生很耐心，谢谢\r\n")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOLAR_MASTER_KEY", MASTER)
    monkeypatch.setenv("COLUMNS", "300")


def _files(folder: Path) -> list[Path]:
    files = []
    for name, text, encoding in (("his/clinics.csv", CLINICS_CSV, "gbk"), ("his/doctors.csv", DOCTORS_CSV, "gbk"),
                                 ("his/patients.csv", PATIENTS, "gbk"), ("his/visits.csv", VISITS, "gbk"),
                                 ("his/treatments.csv", TREATMENTS, "gbk"), ("his/charges.csv", CHARGES, "gbk"),
                                 ("member/members.csv", MEMBERS, "utf-8-sig"),
                                 ("consult/consults.csv", CONSULTS, "utf-8")):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        files.append(path)
    return files


def _pipeline(engine, files, force=False):
    results = run_ingest(engine, files, TODAY, force=force, show_progress=False)
    assert all(r.status in ("complete", "skipped") for r in results), [r.message_en for r in results]
    resolve(engine, now=datetime(2026, 10, 31, 12))
    compute_profile(engine, TODAY, sentiment=True)


def _golden(engine, key: str) -> str | None:
    return engine.scalar("SELECT golden_id FROM identity.cluster WHERE unique_id = ?", [key])


def _automation_rows(engine, golden: str) -> None:
    """Rows the rules engine writes for a patient (the shapes of migration 0006)."""
    at = datetime(2026, 10, 1, 10)
    engine.execute("INSERT INTO ops.outbox (message_id, idempotency_key, golden_id, channel, purpose, status, "
                   "attempts, created_at, updated_at) VALUES ('MSG1', 'r|g|o|1', ?, 'sms', 'care', 'sent', 1, ?, ?)",
                   [golden, at, at])
    cipher = FieldCipher(keys.open_keyring(engine, keys.parse_master_key(MASTER)))
    engine.execute("INSERT INTO ops.delivered_local VALUES ('r|g|o|1', 'MSG1', 'sms', ?, ?)",   # sealed, as LocalSink writes it
                   [cipher.encrypt('{"text":"您好"}', "ops.delivered_local", "body", "MSG1"), at])
    engine.execute("INSERT INTO ops.timer VALUES ('T1', 'r', ?, 'o', '1', ?, NULL, 'pending', ?, NULL)", [golden, at, at])
    engine.execute("INSERT INTO ops.task (task_id, kind, golden_id, due_at, status, created_at) "
                   "VALUES ('K1', 'nurse', ?, ?, 'open', ?)", [golden, at, at])
    engine.execute("INSERT INTO ops.rule_decision (decision_id, decided_at, rule_key, golden_id, action, outcome) "
                   "VALUES ('D1', ?, 'r', ?, 'send', 'sent')", [at, golden])
    consent.record(engine, subject=golden, purpose="marketing", channel="sms", granted=True, occurred_at=at,
                   source="app", evidence="勾选同意", cipher=cipher)


def _tables_holding(engine, values: set[str]) -> set[str]:
    """Independent oracle: every base table with a text cell (or list element) equal to one
    of ``values``, found by reading every VARCHAR column of every table."""
    found = set()
    cols = engine.rows("SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                       "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
                       "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
                       "AND c.data_type IN ('VARCHAR', 'VARCHAR[]')")
    needles = sorted(values)
    for schema, table, column, dtype in cols:
        name = f'{schema}."{table}"'
        col = '"' + column + '"'
        test = f"list_has_any({col}, ?)" if dtype.endswith("[]") else f"{col} IN (SELECT unnest(?))"
        if engine.scalar(f"SELECT count(*) FROM {name} WHERE {test}", [needles]):
            found.add(f"{schema}.{table}")
    return found


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The small chain, ingested, resolved and profiled once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("rights")
    files = _files(folder / "src")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOLAR_MASTER_KEY", MASTER)
        with open_warehouse(path=folder / "molar.duckdb") as engine:
            _pipeline(engine, files)
            golden = _golden(engine, "his:P90001")
            assert golden and golden == _golden(engine, "member:M90001")
            _automation_rows(engine, golden)
    return folder / "molar.duckdb", files, golden


@pytest.fixture
def chain(built, tmp_path):
    source, files, golden = built
    shutil.copy(source, tmp_path / "molar.duckdb")
    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    yield engine, files, golden
    engine.close()


def test_export_holds_every_table_that_holds_the_patient(chain):
    engine, _files_, golden = chain
    keys_ = {golden, "P90001", "M90001", "his:P90001", "member:M90001"}
    expected = _tables_holding(engine, keys_)
    assert {"std.patient", "std.visit", "identity.cluster", "profile.tag_value", "ops.outbox",
            "privacy.consent_event", "raw.his__patients"} <= expected   # the oracle itself sees the layers
    cipher = FieldCipher(keys.open_keyring(engine, keys.parse_master_key(MASTER)))
    export = rights.export_patient(engine, golden, cipher=cipher)
    assert expected <= set(export["tables"]), expected - set(export["tables"])
    tables = export["tables"]
    # rows linked without a key column of their own: treatments via visits, deliveries via messages
    assert [r["item_code"] for r in tables["std.treatment"]] == ["PERIO"]
    assert [r["message_id"] for r in tables["ops.delivered_local"]] == ["MSG1"]
    # only this patient: the daughter on the same phone is not exported
    assert {r["source_patient_key"] for r in tables["std.patient"]} == {"P90001", "M90001"}
    assert all("P90002" not in json.dumps(rows, ensure_ascii=False) for rows in tables.values())
    assert tables["privacy.consent_event"][0]["evidence"] == "勾选同意"
    # free text and messages are decrypted for the person (stored sealed)
    assert [r["text"] for r in tables["std.consult"]] == ["医生很耐心，谢谢"]
    assert [r["body"] for r in tables["ops.delivered_local"]] == ['{"text":"您好"}']
    json.dumps(export, ensure_ascii=False)   # machine-readable as it is


def _present(engine, golden: str) -> dict[str, int]:
    return {
        "std": engine.scalar("SELECT count(*) FROM std.patient WHERE source_patient_key IN ('P90001', 'M90001')"),
        "raw": engine.scalar("SELECT count(*) FROM raw.his__patients WHERE \"病历号\" = 'P90001'"),
        "visits": engine.scalar("SELECT count(*) FROM std.visit WHERE source_patient_key = 'P90001'"),
        "golden": engine.scalar("SELECT count(*) FROM identity.cluster WHERE source_patient_key IN ('P90001', 'M90001')"),
        "profile": engine.scalar("SELECT count(*) FROM profile.tag_value WHERE golden_id = ?", [golden]),
    }


def test_erase_cascades_and_survives_reingest(chain):
    engine, files, golden = chain
    daughter = _golden(engine, "his:P90002")
    indexer = BlindIndexer.from_keyring(keys.open_keyring(engine, keys.parse_master_key(MASTER)))
    result = rights.erase_patient(engine, golden, indexer, requested_by="dpo")
    assert _present(engine, golden) == dict.fromkeys(("std", "raw", "visits", "golden", "profile"), 0)
    for table in ("ops.outbox", "ops.timer", "ops.task", "ops.rule_decision", "ops.delivered_local",
                  "std.treatment", "std.charge", "std.consult", "std.member_card", "profile.value_score"):
        assert table not in rights.export_patient(engine, golden)["tables"], table
    assert {"std.patient", "ops.outbox", "raw.his__patients"} <= set(result["rows_removed"])
    # nothing but the fact remains: the golden ID is marked erased, consent says "nothing, ever"
    assert engine.scalar("SELECT status FROM identity.golden WHERE golden_id = ?", [golden]) == "erased"
    assert not consent.allows(engine, golden, "care", "sms", default=True)
    assert [r[0] for r in engine.rows("SELECT source FROM privacy.consent_event WHERE subject = ?", [golden])] == ["erasure"]
    assert engine.count("privacy.suppression") >= 4   # two source records, ID number, mobile+name
    # the daughter on the same phone is untouched
    assert _golden(engine, "his:P90002") == daughter
    assert engine.scalar("SELECT count(*) FROM std.visit WHERE source_patient_key = 'P90002'") == 1

    # the same exports loaded again through the library (no suppression yet): the rows are back …
    ingest_paths(engine, files, today=TODAY, force=True)
    assert _present(engine, golden)["std"] == 2
    # … until identity resolution, which applies the suppression list first
    resolve(engine, now=datetime(2026, 11, 1, 12))
    compute_profile(engine, TODAY, sentiment=True)
    assert engine.scalar("SELECT count(*) FROM raw.his__patients") > 0
    assert _present(engine, golden) == dict.fromkeys(("std", "raw", "visits", "golden", "profile"), 0)
    # `molar ingest` applies it right after the load
    run_ingest(engine, files, TODAY, force=True, show_progress=False)
    assert _present(engine, golden) == dict.fromkeys(("std", "raw", "visits", "golden", "profile"), 0)
    assert engine.scalar("SELECT count(*) FROM std.patient WHERE name = '张三丰'") == 0
    assert engine.scalar("SELECT count(*) FROM identity.patient WHERE id_number_bi = ?",
                         [BlindIndexer.from_keyring(keys.open_keyring_from(None, engine)).id_number(ZHANG_ID)]) == 0
    assert _golden(engine, "his:P90002") == daughter
    assert engine.scalar("SELECT status FROM identity.golden WHERE golden_id = ?", [golden]) == "erased"


def test_erase_keep_aggregates_keeps_visits_and_revenue_without_the_person(chain):
    engine, _files_, golden = chain
    revenue = engine.scalar("SELECT sum(amount_yuan) FROM std.charge")
    visits = engine.count("std.visit")
    indexer = BlindIndexer.from_keyring(keys.open_keyring(engine, keys.parse_master_key(MASTER)))
    result = rights.erase_patient(engine, golden, indexer, keep_aggregates=True)
    assert engine.scalar("SELECT sum(amount_yuan) FROM std.charge") == revenue
    assert engine.count("std.visit") == visits
    pseudonym = f"erased:{result['erasure_id']}"
    assert engine.scalar("SELECT count(*) FROM std.visit WHERE source_patient_key = ?", [pseudonym]) == 2
    assert engine.scalar("SELECT count(*) FROM std.consult WHERE source_patient_key = ? AND text IS NULL",
                         [pseudonym]) == 1
    assert _present(engine, golden) == dict.fromkeys(("std", "raw", "visits", "golden", "profile"), 0)


def test_cli_export_and_erase(chain, tmp_path):
    engine, _files_, golden = chain
    db = tmp_path / "molar.duckdb"
    engine.close()
    out_file = tmp_path / "export.json"
    out = CliRunner().invoke(app, ["privacy", "export", golden, "--out", str(out_file), "-w", str(db)])
    assert out.exit_code == 0, out.output
    assert json.loads(out_file.read_text(encoding="utf-8"))["golden_id"] == golden
    no = CliRunner().invoke(app, ["privacy", "erase", golden, "-w", str(db)], input="n\n")
    assert no.exit_code == 1
    with open_warehouse(path=db) as check:
        assert check.scalar("SELECT status FROM identity.golden WHERE golden_id = ?", [golden]) == "active"
    out = CliRunner().invoke(app, ["privacy", "erase", golden, "--yes", "-w", str(db)])
    assert out.exit_code == 0, out.output
    again = CliRunner().invoke(app, ["privacy", "erase", golden, "--yes", "-w", str(db)])
    assert again.exit_code == 2 and "already erased" in again.output
    unknown = CliRunner().invoke(app, ["privacy", "export", "G999", "--out", str(out_file), "-w", str(db)])
    assert unknown.exit_code == 2 and "unknown golden ID" in unknown.output
