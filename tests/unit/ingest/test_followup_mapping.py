"""The nursing follow-up exports load into std.postop_case / std.postop_check; bad rows are quarantined
with a reason, and rows in = rows loaded + rows quarantined."""

from __future__ import annotations

from molar.ingest import ingest_paths
from support import TODAY

CASES = """随访编号,病历号,就诊号,门店,医生,手术日期,手术类型,牙位,难度,吸烟,糖尿病,并发症,并发症日期
SH1,BL1,MZ1,锦江口腔门诊部,李敏,2026-09-01,智齿拔除术,38,复杂,是,否,干槽症,2026-09-04
SH2,BL2,MZ2,锦江口腔门诊部,李敏,2026-09-02,种植体植入术,36,中等,否,是,,
SH3,BL3,MZ3,锦江口腔门诊部,李敏,2026-09-03,激光美白,11,简单,否,否,,
SH4,BL4,MZ4,锦江口腔门诊部,李敏,2026-13-01,拔牙术,45,简单,否,否,,
"""
CHECKS = """随访编号,随访日,随访日期,疼痛评分,肿胀,出血,发热,遵医嘱
SH1,1,2026-09-02,4,轻度,否,否,好
SH1,3,2026-09-04,8,中度,否,是,差
SH2,1,2026-09-03,12,无,否,否,好
SH2,3,2026-09-05,2,无,否,否,一般
"""


def test_followup_exports_load_and_bad_rows_are_quarantined(reference, write):
    results = ingest_paths(reference, [write("followup/postop_cases.csv", CASES, "utf-8"),
                                       write("followup/postop_checks.csv", CHECKS, "utf-8")], today=TODAY)
    assert [(r.rows_loaded, r.rows_quarantined) for r in results] == [(2, 2), (3, 1)]
    case = reference.rows("SELECT case_id, source, source_patient_key, clinic_id, doctor_id, surgery_on::VARCHAR, "
                          "procedure, difficulty, smoker, diabetic, complication, complication_on::VARCHAR "
                          "FROM std.postop_case ORDER BY case_id")
    assert case == [("SH1", "his", "BL1", "C01", "D002", "2026-09-01", "wisdom_extraction", "complex", "yes", "no",
                     "dry_socket", "2026-09-04"),
                    ("SH2", "his", "BL2", "C01", "D002", "2026-09-02", "implant", "moderate", "no", "yes", None, None)]
    checks = reference.rows("SELECT case_id, check_day, pain, swelling, fever, adherence FROM std.postop_check "
                            "ORDER BY case_id, check_day")
    assert checks == [("SH1", 1, 4, "mild", "no", "good"), ("SH1", 3, 8, "moderate", "yes", "poor"),
                      ("SH2", 3, 2, "none", "no", "fair")]
    # row numbers are the file's line numbers (the header is line 1)
    reasons = reference.rows("SELECT row_number, field, reason_zh IS NOT NULL AND reason_en IS NOT NULL "
                             "FROM quarantine.issue WHERE severity = 'error' ORDER BY file_path, row_number")
    assert reasons == [(4, "手术类型", True), (5, "手术日期", True), (4, "疼痛评分", True)]
