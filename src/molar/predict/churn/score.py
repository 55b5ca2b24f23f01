"""Score every patient's churn risk now and write ``profile.churn_risk`` with reasons.

The model is trained on the latest cut-offs whose labels are complete (calibration cut-off
= as_of − H) and saved in ``profile.predict_model``; ``model_id`` reuses a saved model
instead (nightly refresh without retraining).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

import pandas as pd
import pyarrow as pa

from molar.predict.churn.evaluate import fit_on_layout, layout
from molar.predict.churn.features import churn_features
from molar.predict.churn.model import ChurnConfig, ChurnModel, ChurnModelError, band
from molar.predict.churn.store import store_scores
from molar.warehouse import Engine


def load_model(engine: Engine, model_id: str) -> ChurnModel:
    rows = engine.rows("SELECT summary FROM profile.predict_model WHERE model_id = ? AND kind = 'churn'", [model_id])
    if not rows:
        raise ChurnModelError(f"no saved churn model {model_id!r}; `molar churn score` without --model trains one")
    return ChurnModel.from_record(json.loads(rows[0][0])["model"])


def score_table(model: ChurnModel, model_id: str, frame: pd.DataFrame, as_of: date) -> pa.Table:
    """Risk, band and reasons of the patients in ``frame`` (``churn_features``), as stored."""
    risk = model.predict(frame)
    reasons = model.reasons(frame)
    n = len(frame)
    return pa.table({
        "golden_id": pa.array(frame["golden_id"].astype(str).tolist(), pa.string()),
        "risk": risk.round(4),
        "band": pa.array([band(r) for r in risk], pa.string()),
        "horizon_days": pa.array([model.config.horizon_days] * n, pa.int32()),
        "reasons": pa.array([json.dumps(r, ensure_ascii=False) for r in reasons], pa.string()),
        "as_of": pa.array([as_of] * n, pa.date32()),
        "model_id": pa.array([model_id] * n, pa.string()),
    })


def latest_model_id(engine: Engine) -> str | None:
    rows = engine.rows("SELECT model_id FROM profile.predict_model WHERE kind = 'churn' ORDER BY created_at DESC LIMIT 1")
    return rows[0][0] if rows else None


def score_churn(engine: Engine, as_of: date, config: ChurnConfig | None = None, model_id: str | None = None) -> dict:
    config = config or ChurnConfig()
    if model_id:
        model, trained = load_model(engine, model_id), None
    else:
        plan = layout(as_of, config, with_test=False)
        model, train = fit_on_layout(engine, plan, config)
        model_id = f"CHURN{datetime.now():%Y%m%d%H%M%S%f}"
        trained = {"model": model.to_record(), "cutoffs": plan.as_dict(), "train_rows": len(train)}
    frame = churn_features(engine, as_of)
    table = score_table(model, model_id, frame, as_of)
    n = len(frame)
    scored_at = datetime.combine(as_of, time())
    bands = {b: int((table["band"].to_numpy(zero_copy_only=False) == b).sum()) for b in ("high", "medium", "low")}
    with engine.transaction():
        crossings = store_scores(engine, table, scored_at, everyone=True)
        if trained:
            engine.execute("INSERT INTO profile.predict_model VALUES (?, 'churn', ?, ?, ?)",
                           [model_id, as_of, datetime.now(), json.dumps(trained, ensure_ascii=False)])
    return {"model_id": model_id, "as_of": as_of.isoformat(), "patients": n, "bands": bands,
            "horizon_days": model.config.horizon_days, "crossed_into_high": len(crossings), "scored_at": scored_at.isoformat()}
