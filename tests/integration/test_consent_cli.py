"""`molar consent show|set|refuse-marketing` on a warehouse file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.privacy import consent, keys
from molar.warehouse import open_warehouse

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    for name in ("MOLAR_WAREHOUSE", "MOLAR_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.duckdb"
    with open_warehouse(path=path) as engine:
        engine.execute("INSERT INTO identity.golden VALUES ('G0000000001', 'active', now(), 'r', now(), "
                       "NULL, NULL, 1)")
        engine.execute("INSERT INTO identity.cluster VALUES ('his:P1', 'his', 'P1', 'G0000000001', 'r')")
    return path


def run(*args: str):
    return runner.invoke(app, list(args))


def test_set_show_and_refuse_marketing(db, monkeypatch):
    out = run("consent", "set", "his:P1", "--purpose", "marketing", "--channel", "sms", "--grant",
              "--at", "2026-05-01T01:00:00+00:00", "-w", str(db))   # 09:00 in the clinic
    assert out.exit_code == 0, out.output
    assert "G0000000001" in out.output   # a resolved source record is recorded on its golden ID
    shown = json.loads(run("consent", "show", "G0000000001", "--json", "-w", str(db)).stdout)
    sms = next(r for r in shown["consent"] if (r["purpose"], r["channel"]) == ("marketing", "sms"))
    assert sms["granted"] is True and sms["since"] == "2026-05-01 09:00:00"

    monkeypatch.setenv("MOLAR_MASTER_KEY", keys.new_master_key())
    out = run("consent", "refuse-marketing", "G0000000001", "--source", "front desk", "--evidence", "电话拒绝",
              "-w", str(db))
    assert out.exit_code == 0, out.output
    with open_warehouse(path=db) as engine:
        assert not any(consent.allows(engine, "G0000000001", "marketing", c) for c in consent.CHANNELS)
    shown = json.loads(run("consent", "show", "G0000000001", "--json", "--evidence", "-w", str(db)).stdout)
    assert [h.get("evidence") for h in shown["history"]] == [None, "电话拒绝"]
    table = run("consent", "show", "his:P1", "-w", str(db))
    assert table.exit_code == 0 and "refused" in table.output


def test_plain_errors(db):
    with open_warehouse(path=db) as engine:   # encrypted data exists, but neither a key nor a key file
        keys.add_data_key(engine, keys.parse_master_key(keys.new_master_key()))
    for args, words in ((("consent", "show", "nobody"), "unknown patient"),
                        (("consent", "refuse-marketing", "his:NOPE"), "unknown patient"),
                        (("consent", "set", "G0000000001", "--purpose", "ads"), "purpose 'ads'"),
                        (("consent", "set", "G0000000001", "--purpose", "care", "--at", "soon"), "not a time"),
                        (("consent", "set", "G0000000001", "--purpose", "care", "--evidence", "x"),
                         "no master key")):
        out = run(*args, "-w", str(db))
        assert out.exit_code == 2, (args, out.output)
        assert words in out.output and "Traceback" not in out.output
