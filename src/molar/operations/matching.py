"""Doctor matching: which of the clinic's doctors fits a patient's planned treatment best, and why.

The **case** is the patient (golden ID) and a treatment code or a department. Its
**complexity** (0–1) is the sum of the flags in ``doctor_matching.yaml`` that apply: 60 or
older, periodontal therapy before, the same treatment before, several units planned, an open
plan of three or more items. Each candidate doctor (the department's doctors at the clinic,
and for a treatment any doctor there who has done it) gets five parts, each 0–1, weighted:

- **experience**: mean of volume of the treatment (log scale), complex cases of it done, title;
- **fit**: 1 − (complexity − experience) when the case is more complex than the doctor is
  experienced, else 1 — so a complex case needs an experienced doctor, a simple one does not;
- **continuity**: the doctor treated this patient before;
- **outcomes**: mean of no rework (same treatment, same tooth, 60–365 days later), few
  complaints per patient, review rating;
- **availability**: half-hour slots open in the next 14 days (capacity minus bookings).

score = 100 × Σ weight × part; ties go to the doctor ID. Reads ``std`` and ``identity`` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from molar.automation.yamlio import CatalogueError, check_keys, fail, line_of, load_yaml
from molar.model.codes import DEPARTMENT_NAMES, DEPARTMENTS, TREATMENT_BY_CODE, TREATMENTS
from molar.operations.series import data_end
from molar.warehouse import Engine

MATCHING_FILE = Path(__file__).with_name("doctor_matching.yaml")
PARTS = ("experience", "fit", "continuity", "outcomes", "availability")
FLAGS = ("older_patient", "perio_history", "repeat_treatment", "several_units", "multi_item_plan")
OPEN_PLANS = ("proposed", "accepted", "partially_done")


class MatchingError(ValueError):
    """The request cannot be matched (the message says why and what to do)."""


@dataclass(frozen=True)
class MatchingConfig:
    weights: dict[str, float]
    full_volume: int
    full_complex_cases: int
    titles: dict[str, float]
    complex_at: float
    flags: dict[str, float]
    older_age: int
    rework_after_days: int
    rework_within_days: int
    full_rework_rate: float
    full_complaint_rate: float
    min_reviews: int
    availability_days: int
    slots_per_day: int
    working_days_per_week: int
    active_within_days: int

    @property
    def capacity(self) -> int:
        """Half-hour slots a doctor offers in the availability window."""
        return self.slots_per_day * round(self.availability_days * self.working_days_per_week / 7)


def _number(path: Path, node: Any, key: str, line: int | None, *, whole: bool = False, top: float | None = None) -> Any:
    value = node.get(key) if isinstance(node, dict) else None
    ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok or (top is not None and value > top) or (whole and value < 1):
        kind = "a whole number, 1 or more" if whole else f"a number from 0 to {top}" if top else "a number, 0 or more"
        raise fail(path, line_of(node, key, line), f"{key}: {kind}")
    return value


def load_matching(path: Path | None = None) -> MatchingConfig:
    """Read and validate ``doctor_matching.yaml``; a mistake names the file, the line and the fix."""
    path = Path(path or MATCHING_FILE)
    if not path.exists():
        raise CatalogueError(f"{path}: doctor matching file not found")
    doc = load_yaml(path)
    sections = {"weights", "experience", "complexity", "outcomes", "availability", "active_within_days"}
    check_keys(path, doc, sections, "doctor matching", required=tuple(sorted(sections)), line=1)
    weights = doc["weights"]
    check_keys(path, weights, set(PARTS), "weights", required=PARTS, line=line_of(doc, "weights"))
    w = {p: float(_number(path, weights, p, line_of(doc, "weights"), top=1)) for p in PARTS}
    if abs(sum(w.values()) - 1) > 1e-6:
        raise fail(path, line_of(doc, "weights"), f"weights add up to {sum(w.values()):.3f}; make them add up to 1")
    exp, cx, out, av = doc["experience"], doc["complexity"], doc["outcomes"], doc["availability"]
    check_keys(path, exp, {"full_volume", "full_complex_cases", "titles"}, "experience",
               required=("full_volume", "full_complex_cases", "titles"), line=line_of(doc, "experience"))
    titles = exp["titles"]
    if not isinstance(titles, dict) or not titles:
        raise fail(path, line_of(exp, "titles"), "titles: a mapping of professional title to a level from 0 to 1")
    check_keys(path, cx, {"complex_at", "flags", "older_age"}, "complexity",
               required=("complex_at", "flags", "older_age"), line=line_of(doc, "complexity"))
    check_keys(path, cx["flags"], set(FLAGS), "complexity flags", required=FLAGS, line=line_of(cx, "flags"))
    out_keys = ("rework_after_days", "rework_within_days", "full_rework_rate", "full_complaint_rate", "min_reviews")
    check_keys(path, out, set(out_keys), "outcomes", required=out_keys, line=line_of(doc, "outcomes"))
    av_keys = ("days", "slots_per_day", "working_days_per_week")
    check_keys(path, av, set(av_keys), "availability", required=av_keys, line=line_of(doc, "availability"))
    if out["rework_after_days"] >= out["rework_within_days"]:
        raise fail(path, line_of(out, "rework_after_days"), "rework_after_days must be less than rework_within_days")
    return MatchingConfig(
        weights=w,
        full_volume=_number(path, exp, "full_volume", None, whole=True),
        full_complex_cases=_number(path, exp, "full_complex_cases", None, whole=True),
        titles={str(t): float(_number(path, titles, t, line_of(exp, "titles"), top=1)) for t in titles},
        complex_at=float(_number(path, cx, "complex_at", None, top=1)),
        flags={f: float(_number(path, cx["flags"], f, line_of(cx, "flags"), top=1)) for f in FLAGS},
        older_age=_number(path, cx, "older_age", None, whole=True),
        rework_after_days=_number(path, out, "rework_after_days", None, whole=True),
        rework_within_days=_number(path, out, "rework_within_days", None, whole=True),
        full_rework_rate=float(_number(path, out, "full_rework_rate", None, top=1)),
        full_complaint_rate=float(_number(path, out, "full_complaint_rate", None, top=1)),
        min_reviews=_number(path, out, "min_reviews", None, whole=True),
        availability_days=_number(path, av, "days", None, whole=True),
        slots_per_day=_number(path, av, "slots_per_day", None, whole=True),
        working_days_per_week=_number(path, av, "working_days_per_week", None, whole=True, top=7),
        active_within_days=_number(path, doc, "active_within_days", None, whole=True),
    )


@dataclass(frozen=True)
class Request:
    """What is to be done: one treatment code, or a department's work."""

    treatment: str | None = None
    department: str | None = None

    def check(self) -> None:
        if (self.treatment is None) == (self.department is None):
            raise MatchingError("give one of --treatment CODE or --department D / 请指定治疗项目或科室")
        if self.treatment is not None and self.treatment not in TREATMENT_BY_CODE:
            raise MatchingError(f"treatment {self.treatment!r}: one of {', '.join(TREATMENT_BY_CODE)} / 治疗项目代码不存在")
        if self.department is not None and self.department not in DEPARTMENTS:
            raise MatchingError(f"department {self.department!r}: one of {', '.join(DEPARTMENTS)} / 科室不存在")

    @property
    def dept(self) -> str:
        return self.department or TREATMENT_BY_CODE[self.treatment].department  # type: ignore[index]

    @property
    def codes(self) -> list[str]:
        """The treatment codes whose history counts: the code, or the department's paid items."""
        if self.treatment:
            return [self.treatment]
        return [t.code for t in TREATMENTS if t.department == self.department and t.typical_price_yuan > 0]

    def words(self) -> tuple[str, str]:
        if self.treatment:
            item = TREATMENT_BY_CODE[self.treatment]
            return item.name_en, item.name_zh
        zh, en = DEPARTMENT_NAMES[self.dept]
        return en, zh


