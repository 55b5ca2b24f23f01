"""Fit CLV on the warehouse's visits and charges and write ``profile.clv`` per golden ID.

A visit day is one transaction; its amount is what was charged that day (0 when nothing
was). Time is in weeks; 12 and 24 months are 52.18 and 104.36 weeks. Values are not
discounted. The models are fitted on at most ``FIT_SAMPLE`` patients and score everyone.

Covariates for the visit model: ``clinic`` is the clinic of the patient's first visit;
any other name is a profile tag (``age_band``, ``preferred_channel`` …), read as the
patient's current value in ``profile.tag_value``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from molar.predict.clv.bgnbd import BetaGeoModel
from molar.predict.clv.data import UNITS, ClvInputError, daily_transactions, one_hot, summarise
from molar.predict.clv.gamma_gamma import GammaGammaModel
from molar.predict.clv.report import covariate_comparison
from molar.warehouse import Engine

WEEKS_PER_MONTH = UNITS["M"] / UNITS["W"]
FIT_SAMPLE = 50_000


def visit_days(engine: Engine, as_of: date, golden_ids: list[str] | None = None) -> pd.DataFrame:
    """(customer, date, amount): each golden ID's visit days up to ``as_of`` with that day's charges
    (only ``golden_ids``' when given). Live ``visit.completed`` / ``charge.paid`` events the
    exports do not hold yet count too, as they do for the profile."""
    d = f"DATE '{as_of.isoformat()}'"
    scope = f"WHERE golden_id IN ({', '.join('?' for _ in golden_ids)})" if golden_ids is not None else ""
    live_scope = f"AND golden_id IN ({', '.join('?' for _ in golden_ids)})" if golden_ids is not None else ""
    params = list(golden_ids or [])
    live_days = live_paid = ""
    if engine.table_exists("ops.rt_event"):
        live_days = f"""UNION SELECT golden_id, occurred_at::DATE FROM ops.rt_event e
            WHERE type = 'visit.completed' AND NOT derived AND occurred_at::DATE <= {d} {live_scope}
              AND NOT EXISTS (SELECT 1 FROM std.visit v WHERE v.visit_id = e.data->>'visit_id')"""
        live_paid = f"""UNION ALL SELECT golden_id, occurred_at::DATE, CAST(data->>'amount_yuan' AS DOUBLE)
            FROM ops.rt_event e
            WHERE type = 'charge.paid' AND NOT derived AND occurred_at::DATE <= {d} {live_scope}
              AND NOT EXISTS (SELECT 1 FROM std.charge c WHERE c.charge_id = e.data->>'charge_id')"""
        params = params * 3
    return engine.arrow(f"""
        WITH keys AS (SELECT source, source_patient_key, golden_id FROM identity.cluster {scope}),
        days AS (SELECT DISTINCT k.golden_id, v.visit_date AS day FROM std.visit v
                 JOIN keys k USING (source, source_patient_key) WHERE v.visit_date <= {d}
                 {live_days}),
        paid AS (SELECT golden_id, day, sum(amount) AS amount FROM (
                 SELECT k.golden_id, c.charged_on AS day, c.amount_yuan::DOUBLE AS amount FROM std.charge c
                 JOIN keys k USING (source, source_patient_key) WHERE c.charged_on <= {d}
                 {live_paid}) GROUP BY ALL)
        SELECT days.golden_id AS customer, days.day AS date, coalesce(paid.amount, 0.0) AS amount
        FROM days LEFT JOIN paid USING (golden_id, day)""", params).to_pandas()


def covariate_levels(engine: Engine, as_of: date, columns: list[str], customers: np.ndarray) -> pd.DataFrame:
    """One row per golden ID of ``customers``: the first visit's clinic and the named tags' values."""
    frame = pd.DataFrame(index=pd.Index(customers.astype(str), name="golden_id"))
    d = f"DATE '{as_of.isoformat()}'"
    for column in columns:
        if column == "clinic":
            values = engine.arrow(f"""
                SELECT k.golden_id, arg_min(v.clinic_id, v.visit_date) AS value FROM std.visit v
                JOIN identity.cluster k USING (source, source_patient_key)
                WHERE v.visit_date <= {d} GROUP BY k.golden_id""").to_pandas()
        else:
            values = engine.arrow("SELECT golden_id, value FROM profile.tag_value WHERE tag_key = ?",
                                  [column]).to_pandas()
            if values.empty:
                known = [r[0] for r in engine.rows("SELECT DISTINCT tag_key FROM profile.tag_value ORDER BY 1")]
                raise ClvInputError(
                    f"covariate {column!r} is neither 'clinic' nor a tag in profile.tag_value"
                    + (f" (tags: {', '.join(known[:12])}…)" if known else "; run `molar profile run` first"))
        frame[column] = values.set_index("golden_id")["value"].reindex(frame.index)
    return frame


def stored_columns(levels: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """The 0/1 columns a fitted model was named with (``clinic=C02`` …), for other customers."""
    blocks = []
    for name in names:
        column, level = name.split("=", 1)
        blocks.append((levels[column].fillna("").replace("", "(blank)") == level).to_numpy(dtype=float))
    return np.column_stack(blocks) if blocks else np.zeros((len(levels), 0))


def score_clv(engine: Engine, as_of: date, covariates: list[str] | None = None) -> dict:
    """Fit BG/NBD + Gamma-Gamma on all history to ``as_of`` and replace ``profile.clv``.

    With ``covariates`` the visit model also fits their effects, and the result carries the
    model without them on the same patients (likelihood-ratio test) so the gain is visible."""
    daily = daily_transactions(visit_days(engine, as_of), "the warehouse's visits")
    summary = summarise(daily, as_of, "W", observation_end=as_of)
    names, z = (one_hot(covariate_levels(engine, as_of, covariates, summary.customers), covariates, "the warehouse")
                if covariates else ((), None))
    # Fit on a seeded sample (the parameters settle long before a million); score everyone.
    rng = np.random.default_rng(0)
    fit_rows = np.sort(rng.choice(len(summary.customers), min(FIT_SAMPLE, len(summary.customers)), replace=False))
    fit_args = (summary.frequency[fit_rows], summary.recency[fit_rows], summary.age[fit_rows])
    bgnbd = BetaGeoModel().fit(*fit_args, None if z is None else z[fit_rows], names)
    spend = GammaGammaModel().fit(summary.frequency[fit_rows], summary.monetary[fit_rows])
    model_id = f"CLV{datetime.now():%Y%m%d%H%M%S%f}"
    table = clv_table(bgnbd, spend, summary, z, as_of, model_id)
    result = {"model_id": model_id, "as_of": as_of.isoformat(), "patients": len(summary.customers),
              "fitted_on": len(fit_rows),
              "bgnbd": bgnbd.as_dict(), "gamma_gamma": spend.as_dict()}
    if names:
        fitted = summarise_rows(summary, fit_rows)
        comparison = covariate_comparison(BetaGeoModel().fit(*fit_args), bgnbd, fitted)
        result["without_covariates"] = {k: comparison[k] for k in
                                        ("log_likelihood", "likelihood_ratio", "extra_parameters", "p_value")}
    with engine.transaction():
        engine.execute("DELETE FROM profile.clv")
        engine.append("profile.clv", table)
        engine.execute("INSERT INTO profile.predict_model VALUES (?, 'clv', ?, ?, ?)",
                       [model_id, as_of, datetime.now(), json.dumps(result)])
    return result


def clv_table(bgnbd: BetaGeoModel, spend: GammaGammaModel, summary, z: np.ndarray | None, as_of: date,
              model_id: str) -> pa.Table:
    """``profile.clv`` rows for the customers of ``summary``."""
    args = (summary.frequency, summary.recency, summary.age)
    visits_12 = bgnbd.expected_visits(12 * WEEKS_PER_MONTH, *args, z)
    visits_24 = bgnbd.expected_visits(24 * WEEKS_PER_MONTH, *args, z)
    per_visit = spend.expected_spend(summary.frequency, summary.monetary)
    n = len(summary.customers)
    return pa.table({
        "golden_id": summary.customers.astype(str),
        "visits_12m": visits_12, "visits_24m": visits_24,
        "value_12m_yuan": np.round(visits_12 * per_visit, 2), "value_24m_yuan": np.round(visits_24 * per_visit, 2),
        "p_alive": bgnbd.probability_alive(*args, z), "spend_per_visit": np.round(per_visit, 2),
        "as_of": pa.array([as_of] * n, pa.date32()),
        "model_id": [model_id] * n,
    })


def summarise_rows(summary, rows: np.ndarray):
    """The summary of the fitted sample only (no holdout: scoring has none)."""
    return replace(summary, customers=summary.customers[rows], frequency=summary.frequency[rows],
                   recency=summary.recency[rows], age=summary.age[rows], monetary=summary.monetary[rows],
                   holdout_frequency=summary.holdout_frequency[rows], holdout_length=0.0)
