"""`molar recall list` and `molar fasttrack offer` by role: who may run them, how names are
masked, which clinic a clinic-limited user may ask for, and the audit rows the reads leave."""

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


def test_recall_list_and_fasttrack_by_role(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = new_warehouse(db)
    c = Chain([Patient("A", visits=[Visit(date(2026, 4, 15), ["CLN"])]),
               Patient("B", visits=[Visit(date(2026, 8, 10), ["PERIO"])])]).build(engine)
    now = datetime(2026, 10, 31, 9)
    add_user(engine, "fay", PASSWORD, "front_desk", now=now, by="test")
    add_user(engine, "root", PASSWORD, "admin", now=now, by="test")
    add_user(engine, "mark", PASSWORD, "marketer", now=now, by="test")
    add_user(engine, "carl", PASSWORD, "clinic_manager", clinics=["C02"], now=now, by="test")
    engine.close()

    args = ("recall", "list", "--clinic", "C01", "--due-within", "30d", "--as-of", "2026-10-31", "--json")
    r = as_user(db, "fay", *args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["as_of"] == "2026-10-31" and out["due_by"] == "2026-11-30"
    assert [(x["golden_id"], x["name"], x["due_on"], x["status"]) for x in out["recalls"]] == [
        (c["A"], "患者A", "2026-10-15", "overdue"), (c["B"], "患者B", "2026-11-10", "due")]
    masked = json.loads(as_user(db, "root", *args).output)
    assert [x["name"] for x in masked["recalls"]] == ["患**", "患**"]
    refused = as_user(db, "mark", *args)
    assert refused.exit_code == 2 and "the role marketer may not recall operations" in refused.output
    other = as_user(db, "carl", *args)
    assert other.exit_code == 2 and "'carl' works at C02, not C01" in other.output
    unknown = as_user(db, "fay", "recall", "list", "--clinic", "C99")
    assert unknown.exit_code == 2 and "--clinic 'C99' is not a clinic in this warehouse (clinics: C01, C02, C03)" \
        in " ".join(unknown.output.split())
    bad = as_user(db, "fay", "recall", "list", "--clinic", "C01", "--due-within", "soon")
    assert bad.exit_code == 2 and "--due-within 'soon'" in bad.output and "Traceback" not in bad.output

    offer = as_user(db, "fay", "fasttrack", "offer", "--clinic", "C01", "--department", "periodontics",
                    "--slot", "2026-11-03 14:00", "--top", "1", "--as-of", "2026-10-31", "--json")
    assert offer.exit_code == 0, offer.output
    got = json.loads(offer.output)
    assert got["eligible"] == 2 and [o["golden_id"] for o in got["offers"]] == [c["A"]]
    assert got["offers"][0]["name"] == "患者A" and not got["sent"]
    late = as_user(db, "fay", "fasttrack", "offer", "--clinic", "C01", "--department", "periodontics",
                   "--slot", "2026-11-03 14:00", "--send")
    assert late.exit_code == 2 and "has already begun" in late.output
    bad_slot = as_user(db, "fay", "fasttrack", "offer", "--clinic", "C01", "--department", "periodontics",
                       "--slot", "next tuesday")
    assert bad_slot.exit_code == 2 and 'write the start as "YYYY-MM-DD HH:MM"' in bad_slot.output

    engine = open_warehouse(path=db)
    rows = [r for r in audit.list_entries(engine, limit=100) if r["action"].startswith("operations.")]
    engine.close()
    # fay saw names in full (the crafted patients have no mobile): one row per patient and one
    # for the listing; root saw them masked: the listing only
    assert sorted((r["actor"], r["action"], r["patient"] or "", tuple(r["fields"])) for r in rows) == sorted([
        ("fay", "operations.recall", c["A"], ("name",)),
        ("fay", "operations.recall", c["B"], ("name",)),
        ("fay", "operations.recall", "", ("name",)),
        ("root", "operations.recall", "", ()),
        ("fay", "operations.fasttrack", c["A"], ("name",)),
        ("fay", "operations.fasttrack", "", ("name",)),
    ])
