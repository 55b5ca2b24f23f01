"""Post-op features per surgery, at two moments: at surgery (intake, the patient's history, the
surgeon) and at day 3 (adds the check calls made by the end of day 3).

Every feature is anchored on its surgery's own date: history, telemetry and complications
before the surgery; checks dated no later than the score day (``checked_on <= surgery_on +
score_day``, whatever day the call was planned for). A check after that moment never reaches
the day-3 score, even when the export holds it (day-7 calls describe the outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from molar.warehouse import Engine

HORIZON_DAYS = 30  # the label: a complication found within this many days of surgery
SCORE_DAY = 3  # the second score: after the day-3 check


@dataclass(frozen=True)
class Feature:
    name: str
    en: str  # "{v}" is the patient's value
    zh: str
    direction: int = 0  # +1: risk may only rise with it, -1: only fall (clinical knowledge), 0: free


AT_SURGERY = (
    Feature("age_years", "aged {v:.0f}", "年龄{v:.0f}岁", 1),
    Feature("male", "male", "男性"),
    Feature("smoker", "smokes", "吸烟", 1),
    Feature("diabetic", "has diabetes", "糖尿病", 1),
    Feature("wisdom_extraction", "wisdom-tooth extraction", "智齿拔除"),
    Feature("extraction", "tooth extraction", "拔牙"),
    Feature("implant", "implant placement", "种植体植入"),
    Feature("periodontal_surgery", "periodontal surgery", "牙周手术"),
    Feature("difficulty", "difficulty {v:.0f} of 3", "手术难度{v:.0f}级（共3级）", 1),
    Feature("surgeon_seniority", "surgeon's title rank {v:.0f} of 3 (0 = 医师)", "术者职称等级{v:.0f}（0为医师，3为主任医师）", -1),
    Feature("surgeon_prior_cases", "surgeon's {v:.0f} earlier surgeries on record", "术者既往手术{v:.0f}例", -1),
    Feature("perio_treatments_before", "{v:.0f} periodontal treatment(s) before", "既往牙周治疗{v:.0f}次", 1),
    Feature("brushing_sessions_30d", "brushed {v:.1f} times a day in the 30 days before", "术前30天日均刷牙{v:.1f}次", -1),
    Feature("prior_complications", "{v:.0f} earlier post-op complication(s)", "既往术后并发症{v:.0f}次", 1),
)
AT_DAY3 = (
    *AT_SURGERY,
    Feature("pain_d1", "pain {v:.0f}/10 on day 1", "术后第1天疼痛{v:.0f}分"),
    Feature("pain_d3", "pain {v:.0f}/10 on day 3", "术后第3天疼痛{v:.0f}分", 1),
    Feature("pain_rise", "pain rose by {v:.0f} from day 1 to day 3", "第1至3天疼痛上升{v:.0f}分", 1),
    Feature("swelling_max", "swelling level {v:.0f} of 3", "肿胀程度{v:.0f}级（共3级）", 1),
    Feature("fever", "fever reported", "有发热", 1),
    Feature("bleeding", "bleeding reported", "有出血", 1),
    Feature("poor_adherence", "not following the aftercare instructions", "未遵医嘱护理", 1),
)
NAMES_SURGERY = [f.name for f in AT_SURGERY]
NAMES_DAY3 = [f.name for f in AT_DAY3]
# Yes/no features only read as a reason when they are yes.
_FLAGS = ("male", "smoker", "diabetic", "wisdom_extraction", "extraction", "implant", "periodontal_surgery", "fever",
          "bleeding", "poor_adherence")
SENIORITY = {"主任医师": 3, "副主任医师": 2, "主治医师": 1, "医师": 0}


def data_end(engine: Engine) -> date | None:
    """The last day the follow-up export knows about."""
    return engine.scalar("""SELECT greatest(max(surgery_on), max(complication_on),
                                   (SELECT max(checked_on) FROM std.postop_check))
                            FROM std.postop_case""")


def surgeries(engine: Engine, *, clinic: str | None = None) -> pd.DataFrame:
    """One row per surgery: ``case_id``, ``golden_id``, ``clinic_id``, ``doctor_id``, ``surgery_on``,
    ``procedure``, ``complication``, ``days_to_complication`` and the ``AT_SURGERY`` features."""
    seniority = " ".join(f"WHEN '{t}' THEN {r}" for t, r in SENIORITY.items())
    where = "WHERE c.clinic_id = ?" if clinic else ""
    frame = engine.arrow(f"""
        WITH keys AS (SELECT source, source_patient_key, golden_id FROM identity.cluster),
        cases AS (SELECT c.*, k.golden_id FROM std.postop_case c LEFT JOIN keys k USING (source, source_patient_key)),
        per AS (SELECT c.case_id, count(t.item_code) AS perio
                FROM cases c JOIN keys k ON k.golden_id = c.golden_id
                JOIN std.visit v ON v.source = k.source AND v.source_patient_key = k.source_patient_key
                JOIN std.treatment t ON t.source = v.source AND t.visit_id = v.visit_id AND t.item_code = 'PERIO'
                WHERE v.visit_date < c.surgery_on GROUP BY c.case_id),
        brush AS (SELECT c.case_id, sum(t.brushing_sessions) / 30.0 AS sessions
                  FROM cases c JOIN keys k ON k.golden_id = c.golden_id AND k.source = 'wechat'
                  JOIN std.telemetry t ON t.unionid = k.source_patient_key
                  WHERE t.measured_on >= c.surgery_on - INTERVAL 30 DAY AND t.measured_on < c.surgery_on
                  GROUP BY c.case_id),
        doc AS (SELECT case_id, count(*) OVER (PARTITION BY doctor_id ORDER BY surgery_on
                        RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 DAY PRECEDING) AS doc_cases
                FROM cases WHERE doctor_id IS NOT NULL),
        comp AS (SELECT c.case_id, count(*) AS comps FROM cases c JOIN cases p
                   ON p.golden_id = c.golden_id AND p.complication_on < c.surgery_on GROUP BY c.case_id)
        SELECT c.case_id, c.golden_id, c.clinic_id, c.doctor_id, c.surgery_on, c.procedure, c.complication,
               date_diff('day', c.surgery_on, c.complication_on) AS days_to_complication,
               date_diff('day', p.birth_date, c.surgery_on) / 365.25 AS age_years,
               CASE p.sex WHEN 'M' THEN 1 WHEN 'F' THEN 0 END AS male,
               CASE c.smoker WHEN 'yes' THEN 1 WHEN 'no' THEN 0 END AS smoker,
               CASE c.diabetic WHEN 'yes' THEN 1 WHEN 'no' THEN 0 END AS diabetic,
               (c.procedure = 'wisdom_extraction')::INT AS wisdom_extraction,
               (c.procedure = 'extraction')::INT AS extraction, (c.procedure = 'implant')::INT AS implant,
               (c.procedure = 'periodontal_surgery')::INT AS periodontal_surgery,
               CASE c.difficulty WHEN 'simple' THEN 1 WHEN 'moderate' THEN 2 WHEN 'complex' THEN 3 END AS difficulty,
               CASE d.title {seniority} END AS surgeon_seniority,
               coalesce(doc.doc_cases, 0) AS surgeon_prior_cases,
               coalesce(per.perio, 0) AS perio_treatments_before,
               brush.sessions AS brushing_sessions_30d,
               coalesce(comp.comps, 0) AS prior_complications
        FROM cases c
        LEFT JOIN identity.patient p ON p.golden_id = c.golden_id
        LEFT JOIN std.doctor d ON d.doctor_id = c.doctor_id
        LEFT JOIN per USING (case_id) LEFT JOIN brush USING (case_id)
        LEFT JOIN doc USING (case_id) LEFT JOIN comp USING (case_id)
        {where}
        ORDER BY c.surgery_on, c.case_id""", [clinic] if clinic else None).to_pandas()
    frame[NAMES_SURGERY] = frame[NAMES_SURGERY].astype(float)
    frame["surgery_on"] = pd.to_datetime(frame["surgery_on"]).dt.date
    return frame


def with_checks(engine: Engine, frame: pd.DataFrame, score_day: int = SCORE_DAY) -> pd.DataFrame:
    """``frame`` (``surgeries``) plus the check features known by the end of ``score_day``."""
    checks = engine.arrow(f"""
        SELECT c.case_id,
               arg_min(k.pain, k.checked_on) FILTER (WHERE k.check_day <= 1) AS pain_d1,
               arg_max(k.pain, k.checked_on) FILTER (WHERE k.check_day > 1) AS pain_d3,
               max(CASE k.swelling WHEN 'none' THEN 0 WHEN 'mild' THEN 1 WHEN 'moderate' THEN 2
                                   WHEN 'severe' THEN 3 END) AS swelling_max,
               max((k.fever = 'yes')::INT) AS fever, max((k.bleeding = 'yes')::INT) AS bleeding,
               max((k.adherence = 'poor')::INT) AS poor_adherence
        FROM std.postop_case c JOIN std.postop_check k USING (case_id)
        WHERE k.checked_on <= c.surgery_on + INTERVAL {int(score_day)} DAY
        GROUP BY c.case_id""").to_pandas()
    out = frame.merge(checks, on="case_id", how="left")
    out["pain_rise"] = out["pain_d3"] - out["pain_d1"]
    extra = [n for n in NAMES_DAY3 if n not in NAMES_SURGERY]
    out[extra] = out[extra].astype(float)
    return out


def flag_reasons(reasons: list[list[dict]]) -> list[list[dict]]:
    """Drop yes/no reasons whose value is no (a 0 never explains a risk in words)."""
    return [[r for r in row if r["feature"] not in _FLAGS or r["value"] >= 1] for row in reasons]
