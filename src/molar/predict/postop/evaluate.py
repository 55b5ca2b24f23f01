"""Out-of-time evaluation of the post-op risk model at surgery and at day 3, against two
baselines in the same run, on any warehouse with a follow-up export.

Windows of surgery dates, with E the export's last day and H = 30 days (the label horizon):

    test          (E − H − test_days, E − H]          outcomes never seen in training or calibration
    calibration   the calibration_days before that, ending H days before the test starts
    training      everything up to H days before the calibration window starts

A gap of H days between windows means every label of a window was complete before the next
window's first surgery. The day-3 score is evaluated on the surgeries still without a
complication at the end of day 3 (its label: a complication found on days 4–30).

Baselines: each procedure's complication rate in the training window; a logistic regression
on age and procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import pearsonr, spearmanr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from molar.predict.churn.evaluate import top_decile_lift
from molar.predict.postop.features import (
    AT_DAY3,
    AT_SURGERY,
    HORIZON_DAYS,
    SCORE_DAY,
    data_end,
    surgeries,
    with_checks,
)
from molar.predict.postop.model import PostopConfig, PostopModel, PostopTrainingError
from molar.warehouse import Engine

PROCEDURE_COLUMNS = ["extraction", "wisdom_extraction", "implant", "periodontal_surgery"]
BOOTSTRAP = 500


@dataclass(frozen=True)
class Windows:
    train_end: date
    calibration: tuple[date, date]  # (first, last) surgery day
    test: tuple[date, date] | None

    def as_dict(self) -> dict:
        return {"train_until": self.train_end.isoformat(),
                "calibration": [d.isoformat() for d in self.calibration],
                "test": [d.isoformat() for d in self.test] if self.test else None}


def windows(end: date, config: PostopConfig, with_test: bool = True) -> Windows:
    """Surgery-date windows whose labels are complete by ``end`` (see the module docstring)."""
    h = timedelta(days=HORIZON_DAYS)
    last = end - h
    test = (last - timedelta(days=config.test_days - 1), last) if with_test else None
    cal_last = test[0] - h - timedelta(days=1) if test else last
    calibration = (cal_last - timedelta(days=config.calibration_days - 1), cal_last)
    return Windows(calibration[0] - h - timedelta(days=1), calibration, test)


def labelled(engine: Engine) -> pd.DataFrame:
    """Every surgery with both moments' features and their labels (``y_surgery``, ``y_day3``;
    ``open_day3`` False where a complication was already found by the end of day 3)."""
    frame = with_checks(engine, surgeries(engine))
    days = frame["days_to_complication"]
    frame["y_surgery"] = days.between(0, HORIZON_DAYS).astype(int)
    frame["open_day3"] = ~days.between(0, SCORE_DAY)
    frame["y_day3"] = days.between(SCORE_DAY + 1, HORIZON_DAYS).astype(int)
    return frame


def _in(frame: pd.DataFrame, first: date | None, last: date) -> pd.DataFrame:
    on = frame["surgery_on"]
    return frame[(on <= last) & ((on >= first) if first else True)]


def fit_both(frame: pd.DataFrame, plan: Windows, config: PostopConfig) -> dict[str, PostopModel]:
    """The at-surgery and day-3 models, trained and calibrated on ``plan``'s windows."""
    train, cal = _in(frame, None, plan.train_end), _in(frame, *plan.calibration)
    train3, cal3 = train[train["open_day3"]], cal[cal["open_day3"]]
    return {"surgery": PostopModel(AT_SURGERY, config).fit(train, train["y_surgery"], cal, cal["y_surgery"]),
            "day3": PostopModel(AT_DAY3, config).fit(train3, train3["y_day3"], cal3, cal3["y_day3"])}