def live_golden(engine: Engine, golden_id: str) -> str:
    """The patient's current golden ID (a merged one leads to its heir); unknown IDs fail plainly."""
    from molar.profile.explain import UnknownPatient, _golden

    try:
        return _golden(engine, golden_id)
    except UnknownPatient as exc:
        raise MatchingError(f"{exc} / 患者编号不存在") from None


# Every treatment line of the chain with its patient, doctor and what made the case complex
# on the day (age, periodontal therapy before, the same item before, units).
_LINES = """
WITH line AS (
    SELECT k.golden_id, v.doctor_id, v.clinic_id, v.visit_date, t.item_code, coalesce(t.tooth, '') AS tooth,
           coalesce(t.quantity, 1) AS units
    FROM std.treatment t
    JOIN std.visit v ON v.source = t.source AND v.visit_id = t.visit_id
    JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
    WHERE v.visit_date <= $as_of),
firsts AS (
    SELECT golden_id, item_code, min(visit_date) AS first_on FROM line GROUP BY ALL)
SELECT l.*, date_sub('year', p.birth_date, l.visit_date) AS age,
       coalesce(pf.first_on < l.visit_date, false) AS perio_before,
       coalesce(sf.first_on < l.visit_date, false) AS repeat_before
FROM line l
LEFT JOIN identity.patient p ON p.golden_id = l.golden_id
LEFT JOIN firsts pf ON pf.golden_id = l.golden_id AND pf.item_code = 'PERIO'
LEFT JOIN firsts sf ON sf.golden_id = l.golden_id AND sf.item_code = l.item_code
"""


