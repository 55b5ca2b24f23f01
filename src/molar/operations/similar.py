"""Similar cases: the past courses of treatment most like a patient's, and how they went.

A **case** is one patient's course of treatment: their visits with no gap longer than
``course_gap_days`` (120), in any department (an implant course runs check-up → implant →
follow-ups → crown). Its department is that of its dearest catalogue item. It carries the
treatment codes done (with counts), the diagnoses written, age at the start, sex, first clinic
and doctor, visits, duration, cost, and its **outcome**: ``complaint`` (a text of the patient
classified as a complaint from the start to 30 days after the end), else ``rework`` (a treatment
of the course on the same tooth again 60–365 days after the end), else ``ongoing`` (last visit
within 120 days of the day), else ``completed``.

The **feature vector** (one row per case, Euclidean distance, scikit-learn
``NearestNeighbors``; fixed scales so a distance can be worked out by hand):

- treatment codes: TF-IDF of the course's lines (one token per line), L2-normalised;
- diagnoses: TF-IDF of the diagnosis phrases (tooth numbers taken out), L2-normalised, × 0.5;
- department: one-hot × 1/√2 (another department adds exactly 1 to the squared distance);
- age at the start ÷ 80; sex (F 0, M 1) × 0.25; log1p(cost) ÷ log1p(100,000);
  log1p(duration in days) ÷ log1p(730); log1p(visits) ÷ log1p(30).

Brute-force search is exact and fast enough here (≈ 10⁵ cases × ≈ 10² features); an ANN
index would only pay off far beyond that. Reads ``std``, ``identity`` and ``profile``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from molar.model.codes import DEPARTMENTS, TREATMENTS
from molar.operations.matching import MatchingError, live_golden
from molar.operations.series import data_end
from molar.warehouse import Engine

AGE_BAND_EDGES = ((7, "0-6"), (13, "7-12"), (18, "13-17"), (30, "18-29"), (45, "30-44"), (60, "45-59"),
                  (75, "60-74"))


@dataclass(frozen=True)
class CaseConfig:
    course_gap_days: int = 120
    complaint_after_days: int = 30
    rework_after_days: int = 60
    rework_within_days: int = 365
    diagnosis_weight: float = 0.5
    department_weight: float = 1.0
    age_scale: float = 80.0
    sex_weight: float = 0.25
    cost_scale: float = math.log1p(100_000)
    duration_scale: float = math.log1p(730)
    visits_scale: float = math.log1p(30)


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    return next((band for below, band in AGE_BAND_EDGES if age < below), "75+")


def case_id(golden_id: str, start: date) -> str:
    """A case number that does not reveal the patient (same case, same number)."""
    return "K" + hashlib.sha1(f"{golden_id}|{start}".encode()).hexdigest()[:10]


def _price_table() -> str:
    rows = ", ".join(f"('{t.code}', {t.typical_price_yuan}, '{t.department}')" for t in TREATMENTS)
    return f"(VALUES {rows}) AS price(code, yuan, department)"


# One row per course: visits of a patient with no gap over $gap days, whatever the department;
# the case's department is that of its dearest catalogue item (ties: the first line).
_CASES = """
WITH paid AS (SELECT source, visit_id, sum(amount_yuan) AS cost FROM std.charge WHERE visit_id IS NOT NULL GROUP BY ALL),
visit AS (
    SELECT k.golden_id, v.source, v.visit_id, v.visit_date, v.department, v.clinic_id, v.doctor_id, v.diagnosis,
           coalesce(c.cost, 0) AS cost
    FROM std.visit v
    JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
    LEFT JOIN paid c ON c.source = v.source AND c.visit_id = v.visit_id
    WHERE v.visit_date <= $as_of),
numbered AS (
    SELECT *, sum(CASE WHEN gap IS NULL OR gap > $gap THEN 1 ELSE 0 END) OVER (
                  PARTITION BY golden_id ORDER BY visit_date, visit_id ROWS UNBOUNDED PRECEDING) AS course_no
    FROM (SELECT *, visit_date - lag(visit_date) OVER (PARTITION BY golden_id ORDER BY visit_date, visit_id) AS gap,
                 -- the diagnosis without tooth numbers: 37缺失 and 牙列缺损(36) are 缺失 and 牙列缺损
                 trim(regexp_replace(coalesce(diagnosis, ''), '[0-9]+|[()（）]', '', 'g')) AS term
          FROM visit)),
