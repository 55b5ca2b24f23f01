"""Next-best-treatment: sequence rules "A, then B" between treatment items over the
patients' histories, with support, confidence, lift and the time lag.

A patient's history is the set of treatment items they had, each with the dates it was done
(`std.treatment` + `std.visit`; a patient is a golden ID, or the record's own key before
identity has run). For items A ≠ B, of N patients:

- n(A): patients who had A; n(A→B): patients who had B on a day after their first A;
- support = n(A→B) / N, confidence = n(A→B) / n(A), lift = confidence / (n(B) / N);
- lag: median days from the first A to the first B after it.

Lift compares "B after A" with "B at all", so B drawn independently of A gives a lift at or
below 1 (it can only be counted when it falls after A), and a course the chain plants (an
implant then its crown) gives a lift well above 1. Rules have one item on each side, so all
pairs are counted exactly in one query; the long itemsets FP-growth exists for are not needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from molar.warehouse.engine import Engine

_HISTORY = """
    WITH cl AS (SELECT source, source_patient_key, min(golden_id) AS golden_id FROM identity.cluster GROUP BY ALL),
    occ AS (
        SELECT DISTINCT coalesce(cl.golden_id, v.source || ':' || v.source_patient_key) AS patient,
               t.item_code AS item, v.visit_date AS day
        FROM std.treatment t JOIN std.visit v USING (source, visit_id)
        LEFT JOIN cl USING (source, source_patient_key)
        WHERE t.item_code <> 'OTHER' AND v.visit_date <= CAST(? AS DATE)),
    first AS (SELECT patient, item, min(day) AS first_on FROM occ GROUP BY ALL)
"""


class NextTreatmentError(ValueError):
    """Bad arguments, with the fix in the message."""


@dataclass(frozen=True)
class SequenceRule:
    antecedent: str
    consequent: str
    patients: int          # n(A→B)
    antecedent_patients: int
    consequent_patients: int
    support: float
    confidence: float
    lift: float
    median_lag_days: float

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def sequence_rules(engine: Engine, as_of: date, *, min_patients: int = 20, min_lift: float = 0.0,
                   min_confidence: float = 0.0) -> list[SequenceRule]:
    """Every rule A → B seen in at least ``min_patients`` patients with at least ``min_lift``
    and ``min_confidence``, strongest lift first."""
    if min_patients < 1:
        raise NextTreatmentError(f"min_patients={min_patients}: a rule needs at least 1 patient")
    if min_lift < 0 or not 0 <= min_confidence <= 1:
        raise NextTreatmentError("min_lift must be ≥ 0 and min_confidence between 0 and 1")
    rows = engine.rows(_HISTORY + """,
        n AS (SELECT count(DISTINCT patient) AS n FROM first),
        item AS (SELECT item, count(*) AS c FROM first GROUP BY item),
        seq AS (SELECT a.patient, a.item AS a, o.item AS b, min(o.day) - a.first_on AS lag
                FROM first a JOIN occ o ON o.patient = a.patient AND o.item <> a.item AND o.day > a.first_on
                GROUP BY a.patient, a.item, o.item, a.first_on)
        SELECT s.a, s.b, count(*) AS nab, ia.c, ib.c, n.n, median(s.lag) AS lag
        FROM seq s JOIN item ia ON ia.item = s.a JOIN item ib ON ib.item = s.b CROSS JOIN n
        GROUP BY s.a, s.b, ia.c, ib.c, n.n
        HAVING count(*) >= ?""", [as_of, min_patients])
    rules = []
    for a, b, nab, na, nb, n, lag in rows:
        confidence = nab / na
        lift = confidence / (nb / n)
        if lift >= min_lift and confidence >= min_confidence:
            rules.append(SequenceRule(a, b, nab, na, nb, round(nab / n, 6), round(confidence, 6), round(lift, 6),
                                      float(lag)))
    return sorted(rules, key=lambda r: (-r.lift, -r.confidence, r.antecedent, r.consequent))


def next_for_patient(engine: Engine, patient: str, as_of: date, rules: list[SequenceRule]) -> list[dict]:
    """The rules whose first item the patient had and whose second they have not had since:
    the treatments to suggest next, strongest confidence first, with the rule as the reason."""
    rows = engine.rows(_HISTORY + " SELECT item, first_on, (SELECT max(day) FROM occ o WHERE o.patient = f.patient "
                       "AND o.item = f.item) FROM first f WHERE patient = ?", [as_of, patient])
    if not rows:
        return []
    first_on = {item: first for item, first, _ in rows}
    last_on = {item: last for item, _, last in rows}
    out = []
    for r in rules:
        if r.antecedent in first_on and not (r.consequent in last_on
                                             and last_on[r.consequent] > first_on[r.antecedent]):
            out.append({"item": r.consequent, "because": r.antecedent, "since": first_on[r.antecedent].isoformat(),
                        "confidence": r.confidence, "lift": r.lift, "median_lag_days": r.median_lag_days})
    best: dict[str, dict] = {}
    for s in sorted(out, key=lambda s: (-s["confidence"], -s["lift"], s["because"])):
        best.setdefault(s["item"], s)
    return list(best.values())
