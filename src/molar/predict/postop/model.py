"""The post-op risk model: LightGBM on one moment's features (at surgery or at day 3),
calibrated on a later window, with per-patient reasons from LightGBM's feature contributions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from molar.predict.calibration import calibrate, fit_calibrator, reasons_in_words
from molar.predict.postop.features import Feature, flag_reasons


class PostopTrainingError(ValueError):
    """Training is not possible on this data (the message says why and what to do)."""


@dataclass(frozen=True)
class PostopConfig:
    test_days: int = 150  # surgeries in the test window (its labels end at the data's last day)
    calibration_days: int = 150
    rounds: int = 150
    learning_rate: float = 0.03
    num_leaves: int = 7
    min_data_in_leaf: int = 20
    min_rows: int = 100
    min_events: int = 10
    seed: int = 7


def check_trainable(y: pd.Series | np.ndarray, config: PostopConfig, what: str, scale: float = 1.0) -> None:
    events, rows = int(np.sum(y)), len(y)
    need_rows, need_events = int(config.min_rows * scale), max(3, int(config.min_events * scale))
    if rows < need_rows or events < need_events or rows - events < need_events:
        raise PostopTrainingError(
            f"too few surgeries to train the post-op model on the {what}: {rows} surgeries, {events} with a "
            f"complication (need {need_rows} and {need_events}); load more months of the follow-up export "
            "(sources/followup) / 术后随访数据不足，请导入更长时间的随访记录")


class PostopModel:
    """Fitted attributes: ``booster_``, ``calibrator_``."""

    def __init__(self, features: Sequence[Feature], config: PostopConfig | None = None) -> None:
        self.features = tuple(features)
        self.names = [f.name for f in self.features]
        self.config = config or PostopConfig()

    def fit(self, x_train: pd.DataFrame, y_train: pd.Series, x_cal: pd.DataFrame, y_cal: pd.Series) -> PostopModel:
        c = self.config
        check_trainable(y_train, c, "training window")
        check_trainable(y_cal, c, "calibration window", scale=0.5)
        params = {"objective": "binary", "learning_rate": c.learning_rate, "num_leaves": c.num_leaves,
                  "min_data_in_leaf": c.min_data_in_leaf, "feature_fraction": 0.9, "bagging_fraction": 0.9,
                  "bagging_freq": 1, "lambda_l2": 1.0, "seed": c.seed, "deterministic": True, "num_threads": 2,
                  "monotone_constraints": [f.direction for f in self.features], "verbose": -1}
        data = lgb.Dataset(x_train[self.names], y_train, feature_name=self.names)
        self.booster_ = lgb.train(params, data, c.rounds)
        self.calibrator_ = fit_calibrator(self.predict_raw(x_cal), y_cal)
        return self

    def predict_raw(self, x: pd.DataFrame) -> np.ndarray:
        """The uncalibrated LightGBM probability."""
        return self.booster_.predict(x[self.names])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a complication within 30 days."""
        return calibrate(self.calibrator_, self.predict_raw(x))

    def reasons(self, x: pd.DataFrame, top: int = 3) -> list[list[dict]]:
        contrib = self.booster_.predict(x[self.names], pred_contrib=True)[:, : len(self.names)]
        words = flag_reasons(reasons_in_words(contrib, x[self.names].to_numpy(), self.features, top + 2))
        return [row[:top] for row in words]
