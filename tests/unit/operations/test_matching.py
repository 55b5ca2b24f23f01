"""Doctor matching against a hand-built clinic. Scores are worked out by hand below with the
shipped weights (experience 0.30, fit 0.20, continuity 0.20, outcomes 0.15, availability 0.15),
full volume 200, full complex cases 30, titles 主任医师 1.0 / 主治医师 0.5 / 医师 0.25, and
capacity 16 slots × round(14 × 5 / 7) = 160 half-hour slots in the next 14 days."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from molar.automation.yamlio import CatalogueError
from molar.operations.matching import MATCHING_FILE, MatchingError, Request, load_matching, match
from molar.operations.matching_eval import evaluate_matching
from unit.profile.crafted import AS_OF, Chain, Patient, Visit, fresh_warehouse

YOUNG, OLD = date(1990, 1, 1), date(1958, 1, 1)   # 35 and 67 on the 2025 history visits


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


DOCTORS = [  # id, clinic, department, title
    ("DA", "C01", "implant", "主任医师"),     # 300 implants, 40 of them on patients 60+
    ("DB", "C01", "implant", "主治医师"),     # 20 implants, 2 on patients 60+; treated Q before
    ("DG", "C01", "general", "医师"),         # a GP who placed 5 implants
    ("DX", "C02", "implant", "主任医师"),     # another clinic
    ("DI", "C01", "implant", "主任医师"),     # no visit in the last 365 days: left out
]


def history() -> tuple[list[Patient], dict[str, str]]:
    """Past implant patients and who treated them: patient key → doctor."""
    patients, doctor = [], {}
    plan = [("DA", 260, YOUNG), ("DA", 40, OLD), ("DB", 18, YOUNG), ("DB", 2, OLD), ("DG", 5, YOUNG),
            ("DX", 10, YOUNG)]
    for doc, n, birth in plan:
        for i in range(n):
            key = f"{doc}{'o' if birth == OLD else 'y'}{i}"
            patients.append(Patient(key, birth=birth, visits=[Visit(date(2025, 1, 1) + timedelta(days=i % 200),
                                                                    ["IMP"], clinic="C02" if doc == "DX" else "C01")]))
            doctor[key] = doc
    patients.append(Patient("old", visits=[Visit(date(2024, 1, 1), ["IMP"])]))
    doctor["old"] = "DI"
    for doc in ("DA", "DG", "DX"):   # a check-up this autumn: still working here
        patients.append(Patient(f"now{doc}", visits=[Visit(date(2026, 10, 1), ["CHK"], clinic="C02" if doc == "DX"
                                                            else "C01")]))
        doctor[f"now{doc}"] = doc
    return patients, doctor


def build(engine, *, q_birth: date = date(1960, 3, 1), later: tuple[tuple[Patient, str], ...] = ()) -> Chain:
    patients, doctor = history()
    patients += [p for p, _ in later]
    doctor.update({p.key: doc for p, doc in later})
    # Q: 66 on the day, periodontal therapy in 2025 (with DG), an implant consultation with DB
    q = Patient("Q", birth=q_birth, visits=[Visit(date(2025, 6, 1), ["PERIO"]), Visit(date(2026, 9, 1), ["CHK"])])
    doctor.update({"Q": "DG"})
    c = Chain([*patients, q]).build(engine)
    engine.execute("INSERT INTO std.doctor SELECT unnest(?), 'Dr ' || unnest(?), unnest(?), unnest(?), unnest(?), "
                   "'L-test', 0", [[d[0] for d in DOCTORS], [d[0] for d in DOCTORS], [d[1] for d in DOCTORS],
                                   [d[2] for d in DOCTORS], [d[3] for d in DOCTORS]])
    for key, doc in doctor.items():
        dept = next(d[2] for d in DOCTORS if d[0] == doc)
        engine.execute("UPDATE std.visit SET doctor_id = ?, department = ? WHERE source_patient_key = ?",
                       [doc, dept, f"H-{key}"])
    engine.execute("UPDATE std.visit SET doctor_id = 'DB', department = 'implant' WHERE source_patient_key = 'H-Q' "
                   "AND visit_date = '2026-09-01'")
    # DA: three reviews 5, 5, 4; DG: one review of 1 star (a complaint)
    for n, (doc, rating) in enumerate([("DA", 5), ("DA", 5), ("DA", 4), ("DG", 1)]):
        engine.execute("INSERT INTO std.review VALUES (?, 'his', 'H-DAy0', 'C01', ?, '2025-05-01', ?, NULL, 'L', 0)",
                       [f"R{n}", doc, rating])
    # DB is booked 40 times in the next 14 days; one booking after the window and one cancelled do not count
    for n in range(40):
        engine.execute("INSERT INTO std.appointment VALUES ('booking', ?, 'B-Q', 'C01', 'implant', 'DB', "
                       "'2026-10-20 09:00', ?, 'wechat', 'booked', 'L', 0)",
                       [f"AP{n}", datetime(2026, 11, 2, 9) + timedelta(hours=n % 8, days=n // 8)])
    engine.execute("INSERT INTO std.appointment VALUES ('booking', 'APlate', 'B-Q', 'C01', 'implant', 'DB', "
                   "'2026-10-20 09:00', '2026-11-20 09:00', 'wechat', 'booked', 'L', 0), ('booking', 'APc', 'B-Q', "
                   "'C01', 'implant', 'DB', '2026-10-20 09:00', '2026-11-03 09:00', 'wechat', 'cancelled', 'L', 0)")
    return c


def test_a_complex_implant_case_goes_to_the_experienced_specialist(warehouse):
    c = build(warehouse)
    got = match(warehouse, c["Q"], Request(treatment="IMP"), as_of=AS_OF)
    # Q: 66 (older_patient 0.3) + periodontal therapy before (0.3) = complexity 0.6 → complex
    assert got["clinic_id"] == "C01" and got["complexity"] == 0.6 and got["complex"]
    assert [r["flag"] for r in got["reasons"]] == ["older_patient", "perio_history"]
    assert got["reasons"][0]["en"] == "aged 66 (60+)"
    # DA: volume log1p(300)/log1p(200) > 1 → 1; complex 40: log(41)/log(31) > 1 → 1; 主任医师 1 → experience 1
    #     fit 1; continuity 0; outcomes (no rework 1 + no complaint 1 + rating (4.667−1)/4 = 0.9167) / 3 = 0.9722;
    #     availability 160/160 = 1 → 30 + 20 + 0 + 14.58 + 15 = 79.6
    # DB: volume log(21)/log(201) = 0.5741; complex log(3)/log(31) = 0.3199; 主治医师 0.5 → experience 0.4647
    #     fit 1 − (0.6 − 0.4647) = 0.8647; continuity 1 (the consultation); outcomes (1 + 1 + 0.5 neutral) / 3;
    #     availability (160 − 40)/160 = 0.75 → 13.94 + 17.29 + 20 + 12.5 + 11.25 = 75.0
    # DG: volume log(6)/log(201) = 0.3379; no complex case; 医师 0.25 → experience 0.1960; fit 1 − 0.404 = 0.596;
    #     continuity 1 (the periodontal therapy); outcomes (1 + 0 (1 complaint / 7 patients ≥ 0.1) + 0.5)/3 = 0.5;
    #     availability 1 → 5.88 + 11.92 + 20 + 7.5 + 15 = 60.3
    # DX (C02) and DI (last visit 2024-01-01) are not candidates.
    assert [(d["doctor_id"], d["score"]) for d in got["doctors"]] == [("DA", 79.6), ("DB", 75.0), ("DG", 60.3)]
    db = {p["part"]: p["value"] for p in got["doctors"][1]["parts"]}
    assert db == {"experience": 0.4647, "fit": 0.8647, "continuity": 1.0, "outcomes": 0.8333, "availability": 0.75}
    words = {p["part"]: p["en"] for p in got["doctors"][1]["parts"]}
    assert words["experience"] == "20 × implant, 2 complex cases, 主治医师"
    assert words["fit"] == "case complexity 0.60 vs experience 0.46: less experienced than the case needs"
    assert words["continuity"] == "treated this patient 1 times, last on 2026-09-01"
    assert words["availability"] == "40 bookings in the next 14 days, 120 of 160 half-hour slots open"
    dg = {p["part"]: p["en"] for p in got["doctors"][2]["parts"]}
    assert dg["outcomes"] == ("rework 0 of 5 (0%); 1 complaints from 7 patients; 1 reviews (fewer than 3: neutral)")


def test_a_routine_case_does_not_need_the_most_experienced(warehouse):
    # Q at 36 with no other flag keeps the periodontal history: complexity 0.3. DB's experience
    # 0.4647 covers it (fit 1), DG's 0.1960 falls 0.104 short (fit 0.896).
    # DG: 5.88 + 17.92 + 20 + 7.5 + 15 = 66.3
    c = build(warehouse, q_birth=date(1990, 3, 1))
    got = match(warehouse, c["Q"], Request(treatment="IMP"), as_of=AS_OF)
    assert got["complexity"] == 0.3
    fit = {d["doctor_id"]: next(p["value"] for p in d["parts"] if p["part"] == "fit") for d in got["doctors"]}
    assert fit == {"DA": 1.0, "DB": 1.0, "DG": 0.896}
    # DB: 13.94 + 20 + 20 + 12.5 + 11.25 = 77.7 (the specialist DA still 79.6)
    assert [(d["doctor_id"], d["score"]) for d in got["doctors"]] == [("DA", 79.6), ("DB", 77.7), ("DG", 66.3)]


def test_by_department_and_other_clinic(warehouse):
    c = build(warehouse)
    # by department: only the department's doctors (DG placed implants but is a GP)
    got = match(warehouse, c["Q"], Request(department="implant"), as_of=AS_OF)
    assert [d["doctor_id"] for d in got["doctors"]] == ["DA", "DB"]
    got = match(warehouse, c["Q"], Request(treatment="IMP"), clinic="C02", as_of=AS_OF)
    assert [d["doctor_id"] for d in got["doctors"]] == ["DX"]


def test_rework_counts_against_the_doctor(warehouse):
    c = build(warehouse)
    # two of DB's young patients had the implant redone 100 days later (same patient, no tooth): 2 of 20 = 10 %
    for key in ("DBy0", "DBy1"):
        day = warehouse.rows("SELECT visit_date FROM std.visit WHERE source_patient_key = ?", [f"H-{key}"])[0][0]
        warehouse.execute("INSERT INTO std.visit (source, visit_id, source_patient_key, clinic_id, doctor_id, "
                          "department, visit_date, _load_id, _row_number) VALUES ('his', ?, ?, 'C01', 'DB', 'implant', "
                          "?, 'L', 0)", [f"redo-{key}", f"H-{key}", day + timedelta(days=100)])
        warehouse.execute("INSERT INTO std.treatment (source, visit_id, line_no, item_code, quantity, _load_id, "
                          "_row_number) VALUES ('his', ?, 1, 'IMP', 1, 'L', 0)", [f"redo-{key}"])
    got = match(warehouse, c["Q"], Request(treatment="IMP"), as_of=AS_OF)
    db = next(d for d in got["doctors"] if d["doctor_id"] == "DB")
    outcomes = next(p for p in db["parts"] if p["part"] == "outcomes")
    # 22 implants now, 2 of 22 judged cases redone (the redos themselves were never redone): 1 − 0.0909/0.2 = 0.5455
    assert outcomes["en"].startswith("rework 2 of 22 (9%)")
    assert outcomes["value"] == round((0.5455 + 1 + 0.5) / 3, 4)


def test_bad_requests_end_in_one_message(warehouse):
    c = build(warehouse)
    with pytest.raises(MatchingError, match="give one of --treatment CODE or --department D"):
        match(warehouse, c["Q"], Request(), as_of=AS_OF)
    with pytest.raises(MatchingError, match="treatment 'IMPLANT': one of CHK"):
        match(warehouse, c["Q"], Request(treatment="IMPLANT"), as_of=AS_OF)
    with pytest.raises(MatchingError, match="no patient with golden ID 'G1'"):
        match(warehouse, "G1", Request(treatment="IMP"), as_of=AS_OF)


def test_weights_file_is_checked(tmp_path: Path):
    assert load_matching().weights["experience"] == 0.30
    bad = tmp_path / "m.yaml"
    bad.write_text(MATCHING_FILE.read_text(encoding="utf-8").replace("experience: 0.30", "experience: 0.50"),
                   encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"m.yaml:5: weights add up to 1.200; make them add up to 1"):
        load_matching(bad)
    bad.write_text(MATCHING_FILE.read_text(encoding="utf-8").replace("full_volume: 200", "full_volume: lots"),
                   encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"full_volume: a whole number, 1 or more"):
        load_matching(bad)


def test_evaluation_against_who_then_treated(warehouse):
    # Three first implants after the cut (2025-12-31): N1 by DA, N2 by DB, N3 by DI (inactive on the
    # cut day: not a candidate, so skipped). As of the cut the candidates at C01 are DA, DB, DG;
    # N1 and N2 are 36 with no flag (routine) and DA ranks first for both (experience 1 vs 0.46, 0.20).
    later = tuple((Patient(key, visits=[Visit(date(2026, 3, 1), ["IMP"])]), doc)
                  for key, doc in (("N1", "DA"), ("N2", "DB"), ("N3", "DI")))
    build(warehouse, later=later)
    got = evaluate_matching(warehouse, date(2025, 12, 31), AS_OF, codes=("IMP",))
    assert got["first_cases"] == 3
    # N1: top 1 hit; N2: a miss at 1, a hit in the top 3; chance 1/3 each; nobody saw either doctor
    # before (continuity 0); the most experienced (DA) is right once
    assert got["groups"] == {name: {"cases": 2, "top1": 0.5, "top3": 1.0, "random": 0.333, "continuity": 0.0,
                                    "most_experienced": 0.5, "candidates": 3.0} for name in ("routine", "all")}
