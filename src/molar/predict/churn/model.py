"""The churn model: LightGBM on cut-off features, calibrated on a later window, with
per-patient reasons from LightGBM's own feature contributions (``pred_contrib``).

Saved as LightGBM's text format inside a JSON record carrying the config, the feature list,
a hash of the training data, library versions and a SHA-256 of the model text; loading a
record that does not match raises ``ChurnModelError`` (nothing is unpickled).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import version

import lightgbm as lgb
import numpy as np
import pandas as pd

from molar.predict.calibration import calibrate, fit_calibrator, reasons_in_words
from molar.predict.churn.bands import band
from molar.predict.churn.features import FEATURES, NAMES

__all__ = ["ChurnConfig", "ChurnModel", "ChurnModelError", "ChurnTrainingError", "band"]


class ChurnTrainingError(ValueError):
    """Training is not possible on this data (the message says why and what to do)."""


class ChurnModelError(ValueError):
    """A saved churn model that cannot be used with this version of Molar."""


@dataclass(frozen=True)
class ChurnConfig:
    horizon_days: int = 180
    step_days: int = 60  # spacing of the training cut-offs
    train_cutoffs: int = 3
    rounds: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_rows: int = 200
    min_class_rows: int = 20
    seed: int = 7


def _check_trainable(y: pd.Series, config: ChurnConfig, what: str) -> None:
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if len(y) < config.min_rows or min(positives, negatives) < config.min_class_rows:
        raise ChurnTrainingError(
            f"too little history to train the churn model on the {what}: {len(y)} patient-cut-offs, "
            f"{positives} without a visit in the following {config.horizon_days} days and {negatives} with one "
            f"(need {config.min_rows} rows and {config.min_class_rows} of each); load more months of visits "
            "or shorten --horizon"
        )


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("lightgbm", "scikit-learn", "molar")}


def data_hash(x: pd.DataFrame, y: pd.Series) -> str:
    rows = pd.util.hash_pandas_object(pd.concat([x[NAMES], y.rename("label")], axis=1), index=False)
    return hashlib.sha256(rows.to_numpy().tobytes()).hexdigest()


class ChurnModel:
    """Fitted attributes: ``booster_``, ``calibrator_`` ({"kind", …}), ``data_hash_``."""

    def __init__(self, config: ChurnConfig | None = None) -> None:
        self.config = config or ChurnConfig()

    def fit(self, x_train: pd.DataFrame, y_train: pd.Series, x_cal: pd.DataFrame, y_cal: pd.Series) -> ChurnModel:
        c = self.config
        _check_trainable(y_train, c, "training cut-offs")
        _check_trainable(y_cal, ChurnConfig(**{**asdict(c), "min_rows": 50, "min_class_rows": 5}), "calibration cut-off")
        params = {"objective": "binary", "learning_rate": c.learning_rate, "num_leaves": c.num_leaves,
                  "min_data_in_leaf": 40, "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1,
                  "seed": c.seed, "deterministic": True, "num_threads": 2, "verbose": -1}
        self.booster_ = lgb.train(params, lgb.Dataset(x_train[NAMES], y_train, feature_name=NAMES), c.rounds)
        self.calibrator_ = fit_calibrator(self._raw(x_cal), y_cal)
        self.data_hash_ = data_hash(x_train, y_train)
        return self

    def _raw(self, x: pd.DataFrame) -> np.ndarray:
        return self.booster_.predict(x[NAMES])

    def predict_raw(self, x: pd.DataFrame) -> np.ndarray:
        """The uncalibrated LightGBM probability."""
        return self._raw(x)

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of no visit within the horizon."""
        return calibrate(self.calibrator_, self._raw(x))

    def reasons(self, x: pd.DataFrame, top: int = 3) -> list[list[dict]]:
        """Per patient, the features pushing the risk up most, with their value in words."""
        contrib = self.booster_.predict(x[NAMES], pred_contrib=True)[:, : len(NAMES)]
        return reasons_in_words(contrib, x[NAMES].to_numpy(), FEATURES, top)

    def to_record(self) -> dict:
        text = self.booster_.model_to_string()
        return {"config": asdict(self.config), "features": NAMES, "data_hash": self.data_hash_,
                "versions": _versions(), "calibration": self.calibrator_, "model_text": text,
                "model_sha256": hashlib.sha256(text.encode()).hexdigest()}

    @classmethod
    def from_record(cls, record: dict | str) -> ChurnModel:
        if isinstance(record, str):
            record = json.loads(record)
        text = record.get("model_text", "")
        if hashlib.sha256(text.encode()).hexdigest() != record.get("model_sha256"):
            raise ChurnModelError("the saved churn model's checksum does not match its text (altered or truncated); "
                                  "retrain with `molar churn score`")
        if record.get("features") != NAMES:
            raise ChurnModelError("the saved churn model was trained on other features than this version of Molar "
                                  "computes; retrain with `molar churn score`")
        saved = record.get("versions", {}).get("lightgbm", "?").split(".")[0]
        if saved != version("lightgbm").split(".")[0]:
            raise ChurnModelError(f"the saved churn model was written by LightGBM {record['versions']['lightgbm']}, "
                                  f"this is {version('lightgbm')}; retrain with `molar churn score`")
        model = cls(ChurnConfig(**record["config"]))
        model.booster_ = lgb.Booster(model_str=text)
        model.calibrator_ = record["calibration"]
        model.data_hash_ = record["data_hash"]
        return model

