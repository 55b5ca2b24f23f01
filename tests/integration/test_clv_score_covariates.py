"""`molar clv score --covariate` on a warehouse: visits simulated here from the BG/NBD story
with clinic C02 patients visiting twice as often and an age band that has no effect; the
stored scores use the fitted effect, and a bad covariate name changes nothing."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.warehouse import open_warehouse
from unit.predict.test_clv_covariates import simulate

AS_OF = date(2026, 10, 31)
TWINS = ("TWIN-C01", "TWIN-C02")  # new patients, first visit two weeks ago, one in each clinic


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("clvcov") / "molar.duckdb"
    rng = np.random.default_rng(21)
    n = 6_000
    clinic = np.where(rng.random(n) < 0.4, "C02", "C01")
    band = np.where(rng.random(n) < 0.4, "18-29", "30-44")          # no effect on visits; 30-44 is the reference
    times: list[list[float]] = []
    _, _, age, _ = simulate(n, np.where(clinic == "C02", 2.0, 1.0), seed=9, times=times)
    visits = {"source": [], "visit_id": [], "source_patient_key": [], "clinic_id": [], "visit_date": []}
    charges = {"source": [], "charge_id": [], "source_patient_key": [], "charged_on": [], "amount_yuan": []}

    def add(patient: str, clinic_id: str, first: date, weeks: list[float]) -> None:
        for k, t in enumerate(weeks):
            day = first + timedelta(days=round(t * 7))
            if day <= AS_OF:
                visits["source"].append("his")
                visits["visit_id"].append(f"{patient}-{k}")
                visits["source_patient_key"].append(patient)
                visits["clinic_id"].append(clinic_id)
                visits["visit_date"].append(day)
                charges["source"].append("his")
                charges["charge_id"].append(f"{patient}-{k}")
                charges["source_patient_key"].append(patient)
                charges["charged_on"].append(day)
                charges["amount_yuan"].append(150.0 + 50 * (k % 3))

    for i, weeks in enumerate(times):
        add(f"P{i}", clinic[i], AS_OF - timedelta(days=round(age[i] * 7)), weeks)
    for twin, clinic_id in zip(TWINS, ("C01", "C02"), strict=True):
        add(twin, clinic_id, AS_OF - timedelta(days=14), [0.0])
    keys = [f"P{i}" for i in range(n)] + list(TWINS)
    with open_warehouse(path=path) as engine:
        engine.append("std.visit", pa.table({**visits, "visit_date": pa.array(visits["visit_date"], pa.date32())}))
        engine.append("std.charge", pa.table({**charges, "charged_on": pa.array(charges["charged_on"], pa.date32())}))
        engine.append("identity.cluster", pa.table({
            "unique_id": keys, "source": ["his"] * len(keys), "source_patient_key": keys,
            "golden_id": [f"G-{k}" for k in keys], "run_id": ["test"] * len(keys)}))
        engine.append("profile.tag_value", pa.table({
            "golden_id": [f"G-P{i}" for i in range(n)], "tag_key": ["age_band"] * n, "value": list(band),
            "value_num": pa.nulls(n, pa.float64()), "evidence": pa.nulls(n, pa.string()),
            "valid_from": pa.array([datetime(2026, 10, 31)] * n, pa.timestamp("us")), "run_id": ["test"] * n}))
    return path


def score(path, *covariates: str):
    args = ["clv", "score", "-w", str(path), "--as-of", AS_OF.isoformat(), "--json"]
    for c in covariates:
        args += ["--covariate", c]
    return CliRunner().invoke(app, args)


def test_score_fits_the_clinic_effect_and_uses_it_per_patient(warehouse):
    result = score(warehouse, "clinic", "age_band")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    effects = out["bgnbd"]["covariates"]
    assert effects["clinic=C02"]["rate"] == pytest.approx(2.0, rel=0.2)
    assert effects["age_band=18-29"]["rate"] == pytest.approx(1.0, abs=0.15)
    assert out["without_covariates"]["p_value"] < 1e-6
    with open_warehouse(path=warehouse) as engine:
        twins = dict(engine.rows("SELECT golden_id, visits_12m FROM profile.clv WHERE golden_id IN (?, ?)",
                                 [f"G-{t}" for t in TWINS]))
    # Same history; with no repeat visit yet the expected rate is r / (α_i + T): α ≈ 8 weeks
    # in C01 and α/2 ≈ 4 in C02, T = 2, so C02 expects ≈ (8 + 2) / (4 + 2) ≈ 1.7× the visits.
    assert twins["G-TWIN-C02"] > 1.4 * twins["G-TWIN-C01"]


def test_without_covariates_the_twins_score_the_same(warehouse):
    result = score(warehouse)
    assert result.exit_code == 0, result.output
    assert "covariates" not in json.loads(result.output)["bgnbd"]
    with open_warehouse(path=warehouse) as engine:
        values = [r[0] for r in engine.rows("SELECT visits_12m FROM profile.clv WHERE golden_id IN (?, ?)",
                                            [f"G-{t}" for t in TWINS])]
    assert len(values) == 2 and values[0] == pytest.approx(values[1])


def test_an_unknown_covariate_is_one_message_and_keeps_the_scores(warehouse):
    assert score(warehouse).exit_code == 0
    with open_warehouse(path=warehouse) as engine:
        before = engine.rows("SELECT model_id, count(*) FROM profile.clv GROUP BY 1")
    result = score(warehouse, "shoe_size")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "covariate 'shoe_size' is neither 'clinic' nor a tag in profile.tag_value (tags: age_band" in text
    assert "Traceback" not in result.output
    with open_warehouse(path=warehouse) as engine:
        assert engine.rows("SELECT model_id, count(*) FROM profile.clv GROUP BY 1") == before
