"""How often doctor matching, run on a past day, names the doctor who then treated the case.

For every patient whose first treatment of a code (implant, root canal, periodontal therapy,
orthodontics, aligners, dentures) falls after ``cut`` (to ``end``), matching runs as of
``cut`` for that code at the clinic where it was done — seeing nothing later — and its ranking
is compared with the doctor of that visit. Baselines on the same cases: a doctor drawn at
random from the candidates, the patient's previous doctor among them (continuity only), and
the most experienced candidate (experience only). Counts are split by complex and routine
cases. The answer says nothing about whether the chain's actual choice was good: it measures
agreement with practice, which is what the data can show.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from molar.operations.matching import (
    MatchingConfig,
    Request,
    doctor_profiles,
    load_matching,
    patient_case,
    rank,
)
from molar.warehouse import Engine

MAJOR_CODES = ("IMP", "RCT", "PERIO", "ORTHO", "ALIGN", "DENT")


def first_cases(engine: Engine, cut: date, end: date, codes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per patient and code first done after ``cut``: the day, clinic and doctor of that visit."""
    return engine.arrow(
        """WITH line AS (
               SELECT k.golden_id, t.item_code, v.visit_date, v.clinic_id, v.doctor_id, v.visit_id
               FROM std.treatment t
               JOIN std.visit v ON v.source = t.source AND v.visit_id = t.visit_id
               JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
               WHERE t.item_code IN (SELECT unnest(?)) AND v.visit_date <= ? AND v.doctor_id IS NOT NULL)
           SELECT golden_id, item_code, arg_min(clinic_id, (visit_date, visit_id)) AS clinic_id,
                  arg_min(doctor_id, (visit_date, visit_id)) AS doctor_id, min(visit_date) AS first_on
           FROM line GROUP BY ALL HAVING min(visit_date) > ?
           ORDER BY item_code, golden_id""", [list(codes), end, cut]).to_pylist()


def evaluate_matching(engine: Engine, cut: date, end: date, *, codes: tuple[str, ...] = MAJOR_CODES,
                      config: MatchingConfig | None = None) -> dict[str, Any]:
    cfg = config or load_matching()
    cases = first_cases(engine, cut, end, codes)
    profiles: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    tally: dict[str, dict[str, float]] = {}
    for case in cases:
        request = Request(treatment=case["item_code"])
        key = (case["item_code"], case["clinic_id"])
        if key not in profiles:
            profiles[key] = doctor_profiles(engine, request, cut, cfg, case["clinic_id"])
        if case["doctor_id"] not in profiles[key] or len(profiles[key]) < 2:
            continue   # the doctor was new (no visit before the cut) or there was no choice to make
        patient = patient_case(engine, case["golden_id"], request, cut, cfg)
        ranked = rank(profiles[key], patient, request, cfg)
        order = [d["doctor_id"] for d in ranked]
        experience = {d["doctor_id"]: d["parts"][0]["value"] for d in ranked}
        previous = sorted((d for d in order if d in patient["seen"]), key=lambda d: patient["seen"][d], reverse=True)
        group = "complex" if patient["complexity"] >= cfg.complex_at else "routine"
        for name in (group, "all"):
            t = tally.setdefault(name, {"cases": 0, "top1": 0, "top3": 0, "random": 0.0, "continuity": 0,
                                        "most_experienced": 0, "candidates": 0})
            t["cases"] += 1
            t["top1"] += order[0] == case["doctor_id"]
            t["top3"] += case["doctor_id"] in order[:3]
            t["random"] += 1 / len(order)
            t["continuity"] += bool(previous) and previous[0] == case["doctor_id"]
            t["most_experienced"] += max(order, key=lambda d: (experience[d], d)) == case["doctor_id"]
            t["candidates"] += len(order)
    out = {}
    for name, t in tally.items():
        n = t.pop("cases")
        out[name] = {"cases": n, **{k: round(v / n, 3) for k, v in t.items()}}
    return {"cut": cut, "end": end, "codes": list(codes), "first_cases": len(cases), "groups": out}
