"""`molar privacy keygen|rotate-key` as an operator runs them."""

from __future__ import annotations

from datetime import datetime

import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.privacy import keys
from molar.privacy.crypto import FieldCipher
from molar.warehouse import open_warehouse

runner = CliRunner()


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    for name in ("MOLAR_WAREHOUSE", "MOLAR_MASTER_KEY", "MOLAR_NEW_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)


def _warehouse_with_evidence(path, master: bytes) -> str:
    with open_warehouse(path=path) as engine:
        cipher = FieldCipher(keys.open_keyring(engine, master))
        token = cipher.encrypt("表单 #9", "privacy.consent_event", "evidence", "e1")
        engine.execute("INSERT INTO privacy.consent_event VALUES ('e1', 'G1', 'marketing', 'sms', false, ?, ?, 'x', ?)",
                       [datetime(2026, 1, 1), datetime(2026, 1, 1), token])
    return token


def test_keygen_prints_a_usable_key():
    out = runner.invoke(app, ["privacy", "keygen"])
    assert out.exit_code == 0
    assert len(keys.parse_master_key(out.stdout.strip())) == 32


def test_rotate_then_reencrypt(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    old, new, newer = (keys.new_master_key() for _ in range(3))
    token = _warehouse_with_evidence(db, keys.parse_master_key(old))

    monkeypatch.setenv("MOLAR_MASTER_KEY", old)
    missing = runner.invoke(app, ["privacy", "rotate-key", "-w", str(db)])
    assert missing.exit_code == 2 and "MOLAR_NEW_MASTER_KEY" in missing.output
    assert "Traceback" not in missing.output

    monkeypatch.setenv("MOLAR_NEW_MASTER_KEY", new)
    out = runner.invoke(app, ["privacy", "rotate-key", "-w", str(db)])
    assert out.exit_code == 0, out.output
    assert "2 data keys re-wrapped" in out.output
    # the old key no longer opens the warehouse, and says so without a traceback
    again = runner.invoke(app, ["privacy", "rotate-key", "-w", str(db)])
    assert again.exit_code == 2 and "configured master key" in again.output
    with open_warehouse(path=db) as engine:
        assert engine.scalar("SELECT evidence FROM privacy.consent_event") == token
        cipher = FieldCipher(keys.open_keyring(engine, keys.parse_master_key(new)))
        assert cipher.decrypt(token, "privacy.consent_event", "evidence", "e1") == "表单 #9"

    monkeypatch.setenv("MOLAR_MASTER_KEY", new)
    monkeypatch.setenv("MOLAR_NEW_MASTER_KEY", newer)
    out = runner.invoke(app, ["privacy", "rotate-key", "--reencrypt", "-w", str(db)])
    assert out.exit_code == 0, out.output
    assert "privacy.consent_event.evidence 1" in out.output
    with open_warehouse(path=db) as engine:
        moved = engine.scalar("SELECT evidence FROM privacy.consent_event")
        ring = keys.open_keyring(engine, keys.parse_master_key(newer))
        retired = engine.scalar("SELECT count(*) FROM privacy.data_key WHERE retired_at IS NOT NULL")
    assert moved != token and moved.split(".")[1] == ring.active["data"] != token.split(".")[1]
    assert retired == 1
    assert FieldCipher(ring).decrypt(moved, "privacy.consent_event", "evidence", "e1") == "表单 #9"


def test_init_creates_a_private_key_file_and_reuses_it(tmp_path):
    db = tmp_path / "w.duckdb"
    first = runner.invoke(app, ["init", "-w", str(db)])
    assert first.exit_code == 0, first.output
    key_file = tmp_path / "w.duckdb.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    master = keys.parse_master_key(key_file.read_text())
    assert keys.fingerprint(master) in first.output and str(key_file) in first.output
    token = _warehouse_with_evidence(db, master)   # data keys now wrapped by the file's key
    again = runner.invoke(app, ["init", "-w", str(db)])
    assert again.exit_code == 0, again.output
    assert keys.parse_master_key(key_file.read_text()) == master
    with open_warehouse(path=db) as engine:
        cipher = FieldCipher(keys.open_keyring_from(None, engine))
        assert cipher.decrypt(token, "privacy.consent_event", "evidence", "e1") == "表单 #9"


def test_a_lost_key_file_is_a_clear_error_not_a_new_key(tmp_path):
    db = tmp_path / "w.duckdb"
    assert runner.invoke(app, ["init", "-w", str(db)]).exit_code == 0
    (tmp_path / "w.duckdb.key").unlink()
    out = runner.invoke(app, ["init", "-w", str(db)])
    assert out.exit_code == 2 and "no key file" in out.output and "Traceback" not in out.output
    assert not (tmp_path / "w.duckdb.key").exists()


def test_a_configured_key_wins_over_the_key_file(tmp_path, monkeypatch):
    master = keys.new_master_key()
    monkeypatch.setenv("MOLAR_MASTER_KEY", master)
    out = runner.invoke(app, ["init", "-w", str(tmp_path / "w.duckdb")])
    assert out.exit_code == 0 and keys.fingerprint(keys.parse_master_key(master)) in out.output
    assert not (tmp_path / "w.duckdb.key").exists()