def _complexity(cfg: MatchingConfig, flags: dict[str, bool]) -> float:
    return min(sum(cfg.flags[f] for f, on in flags.items() if on), 1.0)


def doctor_profiles(engine: Engine, request: Request, as_of: date, cfg: MatchingConfig,
                    clinic: str | None = None) -> dict[str, dict[str, Any]]:
    """Per candidate doctor: title, volume, complex cases, rework, complaints, reviews, bookings ahead."""
    codes, f = request.codes, cfg.flags
    score = (f"least(1, (coalesce(age, 0) >= {cfg.older_age})::INT * {f['older_patient']} + perio_before::INT * "
             f"{f['perio_history']} + repeat_before::INT * {f['repeat_treatment']} + (units >= 2)::INT * "
             f"{f['several_units']})")
    params = {"as_of": as_of, "codes": codes, "dept": request.dept, "clinic": clinic, "treatment": request.treatment,
              "after": cfg.rework_after_days, "within": cfg.rework_within_days, "complex_at": cfg.complex_at,
              "active_from": as_of - timedelta(days=cfg.active_within_days),
              "window_end": as_of + timedelta(days=cfg.availability_days)}
    rows = engine.arrow(f"""
        WITH lines AS ({_LINES}),
        target AS (SELECT *, {score} AS complexity FROM lines WHERE item_code IN (SELECT unnest($codes))),
        redo AS (
            SELECT a.doctor_id, a.golden_id, a.item_code, a.tooth, a.visit_date,
                   bool_or(b.visit_date IS NOT NULL) AS reworked
            FROM target a LEFT JOIN target b
              ON b.golden_id = a.golden_id AND b.item_code = a.item_code AND b.tooth = a.tooth
             AND b.visit_date BETWEEN a.visit_date + to_days($after::INT) AND a.visit_date + to_days($within::INT)
            WHERE a.visit_date <= $as_of::DATE - to_days($within::INT)
            GROUP BY ALL),
        work AS (
            SELECT doctor_id, sum(units) AS volume,
                   count(DISTINCT golden_id) FILTER (WHERE complexity >= $complex_at) AS complex_cases
            FROM target GROUP BY ALL),
        rework AS (SELECT doctor_id, count(*) AS judged, count(*) FILTER (WHERE reworked) AS reworked
                   FROM redo GROUP BY ALL),
        seen AS (SELECT doctor_id, count(DISTINCT golden_id) AS patients, max(visit_date) AS last_visit
                 FROM lines GROUP BY ALL),
        reviews AS (
            SELECT r.doctor_id, count(*) AS reviews, avg(r.rating) AS rating,
                   count(*) FILTER (WHERE r.rating <= 2 OR s.label = 'complaint') AS complaints
            FROM std.review r
            LEFT JOIN profile.text_sentiment s ON s.text_id = r.review_id AND s.kind = 'review'
            WHERE r.posted_on <= $as_of GROUP BY ALL),
        booked AS (
            SELECT doctor_id, count(*) AS booked FROM std.appointment
            WHERE status = 'booked' AND slot_start > $as_of::TIMESTAMP + INTERVAL 1 DAY
              AND slot_start < $window_end::TIMESTAMP + INTERVAL 1 DAY
              AND (booked_at IS NULL OR booked_at < $as_of::TIMESTAMP + INTERVAL 1 DAY)
            GROUP BY ALL)
        SELECT d.doctor_id, d.name, d.clinic_id, d.department, d.title,
               coalesce(w.volume, 0) AS volume, coalesce(w.complex_cases, 0) AS complex_cases,
               coalesce(rw.judged, 0) AS judged, coalesce(rw.reworked, 0) AS reworked,
               coalesce(s.patients, 0) AS patients, s.last_visit,
               coalesce(rv.reviews, 0) AS reviews, rv.rating, coalesce(rv.complaints, 0) AS complaints,
               coalesce(b.booked, 0) AS booked
        FROM std.doctor d
        LEFT JOIN work w USING (doctor_id) LEFT JOIN rework rw USING (doctor_id) LEFT JOIN seen s USING (doctor_id)
        LEFT JOIN reviews rv USING (doctor_id) LEFT JOIN booked b USING (doctor_id)
        WHERE (d.department = $dept OR ($treatment IS NOT NULL AND coalesce(w.volume, 0) > 0))
          AND ($clinic IS NULL OR d.clinic_id = $clinic)
          AND s.last_visit >= $active_from
        ORDER BY d.doctor_id""", params).to_pylist()
    return {r["doctor_id"]: r for r in rows}


