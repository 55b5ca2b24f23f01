"""The nurses' watch-list: a clinic's surgeries of the last 30 days without a complication on
record, by risk — the day-3 score once the day-3 window has passed, else the at-surgery score."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from molar.predict.postop.evaluate import fit_both, labelled, windows
from molar.predict.postop.features import HORIZON_DAYS, SCORE_DAY, surgeries, with_checks
from molar.predict.postop.model import PostopConfig
from molar.warehouse import Engine


def watch_list(engine: Engine, clinic: str, as_of: date, config: PostopConfig | None = None) -> list[dict]:
    """Open cases of ``clinic`` on ``as_of``, highest risk first, each with its reasons (zh/en).

    The models are trained on the surgeries whose 30 days had passed by ``as_of``; checks and
    complications dated after ``as_of`` are not read."""
    config = config or PostopConfig()
    frame = labelled(engine)
    models = fit_both(frame, windows(as_of, config, with_test=False), config)
    cases = surgeries(engine, clinic=clinic)
    on = cases["surgery_on"]
    found = [pd.notna(d) and s + timedelta(days=int(d)) <= as_of
             for s, d in zip(on, cases["days_to_complication"], strict=True)]
    cases = cases[(on <= as_of) & (on > as_of - timedelta(days=HORIZON_DAYS)) & ~pd.Series(found, index=cases.index)]
    rows = []
    for moment, part in (("day3", cases[cases["surgery_on"] <= as_of - timedelta(days=SCORE_DAY)]),
                         ("surgery", cases[cases["surgery_on"] > as_of - timedelta(days=SCORE_DAY)])):
        if part.empty:
            continue
        part = with_checks(engine, part) if moment == "day3" else part
        model = models[moment]
        for (_, case), risk, why in zip(part.iterrows(), model.predict(part), model.reasons(part), strict=True):
            rows.append({"case_id": case["case_id"], "golden_id": case["golden_id"], "doctor_id": case["doctor_id"],
                         "surgery_on": case["surgery_on"], "procedure": case["procedure"],
                         "day": (as_of - case["surgery_on"]).days, "scored_at": moment, "risk": round(float(risk), 4),
                         "reasons": why})
    return sorted(rows, key=lambda r: (-r["risk"], r["case_id"]))


def followup_summary(engine: Engine, as_of: date) -> dict:
    """Surgeries followed up, complications within 30 days, and cases open on ``as_of``."""
    rows = engine.rows(f"""
        SELECT count(*), count(*) FILTER (WHERE date_diff('day', surgery_on, complication_on) <= {HORIZON_DAYS}),
               count(*) FILTER (WHERE surgery_on > ?::DATE - INTERVAL {HORIZON_DAYS} DAY AND surgery_on <= ?
                                  AND (complication_on IS NULL OR complication_on > ?))
        FROM std.postop_case""", [as_of, as_of, as_of])
    surgeries_, complications, open_cases = rows[0]
    return {"surgeries": surgeries_, "complications_30d": complications, "open_cases": open_cases}
