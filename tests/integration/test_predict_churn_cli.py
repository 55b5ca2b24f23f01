"""`molar churn evaluate|score` on a crafted chain: the out-of-time JSON contract, scores and
reasons in `profile show`, and a failed training that changes nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from molar.cli import app
from unit.profile.crafted import Booking, Chain, Patient, Visit, at, new_warehouse

runner = CliRunner()
START, END = date(2024, 11, 1), date(2026, 10, 31)


def chain() -> Chain:
    """300 patients visiting every 60–150 days; half of them stop at a random date."""
    rng = np.random.default_rng(11)
    patients = []
    for i in range(300):
        stop = START + timedelta(days=int(rng.integers(120, 730))) if i % 2 else END
        day, visits = START + timedelta(days=int(rng.integers(0, 60))), []
        while day <= stop:
            visits.append(Visit(day, ["CLN"] if len(visits) % 2 else ["EXM"], amount=float(rng.integers(100, 900))))
            day += timedelta(days=int(rng.integers(60, 150)))
        bookings = [Booking(at(END - timedelta(days=3)), status="no_show")] if i % 7 == 0 else []
        patients.append(Patient(f"P{i:03d}", visits=visits, bookings=bookings))
    patients.append(Patient("last", visits=[Visit(END - timedelta(days=90)), Visit(END)]))  # fixes the data end
    return Chain(patients)


@pytest.fixture(scope="module")
def warehouse_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("churn") / "molar.duckdb"
    with new_warehouse(path) as engine:
        chain().build(engine)
    return path


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    return result, " ".join(result.output.split())


def test_evaluate_prints_the_out_of_time_contract(warehouse_path):
    result, output = invoke("churn", "evaluate", "-w", str(warehouse_path), "--json")
    assert result.exit_code == 0, output
    out = json.loads(result.output)
    assert {"auc", "baseline_auc", "brier", "horizon_days", "test_window"} <= set(out)
    assert out["horizon_days"] == 180
    assert out["test_window"] == ["2026-05-04", "2026-10-31"]  # last visit day − 180 days → last visit day
    assert out["cutoffs"]["calibration_cutoff"] == "2025-11-05"
    assert 0 <= out["brier"] <= 1 and 0 <= out["auc"] <= 1


def test_score_writes_risk_and_reasons_and_a_failed_retrain_keeps_them(warehouse_path):
    result, output = invoke("churn", "score", "-w", str(warehouse_path), "--as-of", "2026-10-31", "--json")
    assert result.exit_code == 0, output
    scored = json.loads(result.output)
    assert scored["patients"] == 301  # everyone with a visit
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        before = con.sql("SELECT golden_id, risk, reasons FROM profile.churn_risk ORDER BY 1").fetchall()
    assert len(before) == 301
    assert all(0 <= r[1] <= 1 for r in before)
    # Two years of visits cannot label a 700-day horizon: one message, nothing lost.
    result, output = invoke("churn", "score", "-w", str(warehouse_path), "--as-of", "2026-10-31", "--horizon", "700")
    assert result.exit_code == 2
    assert "too little history" in output and "the stored scores were not changed" in output
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        assert con.sql("SELECT golden_id, risk, reasons FROM profile.churn_risk ORDER BY 1").fetchall() == before


def test_evaluate_on_an_empty_warehouse_is_a_plain_error(tmp_path):
    with new_warehouse(tmp_path / "empty.duckdb"):
        pass
    result, output = invoke("churn", "evaluate", "-w", str(tmp_path / "empty.duckdb"))
    assert result.exit_code == 2
    assert "no visits" in output and "Traceback" not in output
