"""Every tag of the shipped catalogue on crafted patients whose answers were worked out by hand.

The profile date is AS_OF = 2026-10-31 unless a test says otherwise; ``ago(n)`` is n days
before it. Expected values come from the tag's written rule, not from re-running its SQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from math import asin, cos, radians, sin, sqrt

import pytest

from unit.profile.crafted import (
    AS_OF,
    Booking,
    Brush,
    Card,
    Chain,
    Charge,
    Clinic,
    Event,
    Patient,
    Text,
    Visit,
    ago,
    at,
    fresh_warehouse,
    new_warehouse,
    published,
    run_profile,
    shipped_tags,
    tag_values,
    years_before,
)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


CATALOGUE_KEYS = {
    "age_band", "sex", "district", "distance_to_clinic_km",
    "caries_risk", "periodontal_risk", "ortho_need_grade", "active_treatment_plan", "recall_status",
    "avg_order_value", "total_spend_24m", "visit_frequency", "package_preference", "membership_level",
    "price_sensitivity", "outstanding_balance_yuan",
    "online_booking_ratio", "preferred_channel", "service_contact_frequency", "no_show_rate",
    "article_shares_365d", "referrals_made", "referral_reach", "opinion_leader",
    "latest_sentiment", "complaints_90d", "sentiment_trend",
    "value_score", "value_tier", "lifecycle_stage",
    "churn_risk", "clv_24m_yuan", "key_customer", "referrals_converted",  # tests/unit/predict/test_predict_tags.py
}


def test_this_file_covers_the_whole_shipped_catalogue():
    # A new shipped tag must get a test here (value tags: test_value_tiers / test_lifecycle).
    assert {t.key for t in shipped_tags(include_value=True)} == CATALOGUE_KEYS


# ----------------------------------------------------------------------------- demographic


AGE_EDGES = [(7, "7-12", "0-6"), (13, "13-17", "7-12"), (18, "18-29", "13-17"), (30, "30-44", "18-29"),
             (45, "45-59", "30-44"), (60, "60-74", "45-59"), (75, "75+", "60-74")]


def test_age_band_edges_birthday_on_as_of(warehouse):
    patients = [Patient("newborn", birth=AS_OF), Patient("unborn", birth=AS_OF + timedelta(days=1)),
                Patient("no_birth", birth=None), Patient("age6", birth=years_before(AS_OF, 6))]
    for age, _, _ in AGE_EDGES:
        # turns `age` on as_of / turns `age` tomorrow
        patients.append(Patient(f"turns{age}", birth=years_before(AS_OF, age)))
        patients.append(Patient(f"almost{age}", birth=years_before(AS_OF, age) + timedelta(days=1)))
    chain = Chain(patients).build(warehouse)
    tags = tag_values(warehouse, "age_band")
    assert tags.value(chain["newborn"], "age_band") == "0-6"
    assert tags.value(chain["age6"], "age_band") == "0-6"
    assert not tags.has(chain["unborn"], "age_band")
    assert not tags.has(chain["no_birth"], "age_band")
    for age, band, band_before in AGE_EDGES:
        assert tags.value(chain[f"turns{age}"], "age_band") == band, age
        assert tags.value(chain[f"almost{age}"], "age_band") == band_before, age
    assert tags.evidence(chain["turns30"], "age_band") == {"age": 30}


def text_cells(engine, schema: str) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text, JSON or list cell of every base table in ``schema``."""
    cells = []
    for table, column in engine.rows(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = ? AND t.table_type = 'BASE TABLE' "
            "AND (c.data_type IN ('VARCHAR', 'JSON') OR c.data_type LIKE '%[]' OR c.data_type LIKE 'STRUCT%' "
            "OR c.data_type LIKE 'MAP%')", [schema]):
        cells += [(table, column, v) for (v,) in engine.rows(
            f'SELECT CAST("{column}" AS VARCHAR) FROM {schema}."{table}" WHERE "{column}" IS NOT NULL')]
    return cells


def test_no_tag_evidence_carries_the_birth_date(warehouse):
    # a patient with something for every dimension, born on a date no other input holds
    born = date(1987, 3, 14)
    rich = Patient("born", birth=born, visits=[Visit(ago(400), ["EXM"]), Visit(ago(30), ["CLN", "FIL"])],
                   charges=[Charge(ago(30), 800.0), Charge(ago(400), 300.0)],
                   bookings=[Booking(at(ago(35)), "online"), Booking(at(ago(405)), "phone")])
    Chain([rich, Patient("other", birth=date(1990, 5, 20))]).build(warehouse)
    run_profile(warehouse)
    cells = text_cells(warehouse, "profile")
    assert any(t == "tag_value" and c == "evidence" for t, c, _ in cells)      # the scan reads evidence
    spellings = ("1987-03-14", "19870314", "1987/03/14", "1987-3-14", "1987年3月14日", "1987年03月14日")
    assert [(t, c, v) for t, c, v in cells if any(s in v for s in spellings)] == []


def test_sex_and_district_come_from_the_golden_record(warehouse):
    chain = Chain([Patient("m", sex="M", district="武侯区"), Patient("unknown", sex=None, district=None)]).build(warehouse)
    tags = tag_values(warehouse, "sex", "district")
    assert tags.value(chain["m"], "sex") == "M"
    assert tags.value(chain["m"], "district") == "武侯区"
    assert not tags.has(chain["unknown"], "sex")
    assert not tags.has(chain["unknown"], "district")


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371 * asin(sqrt(a))


