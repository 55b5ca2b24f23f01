"""The demand forecast on bookings Molar's synthetic chain did not make: a hand-built chain
whose demand is known — a weekly and hourly profile, orthodontics busy on weekend mornings,
a slow upward trend, and official days off at a quarter of the normal demand (the dates
written out below from the State Council's notices, not read from chinese-calendar) —
with Poisson noise. Expected behaviour: the model beats seasonal-naive (the Spring Festival
moves between years, the same week a year earlier does not know it), its 80 % intervals
cover roughly 80 %, it forecasts the next holiday's dip, and staffing puts more
orthodontists on weekend mornings."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.operations.blocks import at_level, predict_block
from molar.operations.model import ForecastConfig
from molar.operations.series import load_series
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(600)

START, END = date(2024, 3, 4), date(2026, 3, 15)           # Monday … Sunday: 106 full weeks
CLINICS = {"K1": 1.0, "K2": 0.7, "K3": 1.3, "K4": 0.5}
DEPARTMENTS = {"general": 1.0, "periodontics": 0.6, "orthodontics": 0.5}
HOURS = range(9, 19)


def _days(first: str, last: str) -> set[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return {a + timedelta(n) for n in range((b - a).days + 1)}


DAYS_OFF = set().union(*(_days(a, b) for a, b in [
    ("2024-02-10", "2024-02-17"), ("2024-04-04", "2024-04-06"), ("2024-05-01", "2024-05-05"),
    ("2024-06-08", "2024-06-10"), ("2024-09-15", "2024-09-17"), ("2024-10-01", "2024-10-07"),
    ("2025-01-01", "2025-01-01"), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"),
]))


def rate(clinic: str, department: str, day: date, hour: int) -> float:
    """Expected bookings for one hour slot on one day."""
    weekend = day.weekday() >= 5
    r = 0.22 * CLINICS[clinic] * DEPARTMENTS[department]
    if department == "orthodontics" and weekend:
        r *= 2.5 * (2.0 if hour < 12 else 1.0)
    elif weekend:
        r *= 0.8
    r *= 1.3 if hour >= 17 else 1.0
    r *= 1 + 0.1 * (day - START).days / 365
    return r * (0.25 if day in DAYS_OFF else 1.0)


def bookings(seed: int = 11) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("clinic_id", "department", "slot_start", "status")}
    day = START
    while day <= END + timedelta(14):                         # bookings made by END for the days after it
        for clinic in CLINICS:
            for dept in DEPARTMENTS:
                for hour in HOURS:
                    n = rng.poisson(rate(clinic, dept, day, hour))
                    arrived = rng.random(n) < 0.85
                    for a in arrived:
                        cols["clinic_id"].append(clinic)
                        cols["department"].append(dept)
                        cols["slot_start"].append(datetime(day.year, day.month, day.day, hour, 30))
                        cols["status"].append("arrived" if a else "no_show")
        day += timedelta(1)
    n = len(cols["status"])
    return pa.table({
        "source": ["booking"] * n, "appointment_id": [f"A{i:07d}" for i in range(n)],
        "source_patient_key": [f"P{i % 5000:05d}" for i in range(n)], **{k: cols[k] for k in ("clinic_id", "department")},
        "doctor_id": pa.nulls(n, pa.string()), "booked_at": [s - timedelta(days=3) for s in cols["slot_start"]],
        "slot_start": cols["slot_start"], "channel": ["wechat"] * n, "status": cols["status"],
        "_load_id": ["L1"] * n, "_row_number": list(range(n)),
    })


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("ops") / "molar.duckdb"
    engine = open_warehouse(path=path)
    engine.append("std.appointment", bookings())
    engine.execute("DELETE FROM std.appointment WHERE booked_at::DATE > ?", [END])
    for c in CLINICS:
        engine.execute("INSERT INTO std.clinic (clinic_id, name, district, chairs) VALUES (?, ?, '武侯区', 10)", [c, c])
        for d in DEPARTMENTS:
            for k in range(3):
                engine.execute("INSERT INTO std.doctor (doctor_id, name, clinic_id, department) VALUES (?, ?, ?, ?)",
                               [f"{c}{d[:3]}{k}", "医生", c, d])
    yield engine, path
    engine.close()


@pytest.fixture(scope="module")
def evaluation(chain):
    env = {"MOLAR_WAREHOUSE": str(chain[1]), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    r = CliRunner().invoke(app, ["ops", "evaluate", "--json"], env=env)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_the_model_beats_seasonal_naive_on_every_department(evaluation):
    assert evaluation["weeks_held_out"] == 8
    for measure in ("appointments", "arrivals"):
        m = evaluation["measures"][measure]
        assert m["test_weeks"] == ["2026-01-19", "2026-03-09"]     # the Spring Festival is in the test
        assert m["mape"] < m["seasonal_naive_mape"]
        for dept, d in m["departments"].items():
            assert d["model"]["mase"] < d["seasonal_naive"]["mase"], (measure, dept, d)


def test_intervals_cover_about_their_nominal_rate(evaluation):
    # 4 clinics × 3 departments × 8 weeks = 96 intervals of whole counts around 70–130 a week: an
    # 80 % interval with its ends included holds ≈ 82 % of Poisson draws (Poisson(85): P(73 ≤ Y ≤ 97)
    # = 0.823); ± three binomial standard errors (√(0.82 · 0.18 / 96) = 0.039) → 0.70–0.94.
    for measure in ("appointments", "arrivals"):
        assert 0.70 <= evaluation["measures"][measure]["coverage"]["clinic_department"] <= 0.94, measure
    assert evaluation["coverage_80"] == evaluation["measures"]["appointments"]["coverage"]["clinic_department"]


def test_the_held_out_spring_festival_week_is_forecast_low(chain):
    full = load_series(chain[0])
    n = len(full.weeks)
    weekly = at_level(predict_block(full, n - 8, "appointments", ForecastConfig()), None, "department")
    weekly = weekly.groupby("t")["expected"].sum()
    festival = full.weeks.index(date(2026, 2, 16))                # Mon 16 – Sun 22 Feb: every day off
    others = weekly.drop([festival, festival - 1]).mean()         # the week before holds the 15th
    # Known demand: a quarter of normal on days off.
    assert weekly[festival] < 0.45 * others


def test_forecast_and_staffing_through_the_cli(chain):
    _, path = chain
    env = {"MOLAR_WAREHOUSE": str(path), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    runner = CliRunner()
    r = runner.invoke(app, ["ops", "forecast", "--json"], env=env)
    assert r.exit_code == 0, r.output
    run = json.loads(r.output)
    assert (run["first_week"], run["weeks"], run["evaluated"]) == ("2026-03-16", 8, True)
    rows = chain[0].rows(
        """SELECT week_start, sum(expected) FROM ops.demand_forecast
           WHERE forecast_id = ? AND level = 'clinic_department' AND measure = 'appointments'
           GROUP BY 1 ORDER BY 1""", [run["forecast_id"]])
    weekly = dict(rows)
    assert len(weekly) == 8
    # 2026 Labour Day: 1–5 May off (Fri–Tue), so the weeks of 27 April and 4 May lose 3 and 2 days.
    plain = [v for w, v in weekly.items() if w not in (date(2026, 4, 27), date(2026, 5, 4), date(2026, 3, 30))]
    assert weekly[date(2026, 4, 27)] < 0.85 * np.mean(plain)
    low, high = chain[0].rows(
        """SELECT sum(low), sum(high) FROM ops.demand_forecast
           WHERE forecast_id = ? AND level = 'slot' AND measure = 'arrivals'""", [run["forecast_id"]])[0]
    assert low < high

    r = runner.invoke(app, ["ops", "staffing", "--week", "2026-03-23", "--json"], env=env)
    assert r.exit_code == 0, r.output
    slots = {(s["clinic_id"], s["department"], s["weekday"], s["hour"]): s for s in json.loads(r.output)["slots"]}
    weekend_morning = slots[("K3", "orthodontics", 5, 10)]
    weekday_morning = slots[("K3", "orthodontics", 1, 10)]
    assert weekend_morning["doctors"] > weekday_morning["doctors"]
    assert weekend_morning["visits"] > 3 * weekday_morning["visits"]     # known ratio: 2.5 × 2 = 5

    # A clinic manager limited to K1 sees K1's staffing only; a marketer may not ask.
    add_user(chain[0], "kate", "a long password", "clinic_manager", clinics=["K1"], now=datetime(2026, 3, 16), by="test")
    add_user(chain[0], "mark", "a long password", "marketer", now=datetime(2026, 3, 16), by="test")
    kate = {**env, "MOLAR_USER": "kate", "MOLAR_PASSWORD": "a long password"}
    r = runner.invoke(app, ["ops", "staffing", "--json"], env=kate)
    assert r.exit_code == 0, r.output
    assert {s["clinic_id"] for s in json.loads(r.output)["slots"]} == {"K1"}
    r = runner.invoke(app, ["ops", "staffing"], env={**env, "MOLAR_USER": "mark", "MOLAR_PASSWORD": "a long password"})
    assert r.exit_code == 2 and "may not" in r.output


def test_too_little_history_is_one_message(tmp_path):
    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    table = bookings()
    table = table.filter(pc.less(table["slot_start"], pa.scalar(datetime(2024, 6, 1), table["slot_start"].type)))
    engine.append("std.appointment", table)
    engine.close()
    env = {"MOLAR_WAREHOUSE": str(tmp_path / "molar.duckdb"), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    r = CliRunner().invoke(app, ["ops", "forecast"], env=env)
    assert r.exit_code == 2
    assert "too little history to forecast: 12 full weeks" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["ops", "evaluate"], env=env)
    assert r.exit_code == 2 and "too little history to evaluate" in r.output
    r = CliRunner().invoke(app, ["ops", "staffing"], env=env)
    assert r.exit_code == 2 and "run `molar ops forecast` first" in r.output
