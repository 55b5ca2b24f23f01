"""Out-of-time evaluation of the churn model against two baselines, on any warehouse.

Time layout, with H the horizon and E the last visit date in the warehouse:

    test cut-off       T = E − H          labels (T, E]: never seen in training or calibration
    calibration cut-off C = T − H          labels (C, T]
    training cut-offs  C − k·step, k = 1…n labels end at most T − step, before the test starts

Baselines in the same run: a logistic regression on recency alone, and the lifecycle rule
(decline or churn stage at the cut-off = flagged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from molar.predict.churn.features import churn_features, data_end, labels
from molar.predict.churn.model import ChurnConfig, ChurnModel, ChurnTrainingError
from molar.warehouse import Engine

FLAGGED_STAGES = ("decline", "churn")


@dataclass(frozen=True)
class Layout:
    train: tuple[date, ...]
    calibration: date
    test: date | None

    def as_dict(self) -> dict:
        return {"train_cutoffs": [d.isoformat() for d in self.train], "calibration_cutoff": self.calibration.isoformat(),
                "test_cutoff": self.test.isoformat() if self.test else None}


def layout(last_labelled: date, config: ChurnConfig, with_test: bool = True) -> Layout:
    """Cut-offs whose label windows end by ``last_labelled`` (see the module docstring)."""
    h = timedelta(days=config.horizon_days)
    test = last_labelled - h if with_test else None
    calibration = (test or last_labelled) - h
    train = tuple(calibration - timedelta(days=config.step_days * k) for k in range(1, config.train_cutoffs + 1))
    return Layout(train, calibration, test)


def labelled(engine: Engine, cutoff: date, horizon_days: int) -> pd.DataFrame:
    frame = churn_features(engine, cutoff)
    frame["churned"] = labels(engine, frame["golden_id"], cutoff, horizon_days)
    frame["cutoff"] = cutoff
    return frame


def fit_on_layout(engine: Engine, plan: Layout, config: ChurnConfig) -> tuple[ChurnModel, pd.DataFrame]:
    """Train on the training cut-offs, calibrate on the calibration cut-off."""
    train = pd.concat([labelled(engine, c, config.horizon_days) for c in plan.train], ignore_index=True)
    cal = labelled(engine, plan.calibration, config.horizon_days)
    model = ChurnModel(config).fit(train, train["churned"], cal, cal["churned"])
    return model, train


def evaluate_churn(engine: Engine, config: ChurnConfig | None = None) -> dict:
    """Fit on earlier cut-offs and measure on the never-seen test window."""
    config = config or ChurnConfig()
    end = data_end(engine)
    if end is None:
        raise ChurnTrainingError("the warehouse has no visits: run `molar ingest` and `molar identity resolve` first")
    plan = layout(end, config)
    model, train = fit_on_layout(engine, plan, config)
    test = labelled(engine, plan.test, config.horizon_days)
    y = test["churned"].to_numpy()
    if len(set(y)) < 2:
        raise ChurnTrainingError(f"every test patient has the same outcome on {plan.test}; the test window cannot rank anyone")
    risk = model.predict(test)
    recency = LogisticRegression().fit(_recency(train), train["churned"]).predict_proba(_recency(test))[:, 1]
    rule = test["stage"].isin(FLAGGED_STAGES).to_numpy().astype(float)
    h = config.horizon_days
    return {
        "auc": round(float(roc_auc_score(y, risk)), 4),
        "baseline_auc": round(float(roc_auc_score(y, recency)), 4),
        "brier": round(float(brier_score_loss(y, risk)), 4),
        "horizon_days": h,
        "test_window": [plan.test.isoformat(), (plan.test + timedelta(days=h)).isoformat()],
        "cutoffs": plan.as_dict(),
        "rows": {"train": len(train), "test": len(test), "test_churn_rate": round(float(y.mean()), 4)},
        "auc_uncalibrated": round(float(roc_auc_score(y, model.predict_raw(test))), 4),
        "brier_uncalibrated": round(float(brier_score_loss(y, model.predict_raw(test))), 4),
        "calibration": model.calibrator_["kind"],
        "baselines": {
            "recency_logistic": {"auc": round(float(roc_auc_score(y, recency)), 4),
                                 "brier": round(float(brier_score_loss(y, recency)), 4),
                                 "top_decile_lift": top_decile_lift(y, recency)},
            "lifecycle_rule": {"auc": round(float(roc_auc_score(y, rule)), 4), **flagged_shares(y, rule.astype(bool))},
        },
        "top_decile_lift": top_decile_lift(y, risk),
        "reliability": reliability(y, risk),
        "flagged_by_risk": flagged_shares(y, risk >= 0.7),
        # The risk flagging as many patients as the lifecycle rule does, for a like-for-like comparison.
        "flagged_by_risk_at_rule_share": flagged_shares(y, _top_share(risk, rule.mean())),
    }


def _top_share(score: np.ndarray, share: float) -> np.ndarray:
    flagged = np.zeros(len(score), dtype=bool)
    flagged[np.argsort(-score, kind="stable")[: round(share * len(score))]] = True
    return flagged


def _recency(frame: pd.DataFrame) -> np.ndarray:
    return np.log1p(frame[["days_since_last_visit"]].to_numpy())


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Churn rate among the 10 % highest scores over the overall rate (ties broken by order)."""
    k = max(1, len(y) // 10)
    top = np.argsort(-score, kind="stable")[:k]
    return round(float(y[top].mean() / y.mean()), 3)


def flagged_shares(y: np.ndarray, flagged: np.ndarray) -> dict:
    """Share of churners and of stayers flagged, and the lift of the flagged group."""
    churners, stayers = y == 1, y == 0
    return {"flagged_share": round(float(flagged.mean()), 4),
            "churners_flagged": round(float(flagged[churners].mean()), 4),
            "stayers_flagged": round(float(flagged[stayers].mean()), 4),
            "lift_flagged": round(float(y[flagged].mean() / y.mean()), 3) if flagged.any() else None}


def reliability(y: np.ndarray, risk: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted vs observed churn rate in equal-width risk bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(risk, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            rows.append({"bin": f"{edges[b]:.1f}–{edges[b + 1]:.1f}", "patients": int(sel.sum()),
                         "predicted": round(float(risk[sel].mean()), 4), "observed": round(float(y[sel].mean()), 4)})
    return rows
