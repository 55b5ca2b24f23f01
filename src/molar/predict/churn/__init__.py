"""Churn risk: will a patient make no visit in the next H days? Features known at a cut-off,
LightGBM trained on earlier cut-offs, calibrated on a later window, tested on one never seen."""

from molar.predict.churn.features import FEATURES, churn_features, labels

__all__ = ["FEATURES", "churn_features", "labels"]
