"""Similar cases against hand-built courses of treatment. Distances are worked out by hand from
the documented feature vector: age ÷ 80, sex (M) × 0.25, and identical codes, department, cost,
duration and visits contribute nothing."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from molar.operations.matching import MatchingError
from molar.operations.similar import load_cases, similar
from unit.profile.crafted import AS_OF, Chain, Patient, Text, Visit, fresh_warehouse


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def implant_course(start_year: int = 2026) -> list[Visit]:
    """Check-up, implant ten days later, follow-up ten days after: 20 days, 3 visits, ¥12,050."""
    return [Visit(date(start_year, 1, 10), ["CHK"], amount=50), Visit(date(start_year, 1, 20), ["IMP"], amount=12000),
            Visit(date(start_year, 1, 30), ["IMPF"])]


def _build(engine) -> Chain:
    c = chain_def().build(engine)
    # W's two fillings are on the same tooth, 184 days apart: a redo of the first course
    engine.execute("UPDATE std.treatment SET tooth = '36' WHERE visit_id IN ('V-W-1', 'V-W-2')")
    return c


def chain_def() -> Chain:
    return Chain([  # Q: 62 at the start; their earlier cleaning must never come back as "similar"
        Patient("Q", birth=date(1963, 6, 1), visits=[Visit(date(2024, 5, 1), ["CLN"], amount=280),
                                                     *implant_course()]),
        Patient("A", birth=date(1975, 6, 1), visits=implant_course(2025)),           # 49: only age differs
        Patient("S", sex="M", birth=date(1962, 6, 1), visits=implant_course(2025)),  # 62, a man
        Patient("R", birth=date(1963, 6, 1), visits=[Visit(date(2025, 1, 10), ["CHK"], amount=50),
                                                     Visit(date(2025, 1, 20), ["RCT"], amount=12000),
                                                     Visit(date(2025, 1, 30), ["RCT"])]),
        Patient("C", birth=date(1980, 1, 1), visits=[Visit(date(2025, 3, 1), ["FILL"], amount=400)],
                texts=[Text(datetime(2025, 3, 20, 10), "complaint", "补的牙又掉了")]),
        Patient("W", birth=date(1980, 1, 1), visits=[Visit(date(2025, 3, 1), ["FILL"], amount=400),
                                                     Visit(date(2025, 9, 1), ["FILL"], amount=400)]),
        Patient("N", birth=date(1980, 1, 1), visits=[Visit(date(2026, 9, 1), ["FILL"], amount=400)]),
    ])


def test_a_case_identical_but_for_age_is_the_nearest(warehouse):
    c = _build(warehouse)
    got = similar(warehouse, golden_id=c["Q"], k=3, as_of=AS_OF)
    q = got["case"]
    assert (q["department"], q["treatments"], q["visits"], q["duration_days"], q["cost_yuan"], q["age_band"]) == (
        "implant", {"CHK": 1, "IMP": 1, "IMPF": 1}, 3, 20, 12050.0, "60-74")
    # A: 62 vs 49 → |0.775 − 0.6125| = 0.1625; S: a man of the same age → 0.25; R: another department
    # (+1 squared) and other codes → far
    near = [(x["golden_id"], x["distance"]) for x in got["similar"]]
    assert near[:2] == [(c["A"], 0.1625), (c["S"], 0.25)]
    assert near[2][0] == c["R"] and near[2][1] > 1
    assert c["Q"] not in {x["golden_id"] for x in got["similar"]}      # never the patient's own cases
    assert got["outcomes"] == {"completed": 3, "ongoing": 0, "rework": 0, "complaint": 0}


def test_outcomes(warehouse):
    c = _build(warehouse)
    cases = load_cases(warehouse, AS_OF)
    outcome = {(g, str(s)): o for g, s, o in zip(cases["golden_id"], cases["start"], cases["outcome"], strict=True)}
    assert outcome[(c["C"], "2025-03-01")] == "complaint"   # a complaint 19 days after the filling
    assert outcome[(c["W"], "2025-03-01")] == "rework"      # the same tooth filled again 184 days later
    assert outcome[(c["W"], "2025-09-01")] == "completed"
    assert outcome[(c["N"], "2026-09-01")] == "ongoing"     # 60 days before the day: may go on
    assert outcome[(c["Q"], "2026-01-10")] == "completed"   # ended 274 days before the day
    # Q's cleaning in 2024 and implant course in 2026 are two cases (gap over 120 days)
    assert sorted(str(s) for g, s in zip(cases["golden_id"], cases["start"], strict=True) if g == c["Q"]) == [
        "2024-05-01", "2026-01-10"]


def test_by_department_and_by_case_number(warehouse):
    c = _build(warehouse)
    older = similar(warehouse, golden_id=c["Q"], department="periodontics", k=1, as_of=AS_OF)
    assert older["case"]["treatments"] == {"CLN": 1}
    again = similar(warehouse, case=older["case"]["case_id"], k=1, as_of=AS_OF)
    assert again["case"]["case_id"] == older["case"]["case_id"]
    with pytest.raises(MatchingError, match="has no course of treatment in orthodontics"):
        similar(warehouse, golden_id=c["Q"], department="orthodontics", as_of=AS_OF)
    with pytest.raises(MatchingError, match="department 'implants': one of general"):
        similar(warehouse, golden_id=c["Q"], department="implants", as_of=AS_OF)
    with pytest.raises(MatchingError, match="no case 'Knope'"):
        similar(warehouse, case="Knope", as_of=AS_OF)
