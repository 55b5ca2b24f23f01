"""Consult and review texts are stored sealed after ingest, identity and profile, and the
sentiment of each text is what classifying the source text directly gives."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from molar.identity import resolve
from molar.ingest.cli import run_ingest
from molar.privacy import scan
from molar.profile.run import compute_profile
from molar.profile.sentiment import default_model
from molar.warehouse import open_warehouse
from support import CLINICS_CSV, DOCTORS_CSV, PATIENT_HEADER, TODAY

# Planted values; none comes from the code under test.
NAME, MOBILE = "欧阳明华", "13812345678"
TEXTS = {   # text ID -> text as the source system exported it
    "Q1": f"我是{NAME}，电话{MOBILE}，一点都不满意",
    "Q2": "医生很耐心，一点都不疼",
    "Q3": f"种植牙会不会排异？有点担心，回电{MOBILE}",
    "R1": f"{NAME}：服务很好，下次还来",
    "R2": "等了两个小时，太差了",
}
CONSULTS = "咨询ID,客户来源,客户编号,渠道,时间,内容\r\n" + "".join(
    f"{k},his,P1,微信,2026-09-0{i} 10:00,{t}\r\n" for i, (k, t) in enumerate(TEXTS.items(), 1) if k[0] == "Q")
# review platforms key reviewers by their mobile: most export it masked, one in full
REVIEWER = {"R1": "138****5678", "R2": "13912345678"}
REVIEWS = "评价ID,用户手机,门店,医生,日期,星级,评价内容,平台\r\n" + "".join(
    f"{k},{REVIEWER[k]},锦江口腔门诊部,D001,2026-09-1{i},3,{t},美团\r\n" for i, (k, t) in enumerate(TEXTS.items()) if k[0] == "R")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chain")
    files = []
    for name, text, encoding in (("his/clinics.csv", CLINICS_CSV, "gbk"), ("his/doctors.csv", DOCTORS_CSV, "gbk"),
                                 ("his/patients.csv", PATIENT_HEADER + f"P1,{NAME},女,1985-03-15,{MOBILE},,锦江区,,"
                                  "2024-01-05,锦江口腔门诊部\r\n", "gbk"),
                                 ("consult/consults.csv", CONSULTS, "utf-8"), ("review/reviews.csv", REVIEWS, "utf-8")):
        path: Path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        files.append(path)
    engine = open_warehouse(path=folder / "molar.duckdb")
    results = run_ingest(engine, files, TODAY, show_progress=False)
    assert all(r.status == "complete" for r in results), [r.message_en for r in results]
    resolve(engine, now=datetime(2026, 10, 31, 12))
    compute_profile(engine, TODAY, sentiment=True)
    yield engine
    engine.close()


def test_texts_are_not_plaintext_in_the_file(warehouse):
    assert warehouse.count("std.consult") == 3 and warehouse.count("std.review") == 2
    for table in ("std.consult", "std.review"):
        texts = [t for (t,) in warehouse.rows(f"SELECT text FROM {table}")]
        assert texts and all(t.startswith("v1.") for t in texts)
        assert not any(s in t for t in texts for s in (NAME, MOBILE, "耐心", "太差"))
    found = scan.scan(warehouse).columns
    assert [c for c in found if c.startswith(("std.consult", "std.review", "profile.", "raw.review", "raw.consult"))] == []


def test_reviewer_mobile_is_not_a_plaintext_source_key(warehouse):
    keys = dict(warehouse.rows("SELECT review_id, source_patient_key FROM std.review"))
    assert set(keys) == {"R1", "R2"} and len(set(keys.values())) == 2   # still one key per reviewer
    assert not any(m in str(keys) for m in ("13912345678", "5678"))
    raw = warehouse.rows("SELECT 用户手机 FROM raw.review__reviews")
    assert raw and all(v.startswith("v1.") for (v,) in raw)


def test_sentiment_is_that_of_the_source_texts(warehouse):
    stored = dict(warehouse.rows("SELECT text_id, label FROM profile.text_sentiment"))
    labels, _ = default_model().predict_proba(list(TEXTS.values()))
    expected = dict(zip(TEXTS, labels, strict=True))
    assert len(set(expected.values())) >= 2   # a label read from tokens would not tell them apart
    assert stored == expected
