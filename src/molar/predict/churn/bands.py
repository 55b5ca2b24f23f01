"""Churn-risk bands: the one definition the stored band, the tag and the rule trigger share."""

from __future__ import annotations

HIGH = "high"  # entering it from a lower band is the `churn_risk.high` rule trigger
BANDS = ((0.7, HIGH), (0.4, "medium"), (0.0, "low"))


def band(risk: float) -> str:
    return next(name for floor, name in BANDS if risk >= floor)
