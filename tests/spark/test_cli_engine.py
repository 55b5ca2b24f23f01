"""`--engine spark` on a stage that is not on Spark yet: one plain message, exit 2, and
nothing written (no Spark session needed)."""

from __future__ import annotations

from typer.testing import CliRunner

from molar.cli import app

runner = CliRunner()


def test_profile_on_spark_says_why_not(tmp_path):
    result = runner.invoke(app, ["profile", "run", "--engine", "spark", "-w", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2
    assert "`profile` does not run on Spark yet" in result.output and "UPDATE" in result.output
    assert "暂不支持 Spark" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_ingest_and_identity_on_spark_say_why_not(tmp_path):
    (tmp_path / "visits.csv").write_text("x\n1\n", encoding="utf-8")
    for args, stage, reason in (
        (["ingest", str(tmp_path / "visits.csv")], "ingest", "ON CONFLICT"),
        (["identity", "resolve"], "identity", "Splink"),
    ):
        result = runner.invoke(app, [*args, "--engine", "spark", "-w", str(tmp_path / "w.duckdb")])
        assert result.exit_code == 2, args
        assert f"`{stage}` does not run on Spark yet" in result.output and reason in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_demo_on_spark_names_the_first_stage_not_on_spark(tmp_path):
    result = runner.invoke(app, ["demo", "--engine", "spark", "--patients", "2000", "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert "`ingest` does not run on Spark yet" in result.output
    assert not (tmp_path / "d").exists()


def test_an_unknown_engine_is_refused(tmp_path):
    result = runner.invoke(app, ["profile", "run", "--engine", "dask", "-w", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2 and "duckdb or spark" in result.output


def test_the_spark_master_comes_from_molar_toml_or_the_environment(tmp_path, monkeypatch):
    from molar.config import load_settings

    monkeypatch.delenv("MOLAR_SPARK_MASTER", raising=False)
    assert load_settings(tmp_path / "none.toml").spark_master == "local[2]"
    (tmp_path / "molar.toml").write_text('spark_master = "spark://10.0.0.5:7077"\n', encoding="utf-8")
    assert load_settings(tmp_path / "molar.toml").spark_master == "spark://10.0.0.5:7077"
    monkeypatch.setenv("MOLAR_SPARK_MASTER", "local[4]")
    assert load_settings(tmp_path / "molar.toml").spark_master == "local[4]"
