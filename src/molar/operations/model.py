"""The demand model: LightGBM with a Poisson objective on slot × week rows, and negative
binomial prediction intervals whose dispersion is measured on weeks the model did not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import nbinom, poisson

from molar.operations.features import CATEGORICAL, NAMES


@dataclass(frozen=True)
class ForecastConfig:
    weeks: int = 8             # forecast horizon; also the weeks held out to measure the intervals
    rounds: int = 150
    learning_rate: float = 0.08
    num_leaves: int = 31
    min_train_weeks: int = 26  # weeks of history the model needs before the held-out weeks
    level: float = 0.8         # nominal coverage of the prediction interval
    seed: int = 7


class DemandModel:
    """Fitted attribute: ``booster_``."""

    def __init__(self, config: ForecastConfig | None = None) -> None:
        self.config = config or ForecastConfig()

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> DemandModel:
        c = self.config
        params = {"objective": "poisson", "learning_rate": c.learning_rate, "num_leaves": c.num_leaves,
                  "min_data_in_leaf": 50, "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1,
                  "seed": c.seed, "deterministic": True, "num_threads": 1, "max_bin": 63, "verbose": -1}
        data = lgb.Dataset(x[NAMES], y, feature_name=NAMES, categorical_feature=CATEGORICAL)
        self.booster_ = lgb.train(params, data, c.rounds)
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Expected count per row."""
        return self.booster_.predict(x[NAMES])


ALPHAS = np.concatenate([[0.0], np.geomspace(1e-4, 10, 81)])


def dispersion(y: np.ndarray, mean: np.ndarray, level: float = 0.8) -> float:
    """Negative binomial α (variance = μ + α μ²) for intervals: the smallest α on a grid whose
    central ``level`` intervals hold at least ``level`` of the out-of-sample counts ``y``
    (0, Poisson, when Poisson intervals already do). Set by coverage rather than by moments,
    so a few badly missed weeks (an unusual holiday) do not widen every interval."""
    for alpha in ALPHAS:
        lo, hi = interval(mean, alpha, level)
        if np.mean((y >= lo) & (y <= hi)) >= level:
            return float(alpha)
    return float(ALPHAS[-1])


def interval(mean: np.ndarray, alpha: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of NB(μ, α) (Poisson when α = 0), in whole counts."""
    q = ((1 - level) / 2, (1 + level) / 2)
    mean = np.maximum(mean, 1e-9)
    if alpha <= 0:
        return poisson.ppf(q[0], mean), poisson.ppf(q[1], mean)
    n = 1 / alpha
    p = n / (n + mean)
    return nbinom.ppf(q[0], n, p), nbinom.ppf(q[1], n, p)
