"""`molar identity explain|merge|split|overrides` through the access policy: personal
fields masked by the caller's role, every read and override audited."""

from __future__ import annotations

import json
from datetime import date, datetime

import pyarrow as pa
import typer
from typer.testing import CliRunner

from molar.identity import resolve
from molar.identity.cli import register
from molar.privacy import audit, fields, keys
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse

NOW = datetime(2026, 5, 1, 9, 0)
PASSWORD = "a long password"
COLUMNS = ("source", "source_patient_key", "name", "sex", "birth_date", "mobile", "id_number",
           "district", "address", "wechat_unionid", "nickname", "registered_on", "clinic_id")
# One person in three systems: the planted values must reach only the roles that see them.
RECORDS = [
    ("his", "HX701", "欧阳娜娜", "F", "1986-07-21", "+8613912340987", "锦江区"),
    ("booking", "BK702", "欧阳娜娜", "F", "1986-07-21", "+8613912340987", None),
    ("member", "MB703", "欧阳娜娜", "F", None, "+8613912340987", "锦江区"),
]
ROLES = {"fiona": "front_desk", "mark": "marketer", "andy": "analyst", "carl": "clinic_manager"}
runner = CliRunner()


def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def _main() -> None:  # a group, so `identity` is a subcommand
        pass

    register(a)
    return a


def as_user(user, *args):
    return runner.invoke(app(), list(args), env={"MOLAR_USER": user, "MOLAR_PASSWORD": PASSWORD,
                                                 "MOLAR_TOKEN": ""})


def test_explain_and_overrides_follow_the_policy(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    rows = [dict(zip(COLUMNS, (s, k, n, sex, date.fromisoformat(b) if b else None, m, None, d, None, None, None,
                               date(2025, 1, 1), "C01"), strict=True)) for s, k, n, sex, b, m, d in RECORDS]
    plain = pa.Table.from_pylist(rows, schema=pa.schema(
        [(c, pa.date32() if c in ("birth_date", "registered_on") else pa.string()) for c in COLUMNS]))
    engine.append("std.patient", fields.seal_patients(plain, keys.open_keyring_from(None, engine)))  # as ingest writes it
    resolve(engine)
    golden_id = engine.scalar("SELECT golden_id FROM identity.cluster WHERE unique_id = 'his:HX701'")
    assert engine.scalar("SELECT count(DISTINCT golden_id) FROM identity.cluster") == 1
    add_user(engine, "admin", PASSWORD, "admin", now=NOW, by="test")
    for user, role in ROLES.items():
        add_user(engine, user, PASSWORD, role, now=NOW, by="test")
    engine.close()
    w = ["-w", str(db)]

    def explain(user):
        r = as_user(user, "identity", "explain", golden_id, "--json", *w)
        assert r.exit_code == 0, r.output
        return r.output

    front_desk, marketer, analyst = explain("fiona"), explain("mark"), explain("andy")
    # front desk: name, mobile, birth date and source keys in full
    assert "欧阳娜娜" in front_desk and "+8613912340987" in front_desk and "1986-07-21" in front_desk
    assert "his:HX701" in front_desk
    # marketer: masked name and mobile, birth year only, no source keys
    assert "欧***" in marketer and "139****0987" in marketer
    for planted in ("欧阳娜娜", "13912340987", "1986-07-21", "HX701", "BK702", "MB703"):
        assert planted not in marketer, planted
    members = json.loads(marketer)["members"]
    assert sorted(m["unique_id"] for m in members) == ["booking#1", "his#2", "member#3"]
    # analyst: no name, no mobile at all
    assert "欧阳" not in analyst and "0987" not in analyst and "HX701" not in analyst
    # no credentials once an admin exists
    r = runner.invoke(app(), ["identity", "explain", golden_id, *w], env={"MOLAR_USER": "", "MOLAR_TOKEN": ""})
    assert r.exit_code == 2 and "needs a role that may read patient" in r.output

    # overrides: a marketer may not split; a clinic manager may, and it is audited
    r = as_user("mark", "identity", "split", "member:MB703", *w)
    assert r.exit_code == 2 and "the role marketer may not change override" in r.output
    r = as_user("carl", "identity", "split", "member:MB703", "--reason", "另一个人 电话 13912340987", "--json", *w)
    assert r.exit_code == 0, r.output
    after = json.loads(r.output)["golden_ids_now"]
    assert len(after) == 1 and after != [golden_id]
    r = as_user("mark", "identity", "overrides", "--json", *w)
    assert r.exit_code == 2 and "may not read override" in r.output
    r = as_user("carl", "identity", "overrides", "--json", *w)
    listed = json.loads(r.output)
    assert listed[0]["unique_ids"] == ["member:MB703"] and listed[0]["created_by"] == "carl"

    engine = open_warehouse(path=db)
    rows = audit.list_entries(engine, limit=100)
    assert audit.verify(engine).ok
    engine.close()
    reads = [(x["actor"], x["patient"], sorted(x["fields"])) for x in rows
             if x["action"] == "patient.read" and x["purpose"] == "molar identity explain"]
    assert sorted(reads) == [
        ("andy", golden_id, ["district"]),
        ("fiona", golden_id, ["birth_date", "district", "mobile", "name", "source_key"]),
        ("mark", golden_id, ["district"]),
    ]
    change = [x for x in rows if x["action"] == "override.change"]
    assert len(change) == 1 and change[0]["actor"] == "carl" and change[0]["role"] == "clinic_manager"
    assert change[0]["patient"] == golden_id
    assert change[0]["detail"]["before"] == [golden_id] and change[0]["detail"]["after"] == after
    assert "13912340987" not in str(change[0]) and "MB703" not in str(change[0])
    assert [x["actor"] for x in rows if x["action"] == "override.read"] == ["carl"]
