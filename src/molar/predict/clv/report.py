"""Calibration/holdout check of a fitted BG/NBD: predicted vs actual holdout visits."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from molar.predict.clv.bgnbd import BetaGeoModel
from molar.predict.clv.data import Summary

TOP_BUCKET = 7  # calibration repeat visits of 7 or more share one row


def holdout_report(model: BetaGeoModel, summary: Summary, covariates: np.ndarray | None = None) -> dict:
    """Per calibration-frequency bucket: customers, mean actual and predicted holdout visits;
    plus the mean absolute error per customer. Empty when there is no holdout period."""
    if summary.holdout_length <= 0:
        return {"holdout_length": 0.0, "unit": summary.unit, "buckets": [], "mae_per_customer": None}
    predicted = model.expected_visits(summary.holdout_length, summary.frequency, summary.recency, summary.age,
                                      covariates)
    actual = summary.holdout_frequency
    bucket = np.minimum(summary.frequency, TOP_BUCKET).astype(int)
    rows = []
    for b in range(TOP_BUCKET + 1):
        sel = bucket == b
        if sel.any():
            rows.append({
                "calibration_repeat_visits": f"{b}+" if b == TOP_BUCKET else str(b),
                "customers": int(sel.sum()),
                "actual": round(float(actual[sel].mean()), 4),
                "predicted": round(float(predicted[sel].mean()), 4),
            })
    return {
        "holdout_length": round(summary.holdout_length, 4),
        "unit": summary.unit,
        "buckets": rows,
        "mae_per_customer": round(float(np.abs(predicted - actual).mean()), 4),
        "total_actual": int(actual.sum()),
        "total_predicted": round(float(predicted.sum()), 1),
    }


def covariate_comparison(plain: BetaGeoModel, with_covariates: BetaGeoModel, summary: Summary) -> dict:
    """The model without covariates beside the one with: its log-likelihood, the
    likelihood-ratio test of the covariates (χ² on 3 parameters per 0/1 column) and its
    holdout error, so the covariates show what they add on the same data."""
    extra = 3 * len(with_covariates.covariate_names_)
    statistic = max(0.0, 2 * (with_covariates.log_likelihood_ - plain.log_likelihood_))
    return {"log_likelihood": plain.log_likelihood_, "likelihood_ratio": round(statistic, 3),
            "extra_parameters": extra, "p_value": float(chi2.sf(statistic, extra)),
            "mae_per_customer": holdout_report(plain, summary)["mae_per_customer"]}
