"""`molar profile run|show|tiers|tags` on a crafted warehouse: exit codes, key content, and
plain errors (exit 2) for an unknown golden ID and a warehouse without identity data."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from molar.profile.cli import register
from unit.profile.crafted import (
    Booking,
    Chain,
    Charge,
    Patient,
    Text,
    Visit,
    ago,
    at,
    new_warehouse,
)

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:  # a group, so `profile` is a subcommand
        pass

    register(app)
    return app


APP = _app()


def molar(*args: str, ok: bool = True):
    result = runner.invoke(APP, ["profile", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _chain() -> Chain:
    people = [Patient(f"p{i}", visits=[Visit(ago(20 + 90 * i), ["CLN" if i % 2 else "CHK"], amount=300 + 900 * i)],
                      bookings=[Booking(at(ago(20 + 90 * i)), "wechat" if i % 2 else "phone")])
              for i in range(8)]
    people.append(Patient("star", visits=[Visit(ago(d), ["CLN"], amount=800) for d in (15, 200, 380, 560)],
                          charges=[Charge(ago(100), 12000)], texts=[Text(at(ago(3)), "satisfied", "服务很好")]))
    people.append(Patient("lead"))
    return Chain(people)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """A crafted warehouse file (closed, so the CLI can open it) and its chain."""
    folder = tmp_path_factory.mktemp("profile_cli")
    db = folder / "molar.duckdb"
    engine = new_warehouse(db)
    chain = _chain().build(engine)
    engine.close()
    return db, chain


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no molar.toml from the repo or the caller's folder
    monkeypatch.setenv("COLUMNS", "200")   # wide enough that rich does not wrap table cells
    for name in ("MOLAR_WAREHOUSE", "MOLAR_AS_OF", "MOLAR_THREADS", "MOLAR_MEMORY_LIMIT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def profiled(crafted):
    db, chain = crafted
    result = runner.invoke(APP, ["profile", "run", "-w", str(db), "--as-of", "2026-10-31", "--no-sentiment", "--json"])
    assert result.exit_code == 0, result.output
    return db, chain, json.loads(result.stdout)


def test_run_json_summary(profiled):
    _, _, summary = profiled
    assert summary["as_of"] == "2026-10-31"
    assert summary["patients"] == 10
    assert summary["scored"] == 9
    assert sum(summary["tiers"].values()) == 10
    assert summary["tiers"]["potential"] >= 1
    assert summary["stages"]["acquisition"] >= 1 and sum(summary["stages"].values()) == 10
    assert summary["transitions"] == 10
    assert summary["tags"]["sex"] == 10 and summary["tags"]["recall_status"] == 9
    assert summary["tier_method"] == "kmeans"
    assert set(summary["seconds"]) == {"sentiment", "inputs", "tags", "value_score", "tiers", "lifecycle", "publish"}


def test_run_prints_tables_without_json(crafted, tmp_path):
    db, _ = crafted
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    out = molar("run", "-w", str(copy), "--as-of", "2026-10-31", "--no-sentiment").stdout
    assert "Value tiers" in out and "Lifecycle stages" in out and "Top tags" in out
    assert "profile as of 2026-10-31: 10 patients" in out


def test_show_json_and_text(profiled):
    db, chain, summary = profiled
    info = json.loads(molar("show", chain["star"], "-w", str(db), "--json").stdout)
    assert info["golden_id"] == chain["star"]
    assert info["profile_run"] == {"run_id": summary["run_id"], "as_of": "2026-10-31"}
    tags = {t["key"]: t for t in info["tags"]}
    assert tags["recall_status"]["value"] == "not_due"
    assert tags["total_spend_24m"]["value"] == "15200.00"
    assert info["lifecycle"]["stage"] == "growth"
    assert info["lifecycle"]["reason"] == "spend up 750% on the previous 12 months"   # 13,600 against 1,600
    assert info["sentiment"]["latest"] == "satisfied"
    text = molar("show", chain["star"], "-w", str(db)).stdout
    assert chain["star"] in text and "profile as of 2026-10-31" in text
    assert "Recall status (recall_status)" in text and "value tier" in text and "lifecycle" in text


def test_show_unknown_golden_id_is_a_clear_error(profiled):
    db, _, _ = profiled
    result = molar("show", "G9999999999", "-w", str(db), ok=False)
    assert result.exit_code == 2
    assert "no patient with golden ID 'G9999999999'" in result.stderr
    assert "Traceback" not in result.output


def test_tiers_json_and_text(profiled):
    db, _, summary = profiled
    data = json.loads(molar("tiers", "-w", str(db), "--json").stdout)
    assert data["run_id"] == summary["run_id"] and data["method"] == "kmeans"
    assert {t: v["patients"] for t, v in data["tiers"].items()} == summary["tiers"]
    assert set(data["centroids"]) == {"strategic", "growth", "maintain", "potential"}
    for tier, v in data["tiers"].items():
        assert isinstance(v["rules"], list), tier
    text = molar("tiers", "-w", str(db)).stdout
    assert "Value tiers (kmeans)" in text and "In plain words" in text
    assert "everyone with no visit yet (not clustered)" in text


def test_tags_lists_and_validates_the_catalogue(tmp_path):
    listed = json.loads(molar("tags", "--json").stdout)
    assert len(listed) == 34
    age = next(t for t in listed if t["key"] == "age_band")
    assert age == {**age, "dimension": "demographic", "name_zh": "年龄段", "value_type": "category",
                   "defined_in": "demographic.yaml:5"}
    assert "Tag catalogue (34 tags)" in molar("tags").stdout
    bad = tmp_path / "tags"
    bad.mkdir()
    (bad / "x.yaml").write_text("dimension: health\ntags:\n  - key: t1\n    nmae: {zh: a, en: b}\n", encoding="utf-8")
    result = molar("tags", "--tags", str(bad), ok=False)
    assert result.exit_code == 2
    assert "x.yaml:3: unknown field(s) nmae" in result.stderr


def test_errors_exit_2_with_a_plain_message(crafted, tmp_path):
    empty = tmp_path / "empty.duckdb"
    new_warehouse(empty).close()
    result = molar("run", "-w", str(empty), "--as-of", "2026-10-31", "--no-sentiment", ok=False)
    assert result.exit_code == 2
    assert "no golden patients yet" in result.stderr and "molar identity resolve" in result.stderr
    result = molar("tiers", "-w", str(empty), ok=False)
    assert result.exit_code == 2 and "no tiers yet" in result.stderr
    db, _ = crafted
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    result = molar("run", "-w", str(copy), "--as-of", "2026-10-31", "--no-sentiment", "--method", "dbscan", ok=False)
    assert result.exit_code == 2 and "tier method 'dbscan'" in result.stderr
    result = molar("run", "-w", str(copy), "--as-of", "31/10/2026", "--no-sentiment", ok=False)
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.stderr


def test_the_installed_command_exits_2_on_an_unknown_patient(profiled, tmp_path):
    """The real entry point, as a user runs it (one process: starting `molar` takes seconds)."""
    db, _, _ = profiled
    out = subprocess.run([sys.executable, "-m", "molar", "profile", "show", "G0000000000", "-w", str(db)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "no patient with golden ID 'G0000000000'" in out.stderr
    assert "Traceback" not in out.stderr


def test_tiers_shows_the_latest_run_after_two_runs_on_one_day(crafted, tmp_path):
    db, _ = crafted
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    molar("run", "-w", str(copy), "--as-of", "2026-10-31", "--no-sentiment", "--json")
    second = json.loads(molar("run", "-w", str(copy), "--as-of", "2026-10-31", "--no-sentiment", "--json",
                              "--method", "hierarchical").stdout)
    data = json.loads(molar("tiers", "-w", str(copy), "--json").stdout)
    assert (data["run_id"], data["method"]) == (second["run_id"], "hierarchical")