line AS (
    SELECT n.golden_id, n.course_no, n.visit_date, n.visit_id, t.line_no, t.item_code, coalesce(t.tooth, '') AS tooth,
           coalesce(price.yuan, 0) AS yuan, coalesce(price.department, n.department) AS department
    FROM numbered n
    JOIN std.treatment t ON t.source = n.source AND t.visit_id = n.visit_id
    LEFT JOIN {prices} ON price.code = t.item_code),
course AS (
    SELECT golden_id, course_no, min(visit_date) AS start, max(visit_date) AS "end", count(*) AS visits,
           arg_min(clinic_id, (visit_date, visit_id)) AS clinic_id, arg_min(doctor_id, (visit_date, visit_id)) AS doctor_id,
           sum(cost) AS cost, list(DISTINCT term) FILTER (WHERE term <> '') AS diagnoses,
           arg_min(department, (visit_date, visit_id)) AS first_department
    FROM numbered GROUP BY ALL),
course_lines AS (
    SELECT golden_id, course_no, list(item_code ORDER BY visit_date, visit_id, line_no) AS codes,
           arg_max(department, (yuan, -epoch(visit_date), -line_no)) AS department
    FROM line GROUP BY ALL),
redo AS (
    SELECT DISTINCT a.golden_id, a.course_no
    FROM line a JOIN course c USING (golden_id, course_no)
    JOIN line b ON b.golden_id = a.golden_id AND b.item_code = a.item_code AND b.tooth = a.tooth
     AND b.visit_date BETWEEN c."end" + to_days($after::INT) AND c."end" + to_days($within::INT)
    WHERE regexp_matches(a.tooth, '^[0-9]')),
complained AS (
    SELECT DISTINCT c.golden_id, c.course_no
    FROM profile.text_sentiment s
    JOIN identity.cluster k ON k.source = s.source AND k.source_patient_key = s.source_patient_key
    JOIN course c ON c.golden_id = k.golden_id
     AND s.occurred_at::DATE BETWEEN c.start AND c."end" + to_days($complaint::INT)
    WHERE s.label = 'complaint' AND s.occurred_at::DATE <= $as_of)
SELECT c.golden_id, coalesce(l.department, c.first_department) AS department, c.start, c."end",
       c.visits, c.clinic_id, c.doctor_id, c.cost, coalesce(l.codes, []) AS codes, coalesce(c.diagnoses, []) AS diagnoses,
       date_diff('day', c.start, c."end") AS duration_days, p.sex, date_sub('year', p.birth_date, c.start) AS age,
       CASE WHEN m.golden_id IS NOT NULL THEN 'complaint' WHEN r.golden_id IS NOT NULL THEN 'rework'
            WHEN c."end" >= $as_of::DATE - to_days($gap::INT) THEN 'ongoing' ELSE 'completed' END AS outcome