def test_distance_to_nearest_clinic_from_the_district_centre(warehouse):
    # Centroids (reference CSV): 武侯区 30.642,104.043; 高新区 30.586,104.062; 双流区 30.574,103.924.
    # Clinics: C01 30.657,104.083; C02 30.55,104.06; C03 at the 双流区 centroid; C09 has no coordinates
    # and sits in 武侯区 (must be ignored, not read as 0 km).
    clinics = (*Chain([]).clinics, Clinic("C09", "武侯新店", "武侯区", None, None))
    chain = Chain([Patient("wuhou", district="武侯区"), Patient("gaoxin", district="高新区"),
                   Patient("shuangliu", district="双流区"), Patient("elsewhere", district="外省某区")],
                  clinics=clinics).build(warehouse)
    tags = tag_values(warehouse, "distance_to_clinic_km", "district")
    # 武侯区 → C01: Δlat 0.015° (1.67 km), Δlon 0.040° × cos 30.65° (3.83 km) → 4.17 km; C02 is 10.4 km
    assert _haversine_km(30.642, 104.043, 30.657, 104.083) == pytest.approx(4.17, abs=0.01)
    assert tags.num(chain["wuhou"], "distance_to_clinic_km") == 4.2
    assert tags.evidence(chain["wuhou"], "distance_to_clinic_km") == {"district": "武侯区", "nearest_clinic": "C01"}
    # 高新区 → C02: Δlat 0.036° (4.00 km), Δlon 0.002° (0.19 km) → 4.01 km; C01 is 8.1 km
    assert _haversine_km(30.586, 104.062, 30.55, 104.06) == pytest.approx(4.01, abs=0.01)
    assert tags.num(chain["gaoxin"], "distance_to_clinic_km") == 4.0
    assert tags.evidence(chain["gaoxin"], "distance_to_clinic_km")["nearest_clinic"] == "C02"
    assert tags.num(chain["shuangliu"], "distance_to_clinic_km") == 0.0
    assert tags.evidence(chain["shuangliu"], "distance_to_clinic_km")["nearest_clinic"] == "C03"
    assert not tags.has(chain["elsewhere"], "distance_to_clinic_km")


# ----------------------------------------------------------------------------- health


