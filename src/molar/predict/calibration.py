"""Calibrating a classifier's scores on a later window than it was trained on, and reading a
LightGBM score's reasons in words. Shared by the churn and post-op models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

ISOTONIC_MIN_ROWS = 1000  # below this isotonic overfits; Platt scaling instead


class Worded(Protocol):
    name: str
    en: str  # "{v}" is the patient's value
    zh: str


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_calibrator(raw: np.ndarray, y: np.ndarray | pd.Series) -> dict:
    """Isotonic on ``ISOTONIC_MIN_ROWS`` rows or more, else Platt scaling on the log-odds."""
    if len(y) >= ISOTONIC_MIN_ROWS:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, y)
        return {"kind": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    platt = LogisticRegression().fit(logit(raw).reshape(-1, 1), y)
    return {"kind": "platt", "coef": float(platt.coef_[0, 0]), "intercept": float(platt.intercept_[0])}


def calibrate(calibrator: dict, raw: np.ndarray) -> np.ndarray:
    if calibrator["kind"] == "isotonic":
        return np.interp(raw, calibrator["x"], calibrator["y"])
    return 1 / (1 + np.exp(-(calibrator["coef"] * logit(raw) + calibrator["intercept"])))


def reasons_in_words(contrib: np.ndarray, values: np.ndarray, features: Sequence[Worded], top: int = 3) -> list[list[dict]]:
    """Per row, the features pushing the score up most (``contrib``: LightGBM's ``pred_contrib``
    without the bias column), with the row's value in words."""
    out = []
    for row, vals in zip(contrib, values, strict=True):
        items = []
        for j in np.argsort(-row)[:top]:
            if row[j] <= 0 or np.isnan(vals[j]):
                continue
            f = features[j]
            items.append({"feature": f.name, "value": float(vals[j]), "contribution": round(float(row[j]), 3),
                          "en": f.en.format(v=vals[j]), "zh": f.zh.format(v=vals[j])})
        out.append(items)
    return out