def patient_case(engine: Engine, golden_id: str, request: Request, as_of: date,
                 cfg: MatchingConfig) -> dict[str, Any]:
    """The patient's side: age, home clinic, complexity flags, doctors seen (times, last day)."""
    info = engine.rows("SELECT birth_date, home_clinic_id FROM identity.patient WHERE golden_id = ?", [golden_id])
    birth, home = info[0] if info else (None, None)
    age = None if birth is None else as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))
    history = engine.rows(f"""WITH lines AS ({_LINES})
        SELECT item_code, count(*), sum(units) FROM lines WHERE golden_id = $g GROUP BY ALL""",
                          {"as_of": as_of, "g": golden_id})
    done = {code: (n, units) for code, n, units in history}
    plans = engine.rows(
        """SELECT p.items FROM std.treatment_plan p
           JOIN identity.cluster k ON k.source = p.source AND k.source_patient_key = p.source_patient_key
           WHERE k.golden_id = ? AND p.status IN (SELECT unnest(?)) AND p.proposed_on <= ?""",
        [golden_id, list(OPEN_PLANS), as_of])
    plan_items = [i for (items,) in plans for i in (items or "").split("+") if i]
    planned_units = max(plan_items.count(c) for c in request.codes) if plan_items else 0
    flags = {
        "older_patient": age is not None and age >= cfg.older_age,
        "perio_history": "PERIO" in done,
        "repeat_treatment": any(c in done for c in request.codes),
        "several_units": planned_units >= 2,
        "multi_item_plan": any(len([i for i in (items or "").split("+") if i]) >= 3 for (items,) in plans),
    }
    seen = engine.rows(
        """SELECT v.doctor_id, count(DISTINCT v.visit_id), max(v.visit_date) FROM std.visit v
           JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
           WHERE k.golden_id = ? AND v.visit_date <= ? AND v.doctor_id IS NOT NULL GROUP BY ALL""",
        [golden_id, as_of])
    return {"golden_id": golden_id, "age": age, "home_clinic": home, "flags": flags,
            "complexity": round(_complexity(cfg, flags), 4), "done": done, "planned_units": planned_units,
            "seen": {d: (n, last) for d, n, last in seen}}


FLAG_WORDS = {
    "older_patient": ("aged {age} ({older}+)", "{age}岁（{older}岁及以上）"),
    "perio_history": ("periodontal therapy before", "有牙周治疗史"),
    "repeat_treatment": ("had this treatment before (a re-treatment)", "曾做过同类治疗（再治疗）"),
    "several_units": ("{units} units planned", "计划{units}个单位"),
    "multi_item_plan": ("an open plan of three or more items", "有三项及以上的在治方案"),
}


def case_words(case: dict[str, Any], cfg: MatchingConfig) -> list[dict[str, str]]:
    values = {"age": case["age"], "older": cfg.older_age, "units": case["planned_units"]}
    return [{"flag": f, "weight": cfg.flags[f], "en": FLAG_WORDS[f][0].format(**values),
             "zh": FLAG_WORDS[f][1].format(**values)} for f, on in case["flags"].items() if on]


def _log_part(value: int, full: int) -> float:
    return min(math.log1p(value) / math.log1p(full), 1.0)


