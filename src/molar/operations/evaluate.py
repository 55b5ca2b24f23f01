"""Held-out evaluation of the demand forecast against two baselines, on any warehouse with
appointment history.

Layout, with n full weeks of history and W the horizon (8):

    test          weeks [n − W, n)       forecast by a model trained on weeks [0, n − W)
    calibration   weeks [n − 2W, n − W)  forecast by a model trained on weeks [0, n − 2W);
                                         its errors set the interval width (NB dispersion)

Baselines in the same run, per department and week (chain-wide totals): seasonal-naive (the
same week a year earlier) and the mean of the W weeks before the test. MASE scales by the
in-sample mean absolute error of the seasonal-naive forecast over the training weeks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from molar.operations.blocks import LEVELS, actual_block, at_level, predict_block
from molar.operations.features import SEASON
from molar.operations.model import ForecastConfig, dispersion, interval
from molar.operations.series import MEASURES, ForecastDataError, Series


def mape(y: np.ndarray, f: np.ndarray) -> float | None:
    """Mean absolute percentage error over the weeks with demand (%)."""
    ok = y > 0
    return round(float(np.mean(np.abs(y[ok] - f[ok]) / y[ok]) * 100), 2) if ok.any() else None


def smape(y: np.ndarray, f: np.ndarray) -> float:
    """Symmetric MAPE (%), 0 for a week where both are 0."""
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(2 * np.abs(y - f), denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)
    return round(float(np.mean(terms) * 100), 2)


def mase(y: np.ndarray, f: np.ndarray, history: np.ndarray, season: int = SEASON) -> float | None:
    """Mean absolute error over the in-sample seasonal-naive one (lag ``season``)."""
    if len(history) <= season:
        return None
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    return round(float(np.mean(np.abs(y - f)) / scale), 3) if scale > 0 else None


def coverage(frame: pd.DataFrame, alpha: float, level: float) -> float:
    lo, hi = interval(frame["expected"].to_numpy(), alpha, level)
    y = frame["actual"].to_numpy()
    return round(float(np.mean((y >= lo) & (y <= hi))), 4)


def required_weeks(config: ForecastConfig) -> int:
    return SEASON + 2 * config.weeks + 4


def evaluate_measure(full: Series, measure: str, config: ForecastConfig,
                     test_block: pd.DataFrame | None = None) -> dict:
    """Metrics of ``measure`` on the last ``config.weeks`` weeks; ``test_block`` reuses a
    prediction of those weeks already made (same origin, same config)."""
    n, w = len(full.weeks), config.weeks
    if n < required_weeks(config):
        raise ForecastDataError(
            f"too little history to evaluate the forecast: {n} full weeks of appointments up to {full.end}, "
            f"need {required_weeks(config)} (a year for the seasonal-naive baseline, {w} calibration and {w} "
            f"held-out weeks); load more months of the booking system's appointments / 预约历史不足{required_weeks(config)}周，无法评估")
    origin = n - w
    cal = predict_block(full, origin - w, measure, config)
    cal_actual = actual_block(full, origin - w, origin, measure)
    test = test_block if test_block is not None else predict_block(full, origin, measure, config)
    test_actual = actual_block(full, origin, n, measure)
    alphas = {lv: dispersion(*actual_expected(at_level(cal, cal_actual, lv)), config.level) for lv in LEVELS}
    result = {"measure": measure, "dispersion": {k: round(v, 4) for k, v in alphas.items()},
              "coverage": {lv: coverage(at_level(test, test_actual, lv), alphas[lv], config.level) for lv in LEVELS}}
    result["departments"] = _per_department(full, test, test_actual, origin, measure)
    dept = at_level(test, test_actual, "department")
    naive = _seasonal_naive(full, measure, origin, n)
    merged = dept.merge(naive, on=["department", "t"], how="left")
    y, f, s = merged["actual"].to_numpy(), merged["expected"].to_numpy(), merged["naive"].to_numpy()
    cd = at_level(test, test_actual, "clinic_department")
    result.update({"weeks_held_out": w, "test_weeks": [full.weeks[origin].isoformat(), full.weeks[-1].isoformat()],
                   "mape": mape(y, f), "smape": smape(y, f), "seasonal_naive_mape": mape(y, s),
                   "seasonal_naive_smape": smape(y, s),
                   "wape_clinic_department": round(float(np.abs(cd["actual"] - cd["expected"]).sum()
                                                         / max(cd["actual"].sum(), 1)), 4)})
    return result


def evaluate(full: Series, config: ForecastConfig) -> dict:
    """Both measures; the headline keys are the appointments' (coverage at clinic × department weeks)."""
    measures = {m: evaluate_measure(full, m, config) for m in MEASURES}
    head = measures["appointments"]
    return {"mape": head["mape"], "seasonal_naive_mape": head["seasonal_naive_mape"],
            "coverage_80": head["coverage"]["clinic_department"], "weeks_held_out": config.weeks,
            "data_end": full.end.isoformat(), "measures": measures}


def actual_expected(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["actual"].to_numpy(), frame["expected"].to_numpy()


def _department_weeks(full: Series, measure: str) -> pd.DataFrame:
    """Chain-wide weekly totals: departments × weeks."""
    grid = pd.DataFrame(full.counts[measure])
    grid["department"] = full.slots["department"].to_numpy()
    return grid.groupby("department").sum()


def _seasonal_naive(full: Series, measure: str, start: int, stop: int) -> pd.DataFrame:
    totals = _department_weeks(full, measure)
    rows = [{"department": d, "t": t, "naive": float(totals.loc[d, t - SEASON])}
            for d in totals.index for t in range(start, stop)]
    return pd.DataFrame(rows)


def _per_department(full: Series, test: pd.DataFrame, actual: pd.DataFrame, origin: int, measure: str) -> dict:
    totals = _department_weeks(full, measure)
    dept = at_level(test, actual, "department")
    out = {}
    for d, rows in dept.groupby("department"):
        rows = rows.sort_values("t")
        t = rows["t"].to_numpy()
        y, f = rows["actual"].to_numpy(), rows["expected"].to_numpy()
        history = totals.loc[d].to_numpy()[:origin]
        naive = totals.loc[d].to_numpy()[t - SEASON]
        recent = np.full(len(t), history[-len(t):].mean())
        out[d] = {"actual": float(y.sum()), "expected": round(float(f.sum()), 1),
                  "model": {"mape": mape(y, f), "smape": smape(y, f), "mase": mase(y, f, history)},
                  "seasonal_naive": {"mape": mape(y, naive), "smape": smape(y, naive), "mase": mase(y, naive, history)},
                  "recent_mean": {"mape": mape(y, recent), "smape": smape(y, recent), "mase": mase(y, recent, history)}}
    return out
