"""`molar doctors match` and `molar cases similar` by role: who may run them, how other patients'
cases are de-identified, and the audit rows the reads leave."""

from __future__ import annotations

import json
from datetime import date, datetime

from typer.testing import CliRunner

from molar.cli import app
from molar.privacy import audit
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse
from unit.profile.crafted import Chain, Patient, Visit, new_warehouse

PASSWORD = "a long password"
runner = CliRunner()


def as_user(db, user, *args):
    return runner.invoke(app, list(args), env={"MOLAR_WAREHOUSE": str(db), "MOLAR_USER": user,
                                              "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": "", "COLUMNS": "250"})


def test_doctors_match_and_cases_similar_by_role(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = new_warehouse(db)
    c = Chain([Patient("Q", visits=[Visit(date(2026, 9, 1), ["IMP"]), Visit(date(2026, 9, 11), ["IMPF"])]),
               Patient("A", visits=[Visit(date(2025, 5, 1), ["IMP"]), Visit(date(2025, 5, 11), ["IMPF"])])]).build(engine)
    engine.execute("INSERT INTO std.doctor VALUES ('D001', '李医生', 'C01', 'general', '主治医师', 'L', 0), "
                   "('D002', '王医生', 'C02', 'implant', '主任医师', 'L', 0)")
    now = datetime(2026, 10, 31, 9)
    for user, role in [("fay", "front_desk"), ("doc", "doctor"), ("root", "admin"), ("mark", "marketer")]:
        add_user(engine, user, PASSWORD, role, now=now, by="test")
    add_user(engine, "carl", PASSWORD, "clinic_manager", clinics=["C02"], now=now, by="test")
    engine.close()

    match = ("doctors", "match", "--patient", c["Q"], "--treatment", "IMP", "--as-of", "2026-10-31", "--json")
    r = as_user(db, "fay", *match)
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    # the crafted visits are D001's (a GP at C01, the patient's home clinic): the only candidate there
    assert got["clinic_id"] == "C01" and [d["doctor_id"] for d in got["doctors"]] == ["D001"]
    positional = as_user(db, "fay", "doctors", "match", c["Q"], *match[4:])      # the form: PATIENT first
    assert positional.exit_code == 0 and json.loads(positional.output) == got
    refused = as_user(db, "mark", *match)
    assert refused.exit_code == 2 and "the role marketer may not doctors operations" in refused.output
    other = as_user(db, "carl", *match)
    assert other.exit_code == 2 and "not at the patient's clinic C01" in other.output
    assert as_user(db, "carl", *match, "--clinic", "C02").exit_code == 0
    bad = as_user(db, "fay", "doctors", "match", "--patient", c["Q"], "--treatment", "implant")
    assert bad.exit_code == 2 and "treatment 'implant': one of CHK" in bad.output and "Traceback" not in bad.output

    cases = ("cases", "similar", "--patient", c["Q"], "--k", "1", "--as-of", "2026-10-31", "--json")
    seen = json.loads(as_user(db, "doc", *cases).output)            # a doctor sees names in full
    assert [(x["golden_id"], x["name"]) for x in seen["similar"]] == [(c["A"], "患者A")]
    hidden = json.loads(as_user(db, "root", *cases).output)         # admin: names masked → case number only
    assert [set(x) & {"golden_id", "name"} for x in hidden["similar"]] == [{"name"}]
    assert hidden["similar"][0]["name"] is None and hidden["similar"][0]["case_id"] == seen["similar"][0]["case_id"]
    refused = as_user(db, "fay", *cases)                             # front desk: no case search
    assert refused.exit_code == 2 and "the role front_desk may not cases operations" in refused.output

    engine = open_warehouse(path=db)
    rows = [r for r in audit.list_entries(engine, limit=100) if r["action"] in ("operations.doctors",
                                                                                "operations.cases")]
    engine.close()
    assert sorted((r["actor"], r["action"], r["patient"] or "", tuple(r["fields"])) for r in rows) == sorted([
        ("fay", "operations.doctors", c["Q"], ()),
        ("fay", "operations.doctors", c["Q"], ()),
        ("carl", "operations.doctors", c["Q"], ()),
        ("doc", "operations.cases", c["Q"], ("name",)),    # the search, and the patient whose name was shown
        ("doc", "operations.cases", c["A"], ("name",)),
        ("root", "operations.cases", c["Q"], ()),
    ])
