"""`molar segments` by role on the hand-built chain: sizes, the masked preview, the export
(refused without segment.export, audited with its row count, a clinic-bound user's
clinics only) and refresh handing entries and exits to the rules."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from molar.cli import app
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse
from unit.profile.crafted import new_warehouse
from unit.segments.story import EXPECTED, NOW, build

PASSWORD = "a long password"
runner = CliRunner()


def as_user(db, user, *args):
    return runner.invoke(app, list(args), env={"MOLAR_WAREHOUSE": str(db), "MOLAR_USER": user,
                                              "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": "", "COLUMNS": "250",
                                              "MOLAR_AS_OF": "2026-10-31"})


def test_segments_by_role(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = new_warehouse(db)
    c = build(engine)
    for user, role, clinics in (("mark", "marketer", None), ("ana", "analyst", None), ("boss", "clinic_manager", None),
                                ("west", "clinic_manager", ["C02"]), ("fay", "front_desk", None)):
        add_user(engine, user, PASSWORD, role, clinics=clinics, now=NOW, by="test")
    engine.close()

    listed = json.loads(as_user(db, "fay", "segments", "list", "--json").output)
    assert {r["key"]: r["size"] for r in listed} == {k: len(v) for k, v in EXPECTED.items()}
    table = " ".join(as_user(db, "fay", "segments", "list").output.split())
    assert "Value tier is one of [strategic, growth]" in table           # printed, not read as Rich markup
    size = as_user(db, "fay", "segments", "size", "lapsed_cleaning", "--json")
    assert json.loads(size.output)["size"] == 2
    unknown = as_user(db, "fay", "segments", "size", "lapsed_cleanin")
    assert unknown.exit_code == 2 and "no segment 'lapsed_cleanin'" in unknown.output and "Traceback" not in unknown.output

    preview = json.loads(as_user(db, "boss", "segments", "preview", "lapsed_cleaning", "--json").output)
    assert [(m["golden_id"], m["name"]) for m in preview["members"]] == sorted(
        [(c["A"], "患者A"), (c["D"], "患者D")])                              # a manager sees names in full
    masked = json.loads(as_user(db, "mark", "segments", "preview", "lapsed_cleaning", "--json").output)
    assert sorted(m["name"] for m in masked["members"]) == ["患**", "患**"]
    hidden = json.loads(as_user(db, "ana", "segments", "preview", "lapsed_cleaning", "--json").output)
    assert [m["name"] for m in hidden["members"]] == [None, None]
    refused = as_user(db, "fay", "segments", "preview", "lapsed_cleaning")
    assert refused.exit_code == 2 and "the role front_desk may not read segment" in refused.output

    out = tmp_path / "lapsed.csv"
    denied = as_user(db, "ana", "segments", "export", "lapsed_cleaning", "--out", str(out))
    assert denied.exit_code == 2 and "the role analyst may not export segment" in denied.output and not out.exists()
    assert as_user(db, "west", "segments", "export", "lapsed_cleaning", "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [(r["golden_id"], r["home_clinic_id"], r["name"]) for r in rows] == [(c["D"], "C02", "患者D")]  # C02 only
    assert as_user(db, "mark", "segments", "export", "lapsed_cleaning", "--out", str(out)).exit_code == 0
    assert sorted(r["name"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))) == ["患**", "患**"]

    engine = open_warehouse(path=db)
    audits = engine.rows("SELECT actor, fields, detail FROM ops.audit_log WHERE action = 'segment.export' ORDER BY seq")
    assert [(a, json.loads(d)["rows"], json.loads(d)["segment"]) for a, _, d in audits] == [
        ("west", 1, "lapsed_cleaning"), ("mark", 2, "lapsed_cleaning")]
    assert "name" in audits[0][1] and "name" not in audits[1][1]         # full for the manager, masked for marketing
    reads = engine.rows("SELECT actor FROM ops.audit_log WHERE action = 'segment.read' ORDER BY seq")
    assert [r[0] for r in reads] == ["boss", "mark", "ana"]
    engine.close()

    first = json.loads(as_user(db, "fay", "segments", "refresh", "--json").output)
    assert {s["key"]: (s["members"], s["first"]) for s in first}["new_patients_30d"] == (1, True)
    later = runner.invoke(app, ["segments", "refresh", "new_patients_30d", "--json"],
                          env={"MOLAR_WAREHOUSE": str(db), "MOLAR_AS_OF": "2026-11-01"})
    assert later.exit_code == 0, later.output
    assert [(s["members"], s["entered"], s["exited"]) for s in json.loads(later.output)] == [(0, 0, 1)]  # F: 31 days
    engine = open_warehouse(path=db)
    assert engine.rows("SELECT golden_id, change FROM profile.segment_change") == [(c["F"], "exited")]
    engine.close()