def evaluate_postop(engine: Engine, config: PostopConfig | None = None, truth: Path | None = None) -> dict:
    """Fit on the earlier windows and measure both scores on the never-seen test window;
    with ``truth`` (a synthetic chain's truth folder) also against the planted probabilities."""
    config = config or PostopConfig()
    end = data_end(engine)
    if end is None:
        raise PostopTrainingError("the warehouse has no post-op follow-up records: load the follow-up export "
                                  "(sources/followup) with `molar ingest` first / 尚未导入术后随访数据")
    plan = windows(end, config)
    frame = labelled(engine)
    models = fit_both(frame, plan, config)
    train, test = _in(frame, None, plan.train_end), _in(frame, *plan.test)
    result = {"data_end": end.isoformat(), "horizon_days": HORIZON_DAYS, "windows": plan.as_dict(),
              "rows": {"train": len(train), "calibration": len(_in(frame, *plan.calibration)), "test": len(test),
                       "test_complications": int(test["y_surgery"].sum())}}
    for moment, label, rows in (("surgery", "y_surgery", test), ("day3", "y_day3", test[test["open_day3"]])):
        y = rows[label].to_numpy()
        if len(set(y)) < 2:
            raise PostopTrainingError(f"every test surgery has the same outcome in {plan.test[0]}–{plan.test[1]}; "
                                      "the test window cannot rank anyone")
        fit = train if moment == "surgery" else train[train["open_day3"]]
        risk = models[moment].predict(rows)
        base_rate = _procedure_rate(fit, fit[label], rows)
        base_logit = _age_procedure_logistic(fit, fit[label], rows)
        result[moment] = {
            "surgeries": len(rows), "complications": int(y.sum()),
            **_scores(y, risk), "auc_uncalibrated": round(float(roc_auc_score(y, models[moment].predict_raw(rows))), 4),
            "calibration": models[moment].calibrator_["kind"],
            "auc_gain_vs_age_procedure_ci95": _auc_gain_ci(y, risk, base_logit, config.seed),
            "baselines": {"procedure_rate": _scores(y, base_rate), "age_procedure_logistic": _scores(y, base_logit)},
            "reliability": reliability(y, risk),
        }
        if truth is not None:
            result[moment]["truth"] = _against_truth(truth, rows, risk, label,
                                                     "p_surgery" if moment == "surgery" else "p_day3")
    return result


def _scores(y: np.ndarray, score: np.ndarray) -> dict:
    return {"auc": round(float(roc_auc_score(y, score)), 4), "brier": round(float(brier_score_loss(y, score)), 4),
            "top_decile_lift": top_decile_lift(y, np.asarray(score, dtype=float))}


def _procedure_rate(train: pd.DataFrame, y: pd.Series, rows: pd.DataFrame) -> np.ndarray:
    """Each procedure's complication rate in training (one pseudo-surgery at the overall rate added)."""
    overall = float(y.mean())
    rates = y.groupby(train["procedure"]).agg(["sum", "count"])
    rate = (rates["sum"] + overall) / (rates["count"] + 1)
    return rows["procedure"].map(rate).fillna(overall).to_numpy(dtype=float)


def _age_procedure_logistic(train: pd.DataFrame, y: pd.Series, rows: pd.DataFrame) -> np.ndarray:
    median_age = float(train["age_years"].median()) if train["age_years"].notna().any() else 0.0

    def x(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([frame["age_years"].fillna(median_age) / 10, frame[PROCEDURE_COLUMNS[1:]]])

    return LogisticRegression(max_iter=1000).fit(x(train), y).predict_proba(x(rows))[:, 1]


def _auc_gain_ci(y: np.ndarray, risk: np.ndarray, baseline: np.ndarray, seed: int) -> list[float]:
    """95 % bootstrap interval of the model's AUC minus the baseline's on the same resamples."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            gains.append(roc_auc_score(y[i], risk[i]) - roc_auc_score(y[i], baseline[i]))
    return [round(float(q), 4) for q in np.quantile(gains, [0.025, 0.975])]


def reliability(y: np.ndarray, risk: np.ndarray, groups: int = 5) -> list[dict]:
    """Predicted vs observed complication rate in groups of equal size by risk (a 5 % event
    rate puts nearly every surgery in one equal-width bin, so the groups are quantiles)."""
    order = np.argsort(risk, kind="stable")
    rows = []
    for part in np.array_split(order, groups):
        if part.size:
            rows.append({"risk_from": round(float(risk[part].min()), 4), "risk_to": round(float(risk[part].max()), 4),
                         "surgeries": int(part.size), "predicted": round(float(risk[part].mean()), 4),
                         "observed": round(float(y[part].mean()), 4)})
    return rows


def _against_truth(truth: Path, rows: pd.DataFrame, risk: np.ndarray, label: str, column: str) -> dict:
    """Correlation with the planted probability, and the planted probability's own AUC on the
    test outcomes: the best any model could reach on this window."""
    from molar.synth.truth import truth_file

    planted = pd.read_parquet(truth_file(truth, "postop.parquet"), columns=["case_id", column, "smoker"])
    joined = rows[["case_id", label]].assign(risk=risk).merge(planted, on="case_id")
    smokers = joined["smoker"].to_numpy()
    return {"surgeries": len(joined), "planted_auc": round(float(roc_auc_score(joined[label], joined[column])), 4),
            "pearson": round(float(pearsonr(joined["risk"], joined[column])[0]), 4),
            "spearman": round(float(spearmanr(joined["risk"], joined[column])[0]), 4),
            "mean_risk": {"smokers": round(float(joined["risk"][smokers].mean()), 4),
                          "non_smokers": round(float(joined["risk"][~smokers].mean()), 4)},
            "mean_planted": {"smokers": round(float(joined[column][smokers].mean()), 4),
                             "non_smokers": round(float(joined[column][~smokers].mean()), 4)}}