def test_caries_risk_points(warehouse):
    child = years_before(AS_OF, 8)
    chain = Chain([
        # 3 fillings within 3 years (2 points) + a child with no sealant/fluoride (1) → 3 → high
        Patient("child_fillings", birth=child, visits=[
            Visit(ago(100), ["FILL"]), Visit(ago(400), ["FILL"]), Visit(ago(800), ["FILL"])]),
        # the same fillings 4 years ago do not count: only the unprotected child point → medium
        Patient("child_old_fillings", birth=child, visits=[
            Visit(ago(1460), ["FILL"]), Visit(ago(1470), ["FILL"]), Visit(ago(1480), ["FILL"])]),
        # an adult with those old fillings and a recent check-up: 0 points → low
        Patient("adult_old_fillings", visits=[
            Visit(ago(1460), ["FILL", "FILL", "FILL"]), Visit(ago(30), ["CHK"])]),
        # a sealed child without restorations: 0 → low
        Patient("child_sealed", birth=child, visits=[Visit(ago(300), ["SEAL"], "窝沟封闭")]),
        # one root canal (1) + a caries diagnosis within 2 years (1) → 2 → medium
        Patient("rct_and_dx", visits=[Visit(ago(365), ["RCT"], "深龋(36)")]),
        # three restoration lines in one visit (2) + caries diagnosis (1) → 3 → high
        Patient("three_lines", visits=[Visit(ago(200), ["FILL", "RCT", "CRN"], "中龋(26)")]),
        # a diagnosis that mentions prevention is not a caries diagnosis: 0 → low
        Patient("prevention_dx", visits=[Visit(ago(100), ["CHK"], "窝沟龋预防")]),
        # 3 years to the day is outside the window; the day after is inside
        Patient("on_3y_edge", visits=[Visit(date(2023, 10, 31), ["FILL", "FILL", "FILL"])]),
        Patient("inside_3y_edge", visits=[Visit(date(2023, 11, 1), ["FILL", "FILL", "FILL"])]),
        # brushing: mean of the last 30 days only (80 s < 90 → 1 point); 30 days ago is outside
        Patient("short_brusher", visits=[Visit(ago(60), ["CHK"])],
                brushing=[Brush(ago(1), 80), Brush(ago(2), 70), Brush(ago(29), 90), Brush(ago(30), 900)]),
        Patient("good_brusher", brushing=[Brush(ago(1), 240), Brush(ago(2), 200)]),
        Patient("no_treatments", visits=[Visit(ago(10), [], "口腔检查")]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "caries_risk")
    expected = {
        "child_fillings": ("high", 3), "child_old_fillings": ("medium", 1), "adult_old_fillings": ("low", 0),
        "child_sealed": ("low", 0), "rct_and_dx": ("medium", 2), "three_lines": ("high", 3),
        "prevention_dx": ("low", 0), "on_3y_edge": ("low", 0), "inside_3y_edge": ("medium", 2),
        "short_brusher": ("medium", 1), "good_brusher": ("low", 0),
    }
    got = {k: (tags.value(chain[k], "caries_risk"), tags.evidence(chain[k], "caries_risk")["points"]) for k in expected}
    assert got == expected
    assert tags.evidence(chain["child_fillings"], "caries_risk") == {
        "points": 3, "restorations_3y": 3, "caries_diagnoses_2y": 0,
        "child_without_sealant_or_fluoride": True, "brushing_seconds_per_day_30d": None,
    }
    assert tags.evidence(chain["short_brusher"], "caries_risk")["brushing_seconds_per_day_30d"] == 80.0
    # visits without treatment lines or telemetry: nothing to judge caries risk on
    assert not tags.has(chain["no_treatments"], "caries_risk")


def test_caries_risk_fluoride_prevention_is_not_a_caries_diagnosis(warehouse):
    # The synthetic HIS writes 涂氟防龋 for every FLUO treatment (synth/his.py DIAGNOSES).
    chain = Chain([Patient("fluoride_child", birth=years_before(AS_OF, 6),
                           visits=[Visit(ago(90), ["FLUO"], "涂氟防龋")])]).build(warehouse)
    tags = tag_values(warehouse, "caries_risk")
    assert tags.evidence(chain["fluoride_child"], "caries_risk")["caries_diagnoses_2y"] == 0
    assert tags.value(chain["fluoride_child"], "caries_risk") == "low"


def test_periodontal_risk_points(warehouse):
    plaque = lambda value: [Brush(ago(d), 240, value) for d in (1, 5, 10)]  # noqa: E731
    chain = Chain([
        # cleaning 600 days ago (gap) + plaque 1.6 + 牙龈 in a consult this year → 3 → high
        Patient("gap_plaque_words", visits=[Visit(ago(600), ["CLN"])], brushing=plaque(1.6),
                texts=[Text(at(ago(200)), "doubt", "最近刷牙牙龈出血，要紧吗")]),
        # gap + plaque exactly 1.5 → 2 → medium
        Patient("gap_plaque", visits=[Visit(ago(600), ["CLN"])], brushing=plaque(1.5)),
        # cleaned 540 days ago is not a gap (over 540 is): plaque only → 1 → low
        Patient("cleaned_540", visits=[Visit(ago(540), ["CLN"])], brushing=plaque(1.5)),
        Patient("cleaned_541", visits=[Visit(ago(541), ["CLN"])], brushing=plaque(1.5)),
        # recent cleaning, gum words more than a year ago, plaque 1.4 → 0 → low
        Patient("old_words", visits=[Visit(ago(100), ["CLN"])], brushing=plaque(1.4),
                texts=[Text(at(ago(400)), "doubt", "牙龈有点肿")]),
        # periodontal therapy + gum diagnosis + never cleaned → 3 → high
        Patient("perio_never_cleaned", visits=[Visit(ago(700), ["PERIO"], "慢性牙周炎")]),
        # only a consult about bleeding gums (no treatments, no brush) → 1 → low
        Patient("words_only", texts=[Text(at(ago(10)), "doubt", "刷牙出血怎么办")]),
        # only a toothbrush with a high plaque index → 1 → low
        Patient("plaque_only", brushing=plaque(2.0)),
    ]).build(warehouse)
    tags = tag_values(warehouse, "periodontal_risk")
    expected = {
        "gap_plaque_words": ("high", 3), "gap_plaque": ("medium", 2), "cleaned_540": ("low", 1),
        "cleaned_541": ("medium", 2), "old_words": ("low", 0), "perio_never_cleaned": ("high", 3),
        "words_only": ("low", 1), "plaque_only": ("low", 1),
    }
    got = {k: (tags.value(chain[k], "periodontal_risk"), tags.evidence(chain[k], "periodontal_risk")["points"])
           for k in expected}
    assert got == expected
    assert tags.evidence(chain["gap_plaque_words"], "periodontal_risk") == {
        "points": 3, "periodontal_therapy_3y": 0, "gum_diagnoses_2y": 0, "last_cleaning": str(ago(600)),
        "cleaning_gap_over_540_days": True, "gum_words_in_consults_1y": 1, "plaque_index_30d": 1.6,
    }
    ev = tags.evidence(chain["perio_never_cleaned"], "periodontal_risk")
    assert (ev["periodontal_therapy_3y"], ev["gum_diagnoses_2y"], ev["last_cleaning"]) == (1, 1, None)


ORTHO_CASES = [
    ("牙列不齐", "mild"), ("牙列稀疏", "mild"), ("安氏I类错颌", "mild"),
    ("牙列拥挤", "moderate"), ("深覆合", "moderate"), ("上前牙前突", "moderate"),
    ("反颌", "severe"), ("地包天", "severe"), ("安氏II类错颌", "severe"), ("安氏Ⅲ类错𬌗", "severe"),
    ("牙列轻度拥挤", "mild"), ("牙列中度不齐", "moderate"), ("牙列重度拥挤", "severe"),
    ("四环素牙(轻度)", "none"), ("慢性牙周炎", "none"),
]


def test_ortho_need_grade_by_diagnosis_family(warehouse):
    patients = [Patient(f"dx{i}", visits=[Visit(ago(200), ["CHK"], dx)]) for i, (dx, _) in enumerate(ORTHO_CASES)]
    patients += [
        # the latest malocclusion diagnosis wins
        Patient("latest", visits=[Visit(ago(700), ["CHK"], "反颌"), Visit(ago(100), ["CHK"], "牙列不齐"),
                                  Visit(ago(50), ["CLN"], "牙石(+)")]),
        # a diagnosis older than 3 years is forgotten
        Patient("old_dx", visits=[Visit(ago(1200), ["CHK"], "牙列拥挤"), Visit(ago(30), ["CHK"])]),
        # brackets a year ago and a follow-up 60 days ago: in treatment
        Patient("active", visits=[Visit(ago(365), ["ORTHO"], "牙列拥挤"), Visit(ago(60), ["ORTHF"], "正畸复诊")]),
        # last orthodontic visit 200 days ago: no longer active, graded by the diagnosis
        Patient("stopped", visits=[Visit(ago(365), ["ORTHO"], "牙列拥挤"), Visit(ago(200), ["ORTHF"], "正畸复诊")]),
        # aligners started 4 years ago: not an active course even with a recent follow-up
        Patient("long_ago", visits=[Visit(ago(1460), ["ALIGN"], "牙列稀疏"), Visit(ago(30), ["ORTHF"], "保持器复查")]),
    ]
    chain = Chain(patients).build(warehouse)
    tags = tag_values(warehouse, "ortho_need_grade")
    got = {dx: tags.value(chain[f"dx{i}"], "ortho_need_grade") for i, (dx, _) in enumerate(ORTHO_CASES)}
    assert got == dict(ORTHO_CASES)
    assert tags.value(chain["latest"], "ortho_need_grade") == "mild"
    assert tags.evidence(chain["latest"], "ortho_need_grade") == {
        "diagnosis": "牙列不齐", "diagnosed_on": str(ago(100)), "orthodontics_active": False}
    assert tags.value(chain["old_dx"], "ortho_need_grade") == "none"
    assert tags.value(chain["active"], "ortho_need_grade") == "in_treatment"
    assert tags.value(chain["stopped"], "ortho_need_grade") == "moderate"
    assert tags.value(chain["long_ago"], "ortho_need_grade") == "none"


def test_ortho_need_grade_bare_angle_class(warehouse):
    chain = Chain([Patient("class2", visits=[Visit(ago(100), ["CHK"], "安氏II类1分类")]),
                   Patient("class1", visits=[Visit(ago(100), ["CHK"], "安氏I类")])]).build(warehouse)
    tags = tag_values(warehouse, "ortho_need_grade")
    assert tags.value(chain["class2"], "ortho_need_grade") == "severe"
    assert tags.value(chain["class1"], "ortho_need_grade") == "mild"


def test_active_treatment_plan(warehouse):
    chain = Chain([
        Patient("implant_no_crown", visits=[Visit(ago(100), ["IMP"])]),
        Patient("implant_then_crown", visits=[Visit(ago(100), ["IMP"]), Visit(ago(20), ["CRN"])]),
        Patient("old_crown_new_implant", visits=[Visit(ago(700), ["CRN"]), Visit(ago(100), ["IMP"])]),
        Patient("implant_179", visits=[Visit(ago(179), ["IMP"])]),
        Patient("implant_180", visits=[Visit(ago(180), ["IMP"])]),
        Patient("ortho", visits=[Visit(ago(365), ["ORTHO"]), Visit(ago(60), ["ORTHF"])]),
        Patient("ortho_lapsed", visits=[Visit(ago(365), ["ORTHO"]), Visit(ago(200), ["ORTHF"])]),
        Patient("aligners_4y", visits=[Visit(ago(1460), ["ALIGN"]), Visit(ago(30), ["ORTHF"])]),
        Patient("implant_and_ortho", visits=[Visit(ago(365), ["ALIGN"]), Visit(ago(30), ["ORTHF"]),
                                             Visit(ago(50), ["IMP"])]),
        Patient("cleaning", visits=[Visit(ago(30), ["CLN"])]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "active_treatment_plan")
    got = {p.key: tags.value(p.golden_id, "active_treatment_plan") for p in chain.patients}
    assert got == {
        "implant_no_crown": "implant_healing", "implant_then_crown": "none", "old_crown_new_implant": "implant_healing",
        "implant_179": "implant_healing", "implant_180": "none", "ortho": "ortho_in_progress",
        "ortho_lapsed": "none", "aligners_4y": "none", "implant_and_ortho": "implant_healing", "cleaning": "none",
    }
    assert tags.evidence(chain["implant_then_crown"], "active_treatment_plan") == {
        "ortho_started": None, "last_ortho_visit": None, "implant_on": str(ago(100)), "crown_on": str(ago(20))}


def test_recall_status_boundaries(warehouse):
    chain = Chain([
        Patient("d149", visits=[Visit(ago(149), ["CLN"])]),
        Patient("d150", visits=[Visit(ago(150), ["CLN"])]),
        Patient("d210", visits=[Visit(ago(210), ["CHK"])]),
        Patient("d211", visits=[Visit(ago(211), ["CHK"])]),
        # the latest of cleaning/check-up counts; other treatments do not
        Patient("latest", visits=[Visit(ago(400), ["CLN"]), Visit(ago(20), ["CHK"]), Visit(ago(5), ["FILL"])]),
        Patient("never", visits=[Visit(ago(20), ["FILL"])]),
        Patient("no_treatments", visits=[Visit(ago(20))]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "recall_status")
    got = {p.key: tags.value(p.golden_id, "recall_status") for p in chain.patients}
    assert got == {"d149": "not_due", "d150": "due", "d210": "due", "d211": "overdue",
                   "latest": "not_due", "never": "never", "no_treatments": None}
    assert tags.evidence(chain["d211"], "recall_status") == {"last_cleaning_or_checkup": str(ago(211)), "days_since": 211}


# ----------------------------------------------------------------------------- consumption


def test_order_value_and_spend_over_24_months(warehouse):
    # as_of − 24 months = 2024-10-31 (outside, the window is "after"); 2024-11-01 is inside.
    chain = Chain([Patient("payer", charges=[
        Charge(ago(10), 300), Charge(ago(400), 500), Charge(date(2024, 11, 1), 1000),
        Charge(date(2024, 10, 31), 7000), Charge(date(2024, 9, 30), 800)]),   # 24 and 25 months ago: out
        Patient("old_payer", charges=[Charge(date(2024, 9, 30), 800)]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "avg_order_value", "total_spend_24m")
    g = chain["payer"]
    assert tags.num(g, "avg_order_value") == 600.0
    assert tags.num(g, "total_spend_24m") == 1800.0
    assert tags.value(g, "total_spend_24m") == "1800.00"
    assert tags.evidence(g, "avg_order_value") == {"charges_24m": 3, "spend_24m": 1800.0}
    assert tags.evidence(g, "total_spend_24m") == {
        "charges_24m": 3, "first_charge": "2024-11-01", "last_charge": str(ago(10))}
    assert not tags.has(chain["old_payer"], "avg_order_value")
    assert not tags.has(chain["old_payer"], "total_spend_24m")


def test_visit_frequency(warehouse):
    chain = Chain([
        # 4 visit days, the first 700 days ago: 4 / (700 / 365.25) = 2.087
        Patient("regular", visits=[Visit(ago(700)), Visit(ago(500)), Visit(ago(300)), Visit(ago(100)),
                                   Visit(ago(100), ["CLN"])]),  # same day twice counts once
        # one visit 10 days ago: at least half a year → 1 / 0.5
        Patient("new", visits=[Visit(ago(10))]),
        # 2 visit days over 250 days: 2 / 0.6845 = 2.922
        Patient("two", visits=[Visit(ago(250)), Visit(ago(20))]),
        # the visit exactly 24 months (730 days) ago is outside the window but starts the
        # patient's history: 3 visit days / (730 / 365.25) = 1.501
        Patient("three", visits=[Visit(ago(730)), Visit(ago(500)), Visit(ago(300)), Visit(ago(5))]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "visit_frequency")
    got = {p.key: tags.num(p.golden_id, "visit_frequency") for p in chain.patients}
    assert got == {"regular": 2.09, "new": 2.0, "two": 2.92, "three": 1.5}
    assert tags.evidence(chain["regular"], "visit_frequency") == {"visit_days_24m": 4, "first_visit": str(ago(700))}


def test_visit_frequency_of_a_long_standing_patient(warehouse):
    chain = Chain([Patient("loyal", visits=[Visit(ago(1500)), Visit(ago(1300)), Visit(ago(10))])]).build(warehouse)
    tags = tag_values(warehouse, "visit_frequency")
    # one visit day in the last 24 months; the patient has been coming for over 2 years → 1 / 2.0
    assert tags.num(chain["loyal"], "visit_frequency") == 0.5


PACKAGES = [("洁牙年卡(剩余2次)", "cleaning_pass"), ("家庭口腔护理套餐", "family_plan"), ("儿童涂氟套餐", "children_plan"),
            ("种植牙关爱卡", "implant_care"), ("正畸保障计划", "other_package"), (None, "card_only"), ("", "card_only")]


def test_package_preference(warehouse):
    patients = [Patient(f"pkg{i}", cards=[Card("silver", text)]) for i, (text, _) in enumerate(PACKAGES)]
    patients += [
        Patient("no_card", visits=[Visit(ago(30), ["CHK"])]),
        # the newest card's package counts
        Patient("two_cards", cards=[Card("gold", "洁牙年卡(剩余1次)", opened_on=date(2023, 3, 1)),
                                    Card("gold", "种植牙关爱卡", opened_on=date(2025, 6, 1))]),
        Patient("nothing"),  # no visit, no card: no tag
    ]
    chain = Chain(patients).build(warehouse)
    tags = tag_values(warehouse, "package_preference")
    got = {text: tags.value(chain[f"pkg{i}"], "package_preference") for i, (text, _) in enumerate(PACKAGES)}
    assert got == dict(PACKAGES)
    assert tags.value(chain["no_card"], "package_preference") == "pay_per_visit"
    assert tags.value(chain["two_cards"], "package_preference") == "implant_care"
    assert tags.evidence(chain["two_cards"], "package_preference") == {"package": "种植牙关爱卡", "card_level": "gold"}
    assert not tags.has(chain["nothing"], "package_preference")


def test_membership_level_is_the_highest_card(warehouse):
    chain = Chain([
        Patient("gold", cards=[Card("regular", balance=100, points=10), Card("gold", balance=50, points=5),
                               Card("silver")]),
        Patient("platinum", cards=[Card("platinum"), Card("regular")]),
        Patient("regular", cards=[Card("regular")]),
        Patient("no_level", cards=[Card(None)]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "membership_level")
    assert tags.value(chain["gold"], "membership_level") == "gold"
    assert tags.evidence(chain["gold"], "membership_level") == {"cards": 3, "balance_yuan": 150.0, "points": 15}
    assert tags.value(chain["platinum"], "membership_level") == "platinum"
    assert tags.value(chain["regular"], "membership_level") == "regular"
    assert not tags.has(chain["no_level"], "membership_level")


def test_price_sensitivity(warehouse):
    ten = lambda coupons: [Charge(ago(20 * i + 5), 300, coupon=f"CP{i}" if i < coupons else None)  # noqa: E731
                           for i in range(10)]
    chain = Chain([
        Patient("none", charges=ten(0)),                                    # low
        Patient("one_in_ten", charges=ten(1)),                              # 10% and 1 coupon → medium
        Patient("three_in_ten", charges=ten(3)),                            # 30% → high
        Patient("one_in_three", charges=[Charge(ago(5), 300, coupon="CPX"), Charge(ago(50), 300),
                                         Charge(ago(90), 300)]),           # 33% → high
        Patient("app_coupons", charges=ten(0), events=[                     # 2 coupons used in the app → high
            Event("coupon_used", at(ago(40)), coupon="CPA"), Event("coupon_used", at(ago(80)), coupon="CPB")]),
        Patient("old_coupons", charges=[Charge(ago(800), 300, coupon="CPO")] + ten(0),
                events=[Event("coupon_used", at(ago(800)), coupon="CPQ")]),  # outside 24 months → low
        Patient("app_only", events=[Event("coupon_used", at(ago(10)), coupon="CPZ")]),  # no charges → medium
    ]).build(warehouse)
    tags = tag_values(warehouse, "price_sensitivity")
    got = {p.key: tags.value(p.golden_id, "price_sensitivity") for p in chain.patients}
    assert got == {"none": "low", "one_in_ten": "medium", "three_in_ten": "high", "one_in_three": "high",
                   "app_coupons": "high", "old_coupons": "low", "app_only": "medium"}
    assert tags.evidence(chain["app_coupons"], "price_sensitivity") == {
        "charges_24m": 10, "charges_with_coupon": 0, "distinct_coupons_used": 2}


def test_price_sensitivity_counts_one_redeemed_coupon_once(warehouse):
    charges = [Charge(ago(20 * i + 5), 300, coupon="CP202609A" if i == 0 else None) for i in range(10)]
    chain = Chain([Patient("once", charges=charges,
                           events=[Event("coupon_used", at(ago(5), 11), coupon="CP202609A")])]).build(warehouse)
    tags = tag_values(warehouse, "price_sensitivity")
    # one coupon on one of ten charges (10 %): "any coupon → medium"
    assert tags.value(chain["once"], "price_sensitivity") == "medium"


def test_outstanding_balance(warehouse):
    chain = Chain([
        Patient("owes", charges=[Charge(ago(10), 1000, paid=600), Charge(ago(20), 500, paid=None),
                                 Charge(ago(30), 300, paid=300), Charge(ago(40), 200, paid=250),
                                 Charge(ago(900), 150, paid=0)]),   # all history, not only 24 months
        Patient("paid_up", charges=[Charge(ago(10), 1000)]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "outstanding_balance_yuan")
    assert tags.num(chain["owes"], "outstanding_balance_yuan") == 550.0
    assert tags.evidence(chain["owes"], "outstanding_balance_yuan") == {"unpaid_charges": 2}
    assert tags.value(chain["paid_up"], "outstanding_balance_yuan") == "0.00"


# ----------------------------------------------------------------------------- channel


def test_online_booking_ratio(warehouse):
    chain = Chain([
        Patient("mixed", bookings=[Booking(at(ago(10)), "online"), Booking(at(ago(100)), "app"),
                                   Booking(at(ago(200)), "wechat"), Booking(at(ago(300)), "phone"),
                                   Booking(at(ago(50)), None),            # channel unknown: not counted
                                   Booking(at(ago(760)), "phone")]),      # 25 months ago: outside
        Patient("walk_in", bookings=[Booking(at(ago(10)), "walk_in")]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "online_booking_ratio")
    assert tags.num(chain["mixed"], "online_booking_ratio") == 0.75
    assert tags.evidence(chain["mixed"], "online_booking_ratio") == {"bookings_24m": 4, "online": 3}
    assert tags.num(chain["walk_in"], "online_booking_ratio") == 0.0


def test_preferred_channel_tie_goes_to_the_most_recent(warehouse):
    chain = Chain([
        Patient("tie_wechat_latest", bookings=[Booking(at(ago(300)), "phone"), Booking(at(ago(200)), "phone"),
                                               Booking(at(ago(250)), "wechat"), Booking(at(ago(100)), "wechat")]),
        Patient("tie_phone_latest", bookings=[Booking(at(ago(300)), "phone"), Booking(at(ago(50)), "phone"),
                                              Booking(at(ago(250)), "wechat"), Booking(at(ago(100)), "wechat")]),
        Patient("most_used", bookings=[Booking(at(ago(300)), "phone"), Booking(at(ago(290)), "phone"),
                                       Booking(at(ago(280)), "phone"), Booking(at(ago(20)), "app"),
                                       Booking(at(ago(10)), "app")]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "preferred_channel")
    assert tags.value(chain["tie_wechat_latest"], "preferred_channel") == "wechat"
    assert tags.value(chain["tie_phone_latest"], "preferred_channel") == "phone"
    assert tags.value(chain["most_used"], "preferred_channel") == "phone"
    assert tags.evidence(chain["most_used"], "preferred_channel") == {"phone": 3, "app": 2}


def test_service_contacts_count_consults_of_the_last_year(warehouse):
    chain = Chain([Patient("asker", texts=[
        Text(at(ago(5)), "neutral"), Text(at(ago(100)), "doubt"), Text(at(ago(364)), "neutral"),
        Text(at(ago(400)), "neutral"),                      # over a year ago
        Text(at(ago(3)), "satisfied", "医生很好", kind="review"),  # a review is not a contact
    ])]).build(warehouse)
    tags = tag_values(warehouse, "service_contact_frequency")
    assert tags.num(chain["asker"], "service_contact_frequency") == 3
    assert tags.evidence(chain["asker"], "service_contact_frequency") == {"last_contact": f"{ago(5)} 10:00:00"}


def test_no_show_rate(warehouse):
    chain = Chain([Patient("flaky", bookings=[
        Booking(at(ago(10)), status="arrived"), Booking(at(ago(100)), status="arrived"),
        Booking(at(ago(200)), status="arrived"), Booking(at(ago(300)), status="no_show"),
        Booking(at(ago(50)), status="cancelled"),                       # neither arrived nor missed
        Booking(at(ago(800)), status="no_show"),                        # over 24 months ago
        # booked before as_of for next week; its outcome (no-show) is not known yet on as_of
        Booking(at(AS_OF + timedelta(days=5)), status="no_show", booked_at=at(ago(3))),
    ])]).build(warehouse)
    tags = tag_values(warehouse, "no_show_rate")
    assert tags.num(chain["flaky"], "no_show_rate") == 0.25
    assert tags.evidence(chain["flaky"], "no_show_rate") == {"no_shows": 1, "arrived": 3}


# ----------------------------------------------------------------------------- social


def test_article_shares_of_the_last_year(warehouse):
    chain = Chain([Patient("sharer", events=[
        Event("share", at(ago(1)), article="a1"), Event("share", at(ago(30)), article="a1"),
        Event("share", at(ago(300)), article="a2"), Event("share", at(ago(400)), article="a3"),
        Event("article_read", at(ago(2)), article="a4")])]).build(warehouse)
    tags = tag_values(warehouse, "article_shares_365d")
    assert tags.num(chain["sharer"], "article_shares_365d") == 3
    assert tags.evidence(chain["sharer"], "article_shares_365d") == {"distinct_articles": 2}


def _referral_chain() -> list[Patient]:
    # A referred B, B referred C, C referred D (the referred person's event names the referrer).
    return [
        Patient("A"),
        Patient("B", events=[Event("referral", at(ago(300)), referrer="A"),
                             Event("referral", at(ago(290)), referrer="A")]),  # recorded twice: one person
        Patient("C", events=[Event("referral", at(ago(200)), referrer="B")]),
        Patient("D", events=[Event("referral", at(ago(100)), referrer="C")]),
    ]


def test_referrals_made_and_reach_through_three_levels(warehouse):
    chain = Chain(_referral_chain()).build(warehouse)
    tags = tag_values(warehouse, "referrals_made", "referral_reach")
    made = {k: tags.num(chain[k], "referrals_made") for k in "ABCD"}
    reach = {k: tags.num(chain[k], "referral_reach") for k in "ABCD"}
    assert made == {"A": 1, "B": 1, "C": 1, "D": None}
    assert reach == {"A": 3, "B": 2, "C": 1, "D": None}
    assert tags.evidence(chain["A"], "referral_reach") == {"direct": 1, "deepest_level": 3}
    assert tags.evidence(chain["A"], "referrals_made") == {"last_referral": f"{ago(290)} 10:00:00"}


def test_opinion_leader(warehouse):
    chain = Chain([
        *_referral_chain(),
        Patient("E", events=[Event("share", at(ago(d)), article="a") for d in (1, 50, 100, 300)]),   # 4 shares
        Patient("F", events=[Event("share", at(ago(d)), article="a") for d in (1, 50, 100, 400)]),   # 3 this year
    ]).build(warehouse)
    tags = tag_values(warehouse, "opinion_leader")
    got = {k: tags.value(chain[k], "opinion_leader") for k in "ABCDEF"}
    # A reaches B and C within two levels, B reaches C and D, C only D
    assert got == {"A": "true", "B": "true", "C": "false", "D": None, "E": "true", "F": "false"}
    assert tags.num(chain["A"], "opinion_leader") == 1.0
    assert tags.evidence(chain["A"], "opinion_leader") == {"shares_365d": 0, "referrals": 1, "reach_two_levels": 2}
    assert tags.evidence(chain["F"], "opinion_leader") == {"shares_365d": 3, "referrals": 0, "reach_two_levels": 0}


def test_opinion_leader_ignores_self_referral(warehouse):
    chain = Chain([
        Patient("X", events=[Event("referral", at(ago(50)), referrer="X")]),   # X scanned their own code
        Patient("Y", events=[Event("referral", at(ago(40)), referrer="X")]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "referrals_made", "referral_reach", "opinion_leader")
    assert tags.num(chain["X"], "referrals_made") == 1
    assert tags.num(chain["X"], "referral_reach") == 1
    assert tags.value(chain["X"], "opinion_leader") == "false"


# ----------------------------------------------------------------------------- experience


def test_latest_sentiment(warehouse):
    chain = Chain([
        Patient("pleased", texts=[Text(at(ago(50)), "doubt"), Text(at(ago(10)), "satisfied", "很满意", kind="review"),
                                  Text(at(ago(30)), "complaint", "等太久了")]),
        Patient("silent"),
    ]).build(warehouse)
    tags = tag_values(warehouse, "latest_sentiment")
    assert tags.value(chain["pleased"], "latest_sentiment") == "satisfied"
    assert tags.evidence(chain["pleased"], "latest_sentiment") == {
        "last_text_at": f"{ago(10)} 00:00:00", "kind": "review", "text_id": "RV-pleased-2"}
    assert not tags.has(chain["silent"], "latest_sentiment")


def test_complaints_in_90_days(warehouse):
    chain = Chain([
        Patient("unhappy", texts=[Text(at(ago(89)), "complaint", "收费不透明"), Text(at(ago(91)), "complaint", "态度差"),
                                  Text(at(ago(5)), "doubt")]),
        Patient("happy", texts=[Text(at(ago(5)), "satisfied")]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "complaints_90d")
    assert tags.num(chain["unhappy"], "complaints_90d") == 1
    assert tags.evidence(chain["unhappy"], "complaints_90d") == {
        "texts_90d": 2, "last_complaint": f"{ago(89)} 10:00:00"}
    assert tags.num(chain["happy"], "complaints_90d") == 0


def test_sentiment_trend(warehouse):
    recent, earlier = at(ago(30)), at(ago(250))   # last 180 days / the 180 days before
    chain = Chain([
        Patient("improving", texts=[Text(earlier, "complaint"), Text(recent, "satisfied")]),          # +2
        Patient("worsening", texts=[Text(earlier, "satisfied"), Text(recent, "doubt")]),              # -1.5
        Patient("stable", texts=[Text(earlier, "satisfied"), Text(recent, "satisfied")]),             # 0
        Patient("edge_up", texts=[Text(earlier, "doubt"), Text(recent, "neutral")]),                  # +0.5
        Patient("small_drop", texts=[Text(earlier, "satisfied"), Text(earlier, "neutral"),
                                     Text(recent, "neutral"), Text(recent, "satisfied"),
                                     Text(recent, "neutral")]),                                      # 1/3 − 1/2
        Patient("new", texts=[Text(recent, "complaint")]),
        Patient("quiet_lately", texts=[Text(earlier, "complaint")]),
        Patient("ancient", texts=[Text(at(ago(400)), "complaint")]),                                  # > 360 days
    ]).build(warehouse)
    tags = tag_values(warehouse, "sentiment_trend")
    got = {p.key: tags.value(p.golden_id, "sentiment_trend") for p in chain.patients}
    assert got == {"improving": "improving", "worsening": "worsening", "stable": "stable", "edge_up": "improving",
                   "small_drop": "stable", "new": "new", "quiet_lately": "stable", "ancient": None}
    assert tags.evidence(chain["worsening"], "sentiment_trend") == {"recent_180d": -0.5, "previous_180d": 1.0}


# ----------------------------------------------------------------------------- as_of


def _rich_patient(extra: bool) -> Patient:
    """A patient with a bit of everything; ``extra`` adds one of everything on the day after AS_OF."""
    p = Patient(
        "rich", birth=years_before(AS_OF, 40), district="武侯区",
        visits=[Visit(ago(400), ["CLN"], "牙石(+)", amount=280), Visit(ago(200), ["FILL"], "中龋(36)", amount=400),
                Visit(ago(100), ["IMP"], "36缺失", amount=12000)],
        charges=[Charge(ago(50), 1000, paid=500, coupon="CP1")],
        bookings=[Booking(at(ago(100)), "wechat"), Booking(at(ago(200)), "phone", status="no_show")],
        cards=[Card("silver", "洁牙年卡(剩余1次)", opened_on=ago(500))],
        events=[Event("share", at(ago(20)), article="a1"), Event("coupon_used", at(ago(50)), coupon="CP1")],
        brushing=[Brush(ago(d), 100, 1.0) for d in (1, 2, 3)],
        texts=[Text(at(ago(250)), "satisfied", "很好"), Text(at(ago(40)), "doubt", "种植牙多久能戴牙")],
    )
    if extra:
        tomorrow = AS_OF + timedelta(days=1)
        p.visits.append(Visit(tomorrow, ["CRN", "CLN", "ORTHO"], "反颌 深龋 牙周炎", amount=5000))
        p.charges.append(Charge(tomorrow, 9000, paid=0, coupon="CP2"))
        p.bookings.append(Booking(at(tomorrow), "app", status="no_show", booked_at=at(tomorrow, 8)))
        p.cards.append(Card("platinum", "家庭口腔护理套餐", opened_on=tomorrow))
        p.events += [Event("share", at(tomorrow), article="a2"), Event("coupon_used", at(tomorrow), coupon="CP2")]
        p.brushing.append(Brush(tomorrow, 10, 2.9))
        p.texts.append(Text(at(tomorrow, 0, 0), "complaint", "牙龈出血，我要投诉"))
    return p


def test_nothing_after_as_of_is_visible(tmp_path):
    results = []
    for extra in (False, True):
        engine = new_warehouse(tmp_path / f"w{int(extra)}.duckdb")
        try:
            referred = Patient("friend", events=[Event("referral", at(AS_OF + timedelta(days=1)), referrer="rich")])
            Chain([_rich_patient(extra)] + ([referred] if extra else [Patient("friend")])).build(engine)
            run_profile(engine)
            values = published(engine)
            results.append({k: (v[0], v[2]) for k, v in values.rows.items()})
        finally:
            engine.close()
    before, with_tomorrow = results
    assert with_tomorrow == before
    # and the rich patient did get a full profile, so the comparison means something
    g = Chain([_rich_patient(False)])["rich"]
    assert len([k for (gid, k) in before if gid == g]) >= 25