def _parts(cfg: MatchingConfig, doc: dict[str, Any], case: dict[str, Any], what: tuple[str, str]) -> list[dict]:
    en_what, zh_what = what
    volume = _log_part(doc["volume"], cfg.full_volume)
    complex_part = _log_part(doc["complex_cases"], cfg.full_complex_cases)
    title = cfg.titles.get(doc["title"] or "", 0.25)
    experience = (volume + complex_part + title) / 3
    gap = max(case["complexity"] - experience, 0.0)
    times, last = case["seen"].get(doc["doctor_id"], (0, None))
    rework = doc["reworked"] / doc["judged"] if doc["judged"] else None
    complaint = doc["complaints"] / doc["patients"] if doc["patients"] else None
    rating = doc["rating"] if doc["reviews"] >= cfg.min_reviews else None
    outcome_parts = [1 - min(rework / cfg.full_rework_rate, 1.0) if rework is not None else 0.5,
                     1 - min(complaint / cfg.full_complaint_rate, 1.0) if complaint is not None else 0.5,
                     (rating - 1) / 4 if rating is not None else 0.5]
    open_slots = max(cfg.capacity - doc["booked"], 0)
    title_words = doc["title"] or "no title"
    rework_en = (f"rework {doc['reworked']} of {doc['judged']} ({rework:.0%})" if rework is not None
                 else "no finished cases to judge rework")
    rework_zh = (f"返工{doc['reworked']}/{doc['judged']}例" if rework is not None else "暂无可评估返工的病例")
    review_en = (f"{doc['reviews']} reviews, mean {doc['rating']:.1f}★" if rating is not None
                 else f"{doc['reviews']} reviews (fewer than {cfg.min_reviews}: neutral)")
    review_zh = (f"评价{doc['reviews']}条，平均{doc['rating']:.1f}星" if rating is not None
                 else f"评价{doc['reviews']}条（不足{cfg.min_reviews}条，按中性计）")
    parts = [
        ("experience", experience,
         f"{doc['volume']} × {en_what}, {doc['complex_cases']} complex cases, {title_words}",
         f"{zh_what}{doc['volume']}例，其中复杂病例{doc['complex_cases']}例，{doc['title'] or '无职称'}"),
        ("fit", 1 - gap,
         f"case complexity {case['complexity']:.2f} vs experience {experience:.2f}"
         + (": experienced enough" if gap == 0 else ": less experienced than the case needs"),
         f"病例复杂度{case['complexity']:.2f}，医生经验{experience:.2f}" + ("，经验足够" if gap == 0 else "，经验不足")),
        ("continuity", 1.0 if times else 0.0,
         f"treated this patient {times} times, last on {last}" if times else "has not treated this patient",
         f"曾接诊该患者{times}次，最近一次{last}" if times else "未接诊过该患者"),
        ("outcomes", sum(outcome_parts) / 3,
         f"{rework_en}; {doc['complaints']} complaints from {doc['patients']} patients; {review_en}",
         f"{rework_zh}；{doc['patients']}名患者中投诉{doc['complaints']}次；{review_zh}"),
        ("availability", open_slots / cfg.capacity if cfg.capacity else 0.0,
         f"{doc['booked']} bookings in the next {cfg.availability_days} days, {open_slots} of {cfg.capacity} "
         "half-hour slots open",
         f"未来{cfg.availability_days}天已约{doc['booked']}人，{cfg.capacity}个号源中尚余{open_slots}个"),
    ]
    return [{"part": key, "value": round(value, 4), "weight": cfg.weights[key],
             "points": round(100 * cfg.weights[key] * value, 2), "en": en, "zh": zh}
            for key, value, en, zh in parts]


def rank(profiles: dict[str, dict[str, Any]], case: dict[str, Any], request: Request,
         cfg: MatchingConfig) -> list[dict[str, Any]]:
    """The candidates, best fit first (ties: doctor ID), each with its parts in words."""
    out = []
    for doc in profiles.values():
        parts = _parts(cfg, doc, case, request.words())
        out.append({"doctor_id": doc["doctor_id"], "name": doc["name"], "clinic_id": doc["clinic_id"],
                    "department": doc["department"], "title": doc["title"],
                    "score": round(sum(p["points"] for p in parts), 1), "parts": parts})
    out.sort(key=lambda d: (-d["score"], d["doctor_id"]))
    for n, d in enumerate(out, 1):
        d["rank"] = n
    return out


def match(engine: Engine, golden_id: str, request: Request, *, clinic: str | None = None,
          as_of: date | None = None, config: MatchingConfig | None = None) -> dict[str, Any]:
    """Rank the doctors for the patient's case at the clinic (default: the patient's home clinic)."""
    request.check()
    cfg = config or load_matching()
    as_of = as_of or data_end(engine)
    if as_of is None:
        raise MatchingError("the warehouse has no visits yet: load the HIS exports with `molar ingest` first / "
                            "仓库中没有就诊记录")
    golden_id = live_golden(engine, golden_id)
    case = patient_case(engine, golden_id, request, as_of, cfg)
    clinic = clinic or case["home_clinic"]
    doctors = rank(doctor_profiles(engine, request, as_of, cfg, clinic), case, request, cfg)
    return {"golden_id": golden_id, "as_of": as_of, "clinic_id": clinic, "treatment": request.treatment,
            "department": request.dept, "age": case["age"], "complexity": case["complexity"],
            "complex": case["complexity"] >= cfg.complex_at, "reasons": case_words(case, cfg), "doctors": doctors}
