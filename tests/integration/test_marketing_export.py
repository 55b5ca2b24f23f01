"""The funnel, the plan worklist and the CLI on a small hand-written CRM export (no molar.synth):
every expected number is worked out by hand from the rows below."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.ingest.run import ingest_paths
from molar.marketing.funnel import funnel
from molar.marketing.plans import follow_up
from molar.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(300)

CLINICS = "诊所编号,诊所名称,区县,地址,纬度,经度,开业日期,牙椅数\r\nC01,摩乐口腔玉林诊所,武侯区,,,,2015-01-01,8\r\n" \
          "C02,摩乐口腔建设路诊所,成华区,,,,2016-01-01,6\r\n"
LEADS = """线索编号,来源平台,推广活动,门店,咨询师,客户手机,创建时间,咨询时间,预约时间,到店时间,病历号
L1,美团,MT-03,玉林店,王敏,138****0001,2026-03-01 10:00:00,2026-03-02 10:00:00,2026-03-03 10:00:00,2026-03-05 10:00:00,BL1
L2,美团,MT-03,玉林店,王敏,138****0002,2026-03-02 10:00:00,2026-03-03 10:00:00,2026-03-04 10:00:00,,
L3,美团,MT-03,建设路店,,138****0003,2026-03-03 12:00:00,,,,
L4,抖音,DY-03,玉林店,李娜,138****0004,2026-03-01 09:00:00,2026-03-01 21:00:00,2026-03-02 09:00:00,2026-03-04 09:00:00,BL2
L5,抖音,DY-03,建设路店,,138****0005,2026-03-05 09:00:00,,,,
L6,老带新,,玉林店,王敏,138****0006,2026-02-10 09:00:00,2026-02-10 10:00:00,2026-02-11 09:00:00,2026-02-12 09:00:00,BL3
"""
TOUCHES = """线索编号,序号,平台,推广活动,触达时间
L1,1,抖音,DY-03,2026-02-27 10:00:00
L1,2,美团,MT-03,2026-03-01 10:00:00
"""
SPEND = """月份,门店,平台,推广活动,消耗金额
2026-02-01,玉林店,美团,MT-02,500.00
2026-03-01,玉林店,美团,MT-03,600.00
2026-03-01,建设路店,美团,MT-03,300.00
2026-03-01,玉林店,抖音,DY-03,1000.00
"""
PLANS = """方案编号,病历号,就诊号,门店,医生,咨询师,开具日期,项目编码,项目,报价金额,状态,接受日期,有效期至
P1,BL1,,玉林店,,王敏,2026-03-05,IMP+CRN,种植牙+牙冠修复,15000.00,已接受,2026-03-06,2026-06-03
P2,BL2,,玉林店,,李娜,2026-03-01,WHT,牙齿美白,1800.00,已接受,2026-03-01,2026-05-30
P3,BL2,,玉林店,,李娜,2026-03-10,CRN,牙冠修复,3500.00,待确认,,2026-06-08
P4,BL1,,玉林店,,王敏,2026-04-20,WHT,牙齿美白,1800.00,待确认,,2026-07-19
P5,BL3,,玉林店,,王敏,2026-01-01,ALIGN,隐形矫正,35000.00,部分完成,2026-01-02,2026-04-01
P6,BL3,,建设路店,,,2026-03-01,PERIO,牙周治疗,1200.00,待确认,,2026-05-30
"""
CHARGES = "收费单号,就诊号,病历号,收费日期,金额,实收,支付方式,优惠券\r\n" \
          "S1,MZ1,BL1,2026-03-04,100.00,100.00,现金,\r\nS2,MZ2,BL1,2026-03-05,300.00,300.00,现金,\r\n" \
          "S3,MZ3,BL2,2026-03-04,2000.00,2000.00,现金,\r\n"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    root = tmp_path_factory.mktemp("crm_export")
    (root / "his").mkdir()
    (root / "his/clinics.csv").write_bytes(CLINICS.encode("gbk"))
    (root / "his/charges.csv").write_bytes(CHARGES.encode("gbk"))
    (root / "crm").mkdir()
    for name, text in (("leads", LEADS), ("lead_touches", TOUCHES), ("spend", SPEND), ("plans", PLANS)):
        (root / f"crm/{name}.csv").write_text(text, encoding="utf-8")
    db = root / "molar.duckdb"
    engine = open_warehouse(path=db)
    results = ingest_paths(engine, [root / "his/clinics.csv"], today=date(2026, 4, 30))
    results += ingest_paths(engine, [root / "his/charges.csv", root / "crm"], today=date(2026, 4, 30))
    assert [(r.status, r.rows_quarantined) for r in results] == [("complete", 0)] * 6
    yield engine, db
    engine.close()


def test_funnel_by_channel_since_march(warehouse):
    engine, _ = warehouse
    rows = {r["channel"]: r for r in funnel(engine, "channel", date(2026, 3, 1))}
    assert set(rows) == {"meituan", "douyin"}  # the referral came in February
    mt, dy = rows["meituan"], rows["douyin"]
    assert (mt["leads"], mt["consulted"], mt["booked"], mt["arrived"]) == (3, 2, 2, 1)
    assert (mt["consult_rate"], mt["booking_rate"], mt["arrival_rate"], mt["cvr"]) == (0.6667, 1.0, 0.5, 0.3333)
    assert mt["median_days"] == {"lead_to_consult": 1.0, "consult_to_booking": 1.0, "booking_to_arrival": 2.0,
                                 "lead_to_arrival": 4.0}
    # March spend of both clinics (February's 500 is before the month of --since); BL1's charge of
    # 03-04 is before its arrival
    assert (mt["spend"], mt["cac"], mt["revenue"], mt["roi"]) == (900.0, 900.0, 300.0, -0.6667)
    assert mt["plans_accepted"] == 1  # P1; P2 of BL2 was proposed before BL2 arrived
    assert (dy["leads"], dy["arrived"], dy["cvr"], dy["spend"], dy["cac"], dy["revenue"], dy["roi"]) == \
        (2, 1, 0.5, 1000.0, 1000.0, 2000.0, 1.0)
    assert dy["median_days"]["lead_to_consult"] == 0.5
    assert dy["plans_accepted"] == 0


def test_funnel_without_since_and_other_groupings(warehouse):
    engine, _ = warehouse
    rows = {r["channel"]: r for r in funnel(engine, "channel")}
    assert rows["meituan"]["spend"] == 1400.0
    assert (rows["referral"]["arrived"], rows["referral"]["spend"], rows["referral"]["cac"]) == (1, None, None)
    clinics = {r["clinic"]: r for r in funnel(engine, "clinic", date(2026, 3, 1))}
    assert (clinics["C01"]["leads"], clinics["C01"]["arrived"], clinics["C01"]["spend"]) == (3, 2, 1600.0)
    assert clinics["C01"]["cac"] == 800.0
    assert (clinics["C02"]["leads"], clinics["C02"]["arrived"], clinics["C02"]["spend"], clinics["C02"]["cac"]) == \
        (2, 0, 300.0, None)
    campaigns = {r["campaign"]: r for r in funnel(engine, "campaign")}
    assert set(campaigns) == {"MT-03", "DY-03", None}
    assert campaigns["MT-03"]["spend"] == 900.0
    consultants = {r["consultant"]: r for r in funnel(engine, "consultant", date(2026, 3, 1))}
    assert (consultants["王敏"]["leads"], consultants["王敏"]["arrived"], consultants["王敏"]["spend"]) == (2, 1, None)
    assert consultants[None]["leads"] == 2
    (total,) = funnel(engine, "total", date(2026, 3, 1))
    assert (total["leads"], total["arrived"], total["spend"], total["cac"]) == (5, 2, 1900.0, 950.0)
    only_c02 = {r["channel"]: r for r in funnel(engine, "channel", date(2026, 3, 1), clinics=["C02"])}
    assert (only_c02["meituan"]["leads"], only_c02["meituan"]["spend"]) == (1, 300.0)


def test_plan_worklist(warehouse):
    engine, _ = warehouse
    today = date(2026, 4, 30)
    unaccepted = follow_up(engine, today, timedelta(days=14), ["proposed"])
    assert [(r["plan_id"], r["age_days"], r["expired"]) for r in unaccepted] == [("P6", 60, False), ("P3", 51, False)]
    both = follow_up(engine, today, timedelta(days=14), ["proposed", "partially_done"], clinics=["C01"])
    assert [r["plan_id"] for r in both] == ["P5", "P3"]
    assert both[0]["expired"] is True


def test_cli_funnel_and_plans(warehouse):
    engine, db = warehouse
    env = {"MOLAR_WAREHOUSE": str(db), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    runner = CliRunner()
    r = runner.invoke(app, ["marketing", "funnel", "--by", "channel", "--since", "2026-03-01", "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["total"]["cac"] == 950.0
    assert [g["channel"] for g in out["groups"]] == ["meituan", "douyin"]
    r = runner.invoke(app, ["marketing", "plans", "--unaccepted", "--older-than", "14d", "--as-of", "2026-04-30",
                            "--json"], env=env)
    assert r.exit_code == 0, r.output
    plans = json.loads(r.output)["plans"]
    assert [(p["plan_id"], p["source_patient_key"]) for p in plans] == [("P6", "****"), ("P3", "****")]  # admin: masked
    assert engine.rows("SELECT role, fields, detail->>'plans' FROM ops.audit_log "
                       "WHERE action = 'marketing.follow_up'") == [("admin", [], "2")]
    r = runner.invoke(app, ["marketing", "funnel", "--by", "doctor"], env=env)
    assert r.exit_code == 2 and "channel, campaign, clinic, consultant" in r.output
    r = runner.invoke(app, ["marketing", "funnel", "--since", "March"], env=env)
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
    r = runner.invoke(app, ["marketing", "plans", "--older-than", "two weeks"], env=env)
    assert r.exit_code == 2 and "duration" in r.output


def test_consultant_names_are_staff_not_patient_names(warehouse, tmp_path):
    """王敏 consults for the chain and is also a patient: the plaintext scan does not report the
    consultant columns (a staff list), yet still knows the patient's name."""
    from molar.privacy import scan
    from support import PATIENT_HEADER

    engine, _ = warehouse
    patients = tmp_path / "patients.csv"
    patients.write_bytes((PATIENT_HEADER + "BL9,王敏,女,1990-01-01,13912345678,,武侯区,,2024-01-05,摩乐口腔玉林诊所\r\n")
                         .encode("gbk"))
    assert ingest_paths(engine, [patients], today=date(2026, 4, 30))[0].status == "complete"
    result = scan.scan(engine)
    assert result.patient_names == 1
    assert result.hits == [], result.columns


def test_cli_attribution_and_an_empty_warehouse(warehouse, tmp_path):
    _, db = warehouse
    runner = CliRunner()
    env = {"MOLAR_WAREHOUSE": str(db), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    r = runner.invoke(app, ["marketing", "attribution", "--model", "first", "--since", "2026-03-01", "--json"], env=env)
    assert r.exit_code == 0, r.output
    # L1's path starts on 抖音; L4 came through 抖音 without exported touches
    assert {c["channel"]: c["conversions"] for c in json.loads(r.output)["channels"]} == {"douyin": 2.0, "meituan": 0.0}
    r = runner.invoke(app, ["marketing", "attribution", "--model", "shapley"], env=env)
    assert r.exit_code == 2 and "first, last, markov" in r.output
    empty = {**env, "MOLAR_WAREHOUSE": str(tmp_path / "empty.duckdb")}
    r = runner.invoke(app, ["marketing", "funnel"], env=empty)
    assert r.exit_code == 0 and "no leads" in r.output
    r = runner.invoke(app, ["marketing", "attribution", "--model", "markov", "--json"], env=empty)
    assert r.exit_code == 0 and json.loads(r.output)["conversions"] == 0
