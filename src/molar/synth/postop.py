"""Post-op follow-up: the nursing system's record of every surgery the care simulation made
(extractions, wisdom-tooth extractions, implant placements, periodontal surgery), its
day-1/3/7 check calls and any complication within 30 days.

The complication is planted: its true probability is a logistic function of what is known
at surgery (age, smoking, diabetes, procedure and its difficulty, the surgeon's title,
periodontal risk, poor brushing on the smart toothbrush) plus the early checks (pain rising
from day 1 to day 3, fever, not following instructions). ``truth/postop.parquet`` carries
that probability per surgery (``p_day3``) and its average over the checks a patient could
have had (``p_surgery``, by Monte Carlo), for checking a model against the truth. Day-7
checks come after the outcome and show it: a model scoring at day 3 must not read them.

Everything draws from ``SeedSequence([seed, POSTOP_STREAM, chunk])``, so the files the other
modules write are unchanged by this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from molar.synth.world import TITLES, T, World

POSTOP_STREAM = 0x5EED_0004
FOLLOWUP = "sources/followup/"
CASES = FOLLOWUP + "postop_cases.csv"
CHECKS = FOLLOWUP + "postop_checks.csv"

PROCEDURES = ("extraction", "wisdom_extraction", "implant", "periodontal_surgery")
PROCEDURE_ZH = ("拔牙术", "智齿拔除术", "种植体植入术", "牙周翻瓣术")
COMPLICATIONS = ("dry_socket", "infection", "implant_failure", "bleeding")
COMPLICATION_ZH = ("干槽症", "术后感染", "种植体早期失败", "术后出血")
DIFFICULTY_ZH = ("简单", "中等", "复杂")
SWELLING_ZH = ("无", "轻度", "中度", "重度")
ADHERENCE_ZH = ("好", "一般", "差")
CHECK_DAYS = (1, 3, 7)
MONTE_CARLO = 64  # check draws per surgery for p_surgery

# Planted effects on the log-odds of a complication within 30 days.
BASE_LOGIT = np.array([-4.2, -3.95, -4.75, -5.0])  # per procedure, a non-smoker of 40 with a simple case
DIFFICULTY_P = np.array([[0.6, 0.3, 0.1], [0.25, 0.4, 0.35], [0.4, 0.35, 0.25], [0.5, 0.35, 0.15]])
EFFECT = {"smoker": 1.0, "diabetic": 0.7, "per_decade_over_40": 0.15, "difficulty": 0.45, "perio_risk": 0.8,
          "poor_brushing": 0.5, "pain_rise": 0.35, "fever": 0.9, "poor_adherence": 0.6}
TITLE_EFFECT = np.array([-0.5, -0.3, 0.0, 0.35])  # 主任医师 … 医师: experience lowers the risk
POOR_BRUSHING_SESSIONS = 1.3  # a toothbrush owner brushing less than this a day on average
# Which complication, by procedure; and its day after surgery (lo, hi).
KIND_P = np.array([[0.65, 0.2, 0.0, 0.15], [0.65, 0.2, 0.0, 0.15], [0.0, 0.4, 0.45, 0.15], [0.0, 0.6, 0.0, 0.4]])
KIND_DAYS = ((2, 5), (3, 12), (8, 30), (0, 2))

CASES_HEADER = ("随访编号", "病历号", "就诊号", "门店", "医生", "手术日期", "手术类型", "牙位", "难度", "吸烟", "糖尿病",
                "并发症", "并发症日期")
CHECKS_HEADER = ("随访编号", "随访日", "随访日期", "疼痛评分", "肿胀", "出血", "发热", "遵医嘱")
CSV_SPECS = {CASES: CASES_HEADER, CHECKS: CHECKS_HEADER}
TRUTH = "truth/postop.parquet"
TRUTH_SCHEMAS = {TRUTH: pa.schema([
    ("case_id", pa.string()), ("person_id", pa.string()), ("patient_key", pa.string()), ("visit_id", pa.string()),
    ("surgery_on", pa.date32()), ("procedure", pa.string()), ("difficulty", pa.int64()), ("smoker", pa.bool_()),
    ("diabetic", pa.bool_()), ("poor_brushing", pa.bool_()), ("doctor_title", pa.string()),
    ("p_surgery", pa.float64()), ("p_day3", pa.float64()), ("complication", pa.string()),
    ("complication_day", pa.int64()),
])}


@dataclass
class PostopState:
    case_serial: int = 0


@dataclass
class Checks:
    pain1: np.ndarray
    pain3: np.ndarray
    fever3: np.ndarray
    poor_adherence: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _draw_checks(rng: np.random.Generator, procedure: np.ndarray, difficulty: np.ndarray, smoker: np.ndarray,
                 shape: tuple[int, ...]) -> Checks:
    """Day-1 pain from the procedure and its difficulty; day 3 falls, or rises with inflammation."""
    base = np.array([3.0, 4.5, 3.5, 3.0])[procedure] + 0.7 * difficulty
    pain1 = np.clip(np.rint(base + rng.normal(0, 1.2, shape)), 0, 10)
    inflammation = rng.normal(0, 1, shape)
    pain3 = np.clip(np.rint(pain1 - 1.5 + 1.3 * inflammation + rng.normal(0, 0.8, shape)), 0, 10)
    fever3 = rng.random(shape) < _sigmoid(-3.5 + 1.2 * inflammation)
    poor = rng.random(shape) < np.where(smoker, 0.25, 0.1)
    return Checks(pain1, pain3, fever3, poor)


def _logit_day3(intake: np.ndarray, c: Checks) -> np.ndarray:
    return (intake + EFFECT["pain_rise"] * np.maximum(c.pain3 - c.pain1, 0) + EFFECT["fever"] * c.fever3
            + EFFECT["poor_adherence"] * c.poor_adherence)


def _surgeries(world: World, vis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Treatment lines that are surgeries: (line index, procedure, visit), by visit order.

    A periodontal course counts once, at its first session (no session in the 30 days before)."""
    item, lv = vis.line_item, vis.line_visit
    ext = np.flatnonzero(item == T["EXT"])
    wisdom = np.array([str(t).endswith("8") for t in vis.line_tooth[ext].tolist()], dtype=bool)
    imp = np.flatnonzero(item == T["IMP"])
    per = np.flatnonzero(item == T["PERIO"])
    order = np.lexsort((vis.day[lv[per]], vis.p[lv[per]]))
    per = per[order]
    p, d = vis.p[lv[per]], vis.day[lv[per]]
    first = np.ones(per.size, dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (d[1:] - d[:-1] > 30)
    per = per[first]
    line = np.concatenate([ext, imp, per])
    proc = np.concatenate([np.where(wisdom, 1, 0), np.full(imp.size, 2), np.full(per.size, 3)]).astype(np.int64)
    keep = np.argsort(lv[line], kind="stable")
    return line[keep], proc[keep], lv[line[keep]]


def postop_chunk(seed: int, chunk: int, world: World, ppl, life, vis, hid, brushing: tuple[np.ndarray, np.ndarray],
                 state: PostopState, out) -> None:
    """Cases, checks and truth of one chunk of people; ``brushing`` is (toothbrush owners,
    their mean sessions a day) from the telemetry simulation."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, POSTOP_STREAM, chunk]))
    # person-level traits the HIS does not carry
    age = ppl.age
    smoker_p = np.where(age < 16, 0.0, np.where(ppl.sex == 1, 0.45, 0.03))
    smoker_all = rng.random(ppl.n) < smoker_p
    diabetic_all = rng.random(ppl.n) < np.select([age < 40, age < 60], [0.02, 0.08], 0.18)
    poor_brush_all = np.zeros(ppl.n, dtype=bool)
    owners, sessions = brushing
    poor_brush_all[owners] = sessions < POOR_BRUSHING_SESSIONS

    line, proc, v = _surgeries(world, vis)
    n = line.size
    if n == 0:
        return
    p = vis.p[v]
    day = vis.day[v]
    age_at = (day - ppl.birth[p]) / 365.25
    difficulty = (rng.random(n)[:, None] > np.cumsum(DIFFICULTY_P[proc], axis=1)).sum(axis=1).clip(0, 2)
    smoker, diabetic, poor_brush = smoker_all[p], diabetic_all[p], poor_brush_all[p]
    rank = {t: TITLE_EFFECT[i] for i, t in enumerate(TITLES)}
    title_effect = np.array([rank.get(t, 0.0) for t in world.doctor_title[vis.doctor[v]].tolist()])
    intake = (BASE_LOGIT[proc] + EFFECT["smoker"] * smoker + EFFECT["diabetic"] * diabetic
              + EFFECT["per_decade_over_40"] * np.maximum(age_at - 40, 0) / 10 + EFFECT["difficulty"] * difficulty
              + EFFECT["perio_risk"] * life.perio[p] + EFFECT["poor_brushing"] * poor_brush + title_effect)

    checks = _draw_checks(rng, proc, difficulty, smoker, (n,))
    p_day3 = _sigmoid(_logit_day3(intake, checks))
    mc = _draw_checks(rng, proc[:, None], difficulty[:, None], smoker[:, None], (n, MONTE_CARLO))
    p_surgery = _sigmoid(_logit_day3(intake[:, None], mc)).mean(axis=1)
    happened = rng.random(n) < p_day3
    kind = (rng.random(n)[:, None] > np.cumsum(KIND_P[proc], axis=1)).sum(axis=1).clip(0, 3)
    lo = np.array([k[0] for k in KIND_DAYS])[kind]
    hi = np.array([k[1] for k in KIND_DAYS])[kind]
    comp_day = np.where(happened, lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64), -1)
    # nothing is known after the export date
    comp_day = np.where(day + comp_day > world.end, -1, comp_day)
    happened = comp_day >= 0

    case_id = np.array([f"SH{state.case_serial + i + 1:08d}" for i in range(n)], dtype=object)
    state.case_serial += n
    key = hid.key[p, vis.rec[v]].astype(object)
    iso = world.cal.iso
    yes_no = np.array(["否", "是"], dtype=object)
    out.emit(CASES, [
        case_id, key, hid.visit_id[v], world.clinic_short[vis.clinic[v]], world.doctor_name[vis.doctor[v]],
        iso[world.cal.idx(day)], np.array(PROCEDURE_ZH, dtype=object)[proc], vis.line_tooth[line].astype(object),
        np.array(DIFFICULTY_ZH, dtype=object)[difficulty], yes_no[smoker.astype(int)], yes_no[diabetic.astype(int)],
        np.where(happened, np.array(COMPLICATION_ZH, dtype=object)[kind], "").astype(object),
        np.where(happened, iso[world.cal.idx(day + np.maximum(comp_day, 0))], "").astype(object),
    ])
    _emit_checks(rng, world, case_id, day, proc, difficulty, checks, happened, kind, comp_day, out)
    out.truth(TRUTH, {
        "case_id": case_id, "person_id": ppl.person_id[p], "patient_key": key, "visit_id": hid.visit_id[v],
        "surgery_on": pa.array(day.astype("datetime64[D]"), type=pa.date32()),
        "procedure": np.array(PROCEDURES, dtype=object)[proc], "difficulty": difficulty + 1, "smoker": smoker,
        "diabetic": diabetic, "poor_brushing": poor_brush, "doctor_title": world.doctor_title[vis.doctor[v]],
        "p_surgery": np.round(p_surgery, 5), "p_day3": np.round(p_day3, 5),
        "complication": pa.array(np.where(happened, np.array(COMPLICATIONS, dtype=object)[kind], None),
                                 type=pa.string()),
        "complication_day": pa.array(comp_day, type=pa.int64(), mask=~happened),
    })


def _emit_checks(rng, world: World, case_id, day, proc, difficulty, checks: Checks, happened, kind, comp_day,
                 out) -> None:
    """Day-1/3/7 calls; a few are missed, none after the export date. Day 7 shows the outcome."""
    n = case_id.size
    trouble7 = happened & (comp_day <= 7) & (kind != 3)
    pain7 = np.where(trouble7, np.clip(checks.pain3 + rng.integers(2, 5, n), 0, 10),
                     np.clip(checks.pain3 - rng.integers(1, 4, n), 0, 10))
    pain = {1: checks.pain1, 3: checks.pain3, 7: pain7}
    swell_base = difficulty + (proc == 1)
    swelling = {1: np.clip(swell_base + rng.integers(-1, 2, n), 0, 3),
                3: np.clip(swell_base + (checks.pain3 > checks.pain1) + rng.integers(-1, 1, n), 0, 3),
                7: np.clip(np.where(trouble7, 2, 0) + rng.integers(0, 2, n), 0, 3)}
    bleeding = {d: rng.random(n) < (0.12 if d == 1 else 0.03) for d in CHECK_DAYS}
    bleeding[1] |= happened & (kind == 3) & (comp_day <= 1)
    fever = {1: rng.random(n) < 0.02, 3: checks.fever3, 7: trouble7 & (rng.random(n) < 0.5)}
    adherence = {d: np.where(checks.poor_adherence, 2, (rng.random(n) < 0.25).astype(np.int64)) for d in CHECK_DAYS}
    rows = []
    for d in CHECK_DAYS:
        taken = (rng.random(n) >= (0.08 if d < 7 else 0.12)) & (day + d <= world.end)
        # a late call now and then: the check is dated when it happened
        late = rng.random(n) < 0.05
        on = day + d + late
        idx = np.flatnonzero(taken & (on <= world.end))
        rows.append((idx, d, on))
    yes_no = np.array(["否", "是"], dtype=object)
    case = np.concatenate([case_id[i] for i, _, _ in rows])
    order = np.argsort(case, kind="stable")
    cols = [
        case, np.concatenate([np.full(i.size, str(d), dtype=object) for i, d, _ in rows]),
        np.concatenate([world.cal.iso[world.cal.idx(on[i])] for i, _, on in rows]),
        np.concatenate([pain[d][i].astype(np.int64).astype(str).astype(object) for i, d, _ in rows]),
        np.concatenate([np.array(SWELLING_ZH, dtype=object)[swelling[d][i].astype(np.int64)] for i, d, _ in rows]),
        np.concatenate([yes_no[bleeding[d][i].astype(int)] for i, d, _ in rows]),
        np.concatenate([yes_no[fever[d][i].astype(int)] for i, d, _ in rows]),
        np.concatenate([np.array(ADHERENCE_ZH, dtype=object)[adherence[d][i]] for i, d, _ in rows]),
    ]
    out.emit(CHECKS, [c[order] for c in cols])