FROM course c
LEFT JOIN course_lines l USING (golden_id, course_no)
LEFT JOIN redo r USING (golden_id, course_no)
LEFT JOIN complained m USING (golden_id, course_no)
LEFT JOIN identity.patient p ON p.golden_id = c.golden_id
WHERE coalesce(l.department, c.first_department) IS NOT NULL
ORDER BY c.golden_id, c.start
"""


def load_cases(engine: Engine, as_of: date, cfg: CaseConfig | None = None) -> pd.DataFrame:
    """Every course of treatment up to the day, one row each, with its outcome."""
    cfg = cfg or CaseConfig()
    cases = engine.arrow(_CASES.format(prices=_price_table()), {
        "as_of": as_of, "gap": cfg.course_gap_days, "after": cfg.rework_after_days,
        "within": cfg.rework_within_days, "complaint": cfg.complaint_after_days}).to_pandas()
    cases["age"] = cases["age"].astype("Int64")
    for col in ("codes", "diagnoses"):
        cases[col] = cases[col].map(list)
    cases["case_id"] = [case_id(g, s) for g, s in zip(cases["golden_id"], cases["start"], strict=True)]
    return cases


def features(cases: pd.DataFrame, cfg: CaseConfig | None = None) -> sparse.csr_matrix:
    """The documented feature vector of every case (rows in the order of ``cases``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    cfg = cfg or CaseConfig()

    def tfidf(docs: list[list[str]]) -> sparse.csr_matrix:
        if not any(len(d) for d in docs):
            return sparse.csr_matrix((len(docs), 0))
        vec = TfidfVectorizer(analyzer=lambda items: items, lowercase=False)   # one token per item, as written
        return vec.fit_transform(docs)

    depts = sorted(set(cases["department"]))
    onehot = sparse.csr_matrix((np.full(len(cases), cfg.department_weight / math.sqrt(2)),
                                (np.arange(len(cases)), [depts.index(d) for d in cases["department"]])),
                               shape=(len(cases), len(depts)))
    numeric = np.column_stack([
        cases["age"].fillna(0).to_numpy(float) / cfg.age_scale,
        (cases["sex"] == "M").to_numpy(float) * cfg.sex_weight,
        np.log1p(cases["cost"].to_numpy(float)) / cfg.cost_scale,
        np.log1p(cases["duration_days"].to_numpy(float)) / cfg.duration_scale,
        np.log1p(cases["visits"].to_numpy(float)) / cfg.visits_scale,
    ])
    return sparse.hstack([tfidf(list(cases["codes"])), cfg.diagnosis_weight * tfidf(list(cases["diagnoses"])),
                          onehot, sparse.csr_matrix(numeric)]).tocsr()


def _describe(row: Any, distance: float | None) -> dict[str, Any]:
    return {"case_id": row.case_id, "golden_id": row.golden_id,
            "distance": None if distance is None else round(float(distance), 4),
            "department": row.department, "clinic_id": row.clinic_id, "doctor_id": row.doctor_id,
            "age_band": age_band(None if pd.isna(row.age) else int(row.age)), "sex": row.sex,
            "start": row.start, "end": row.end, "visits": int(row.visits), "duration_days": int(row.duration_days),
            "cost_yuan": round(float(row.cost), 2), "treatments": dict(Counter(row.codes)), "diagnoses": list(row.diagnoses),
            "outcome": row.outcome}


def similar(engine: Engine, *, golden_id: str | None = None, case: str | None = None, department: str | None = None,
            k: int = 5, as_of: date | None = None, cfg: CaseConfig | None = None) -> dict[str, Any]:
    """The ``k`` past cases nearest to the patient's latest case (in ``department`` if given) or to
    case ``case``; the patient's own cases are left out."""
    from sklearn.neighbors import NearestNeighbors

    if (golden_id is None) == (case is None):
        raise MatchingError("give one of --patient G or --case K / 请指定患者或病例编号")
    as_of = as_of or data_end(engine)
    if as_of is None:
        raise MatchingError("the warehouse has no visits yet: load the HIS exports with `molar ingest` first / "
                            "仓库中没有就诊记录")
    if department is not None and department not in DEPARTMENTS:
        raise MatchingError(f"department {department!r}: one of {', '.join(DEPARTMENTS)} / 科室不存在")
    if golden_id is not None:
        golden_id = live_golden(engine, golden_id)
    cases = load_cases(engine, as_of, cfg)
    if golden_id is not None:
        own = cases.index[(cases["golden_id"] == golden_id)
                          & ((cases["department"] == department) if department else True)]
        if own.empty:
            where = f" in {department}" if department else ""
            raise MatchingError(f"patient {golden_id} has no course of treatment{where} up to {as_of} / 该患者暂无治疗病例")
        query = int(cases.loc[own, "start"].astype(str).sort_values(kind="stable").index[-1])
    else:
        hit = cases.index[cases["case_id"] == case]
        if hit.empty:
            raise MatchingError(f"no case {case!r} up to {as_of}; case numbers look like K1a2b3c4d5e / 病例编号不存在")
        query = int(hit[0])
    patient = cases.at[query, "golden_id"]
    matrix = features(cases, cfg)
    pool = np.flatnonzero((cases["golden_id"] != patient).to_numpy())
    found: list[dict[str, Any]] = []
    if pool.size:
        nn = NearestNeighbors(n_neighbors=min(k, pool.size), algorithm="brute").fit(matrix[pool])
        dist, idx = nn.kneighbors(matrix[query])
        ranked = sorted(zip(dist[0], pool[idx[0]], strict=True), key=lambda d: (round(float(d[0]), 9),
                                                                                cases.at[d[1], "case_id"]))
        found = [_describe(cases.iloc[i], d) for d, i in ranked]
    return {"as_of": as_of, "case": _describe(cases.iloc[query], None), "similar": found,
            "outcomes": {o: sum(1 for c in found if c["outcome"] == o)
                         for o in ("completed", "ongoing", "rework", "complaint")}}
