"""Post-op risk on hand-built follow-up records (no molar.synth): the day-3 features read no
check after day 3, the model finds a planted smoking effect, and the nurses' list obeys the
policy and leaves audit rows."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from molar.cli import app
from molar.predict.postop.evaluate import evaluate_postop, windows
from molar.predict.postop.features import surgeries, with_checks
from molar.predict.postop.model import PostopConfig
from molar.predict.postop.watch import watch_list
from molar.privacy import audit
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse
from unit.profile.crafted import Chain, Patient, Visit, new_warehouse

PASSWORD = "a long password"
CASE_COLUMNS = ("case_id", "source", "source_patient_key", "visit_id", "clinic_id", "doctor_id", "surgery_on",
                "procedure", "tooth", "difficulty", "smoker", "diabetic", "complication", "complication_on")
CHECK_COLUMNS = ("case_id", "check_day", "checked_on", "pain", "swelling", "bleeding", "fever", "adherence")


def add_cases(engine, rows: list[dict]) -> None:
    engine.append("std.postop_case", pa.table({c: pa.array([r.get(c) for r in rows], pa.date32() if c in (
        "surgery_on", "complication_on") else pa.string()) for c in CASE_COLUMNS}))


def add_checks(engine, rows: list[dict]) -> None:
    types = {"check_day": pa.int32(), "pain": pa.int32(), "checked_on": pa.date32()}
    engine.append("std.postop_check", pa.table({c: pa.array([r.get(c) for r in rows], types.get(c, pa.string()))
                                                for c in CHECK_COLUMNS}))


def case(case_id: str, on: date, **kw) -> dict:
    return {"case_id": case_id, "source": "his", "source_patient_key": f"H-{case_id}", "clinic_id": "C01",
            "surgery_on": on, "procedure": "extraction", "difficulty": "simple", "smoker": "no", "diabetic": "no", **kw}


def check(case_id: str, day: int, on: date, pain: int, fever: str = "no") -> dict:
    return {"case_id": case_id, "check_day": day, "checked_on": on, "pain": pain, "swelling": "mild",
            "bleeding": "no", "fever": fever, "adherence": "good"}


@pytest.fixture
def warehouse(tmp_path):
    engine = new_warehouse(tmp_path / "molar.duckdb")
    yield engine
    engine.close()


def test_day3_features_read_only_checks_dated_by_the_end_of_day3(warehouse):
    on = date(2026, 9, 1)
    add_cases(warehouse, [case("X", on), case("Y", on)])
    add_checks(warehouse, [
        check("X", 1, on + timedelta(days=1), 3), check("X", 3, on + timedelta(days=3), 5),
        check("X", 7, on + timedelta(days=7), 10, fever="yes"),  # after the score: describes the outcome
        check("Y", 1, on + timedelta(days=1), 4),
        check("Y", 3, on + timedelta(days=4), 9, fever="yes"),  # the day-3 call came a day late
    ])
    got = with_checks(warehouse, surgeries(warehouse)).set_index("case_id")
    assert (got.loc["X", "pain_d1"], got.loc["X", "pain_d3"], got.loc["X", "pain_rise"]) == (3, 5, 2)
    assert got.loc["X", "fever"] == 0
    assert got.loc["Y", "pain_d1"] == 4 and np.isnan(got.loc["Y", "pain_d3"]) and got.loc["Y", "fever"] == 0
    later = with_checks(warehouse, surgeries(warehouse), score_day=7).set_index("case_id")
    assert (later.loc["X", "pain_d3"], later.loc["X", "fever"], later.loc["Y", "pain_d3"]) == (10, 1, 9)


def planted_history(rng: np.random.Generator, n: int, first: date, last: date) -> tuple[list[dict], list[dict], float]:
    """Surgeries whose complication odds are ×4 for smokers; day-3 pain rises before a complication.
    Returns (cases, checks, the smokers' complication rate over the non-smokers')."""
    cases, checks = [], []
    span = (last - first).days
    smoker = rng.random(n) < 0.3
    hit = rng.random(n) < np.where(smoker, 0.16, 0.04)
    for i in range(n):
        on = first + timedelta(days=int(rng.integers(0, span + 1)))
        comp = on + timedelta(days=int(rng.integers(4, 20))) if hit[i] else None
        cases.append(case(f"S{i:04d}", on, procedure=["extraction", "implant"][i % 2],
                          smoker="yes" if smoker[i] else "no", complication="infection" if hit[i] else None,
                          complication_on=comp))
        pain1 = int(rng.integers(2, 6))
        checks.append(check(f"S{i:04d}", 1, on + timedelta(days=1), pain1))
        checks.append(check(f"S{i:04d}", 3, on + timedelta(days=3), pain1 + (2 if hit[i] else -1)))
    return cases, checks, float(hit[smoker].mean() / hit[~smoker].mean())


def test_the_model_finds_the_planted_smoking_effect_out_of_time(warehouse):
    cases, checks, ratio = planted_history(np.random.default_rng(3), 1600, date(2024, 11, 1), date(2026, 10, 1))
    assert ratio > 2.5
    add_cases(warehouse, cases)
    add_checks(warehouse, checks)
    result = evaluate_postop(warehouse)
    end = max(max(c["complication_on"] or c["surgery_on"] for c in cases), max(k["checked_on"] for k in checks))
    assert result["data_end"] == end.isoformat()
    # the test window: 150 days of surgeries whose 30 days had all passed by the data's end
    assert result["windows"]["test"] == [(end - timedelta(days=179)).isoformat(), (end - timedelta(days=30)).isoformat()]
    assert result["windows"]["calibration"][1] == (end - timedelta(days=210)).isoformat()
    at_surgery, day3 = result["surgery"], result["day3"]
    # procedure carries nothing here; smoking does, so the model beats the procedure's rate
    assert at_surgery["auc"] > 0.6 > at_surgery["baselines"]["procedure_rate"]["auc"]
    # pain rising by day 3 is planted before every complication: the day-3 score ranks almost perfectly
    assert day3["auc"] > 0.95 > at_surgery["auc"]
    predicted = [r["predicted"] for r in at_surgery["reliability"]]
    assert predicted == sorted(predicted)


def as_user(db, user, *args):
    return CliRunner().invoke(app, list(args), env={"MOLAR_WAREHOUSE": str(db), "MOLAR_USER": user,
                                                    "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": "", "COLUMNS": "250"})


def test_watch_list_by_role_with_audit(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = new_warehouse(db)
    c = Chain([Patient("A", visits=[Visit(date(2026, 10, 20), ["EXT"])]),
               Patient("B", visits=[Visit(date(2026, 10, 30), ["IMP"])])]).build(engine)
    cases, checks, _ = planted_history(np.random.default_rng(5), 900, date(2025, 1, 1), date(2026, 9, 20))
    add_cases(engine, [*cases, case("A", date(2026, 10, 20), smoker="yes"), case("B", date(2026, 10, 30)),
                       case("DONE", date(2026, 10, 15), complication="infection", complication_on=date(2026, 10, 25))])
    add_checks(engine, [*checks, check("A", 1, date(2026, 10, 21), 3), check("A", 3, date(2026, 10, 23), 7)])
    now = datetime(2026, 10, 31, 9)
    add_user(engine, "nina", PASSWORD, "nurse", now=now, by="test")
    add_user(engine, "mark", PASSWORD, "marketer", now=now, by="test")
    engine.close()

    args = ("postop", "list", "--clinic", "C01", "--as-of", "2026-10-31", "--json")
    r = as_user(db, "nina", *args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    got = {x["case_id"]: x for x in out["cases"]}
    # open: A (day 11, scored with its day-3 checks) and B (day 1, scored at surgery); DONE had
    # its complication on record, the history is older than 30 days
    assert set(got) == {"A", "B"}
    assert (got["A"]["scored_at"], got["A"]["day"], got["B"]["scored_at"], got["B"]["day"]) == ("day3", 11, "surgery", 1)
    assert got["A"]["golden_id"] == c["A"] and got["A"]["name"] == "患者A"
    assert got["A"]["risk"] > got["B"]["risk"]  # a smoker whose pain rose
    assert {x["feature"] for x in got["A"]["reasons"]} & {"smoker", "pain_rise", "pain_d3"}
    assert all(x["zh"] and x["en"] for x in got["A"]["reasons"])

    refused = as_user(db, "mark", *args)
    assert refused.exit_code == 2 and "the role marketer may not postop operations" in refused.output

    engine = open_warehouse(path=db)
    rows = [r for r in audit.list_entries(engine, limit=50) if r["action"] == "operations.postop"]
    # a week earlier: DONE's complication (10-25) was not known yet, B not operated on yet
    earlier = {x["case_id"]: x for x in watch_list(engine, "C01", date(2026, 10, 24))}
    engine.close()
    assert set(earlier) == {"A", "DONE"}
    assert (earlier["A"]["scored_at"], earlier["DONE"]["scored_at"]) == ("day3", "day3")
    assert sorted((r["actor"], r["patient"] or "", tuple(r["fields"])) for r in rows) == sorted([
        ("nina", c["A"], ("name",)), ("nina", c["B"], ("name",)), ("nina", "", ("name",))])


def test_plain_messages_without_followup_data_or_with_a_bad_date(tmp_path):
    db = tmp_path / "molar.duckdb"
    new_warehouse(db).close()
    empty = as_user(db, "", "postop", "evaluate")
    assert empty.exit_code == 2 and "no post-op follow-up records" in empty.output and "Traceback" not in empty.output
    listing = as_user(db, "", "postop", "list", "--clinic", "C01")
    assert listing.exit_code == 2 and "Traceback" not in listing.output
    engine = open_warehouse(path=db)
    Chain([Patient("A")]).build(engine)
    engine.close()
    none_yet = as_user(db, "", "postop", "list", "--clinic", "C01")
    assert none_yet.exit_code == 2 and "no post-op follow-up records" in none_yet.output
    bad = as_user(db, "", "postop", "list", "--clinic", "C01", "--as-of", "soon")
    assert bad.exit_code == 2 and "--as-of 'soon'" in bad.output


@given(end=st.dates(date(2020, 1, 1), date(2034, 12, 31)), test_days=st.integers(30, 400),
       calibration_days=st.integers(30, 400))
def test_windows_keep_a_label_horizon_between_train_calibration_and_test(end, test_days, calibration_days):
    plan = windows(end, PostopConfig(test_days=test_days, calibration_days=calibration_days))
    (cal_first, cal_last), (test_first, test_last) = plan.calibration, plan.test
    assert test_last == end - timedelta(days=30)  # every test label complete by the data's end
    assert (test_last - test_first).days + 1 == test_days and (cal_last - cal_first).days + 1 == calibration_days
    assert (cal_first - plan.train_end).days > 30 and (test_first - cal_last).days > 30
