"""The churn model on data whose answer is known: reasons, saving and loading, failure
messages, and the evaluation metrics worked by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from molar.predict.churn.evaluate import flagged_shares, layout, reliability, top_decile_lift
from molar.predict.churn.features import NAMES
from molar.predict.churn.model import ChurnConfig, ChurnModel, ChurnModelError, ChurnTrainingError


def frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Churn is decided by days since the last visit alone (> 200 days); the rest is noise."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((n, len(NAMES))), columns=NAMES)
    x["days_since_last_visit"] = rng.integers(0, 400, n).astype(float)
    return x, (x["days_since_last_visit"] > 200).astype(int)


@pytest.fixture(scope="module")
def model() -> ChurnModel:
    x, y = frame(2000, 1)
    xc, yc = frame(1200, 2)
    return ChurnModel(ChurnConfig(rounds=60)).fit(x, y, xc, yc)


def test_ranks_and_calibrates_a_known_rule(model):
    x, y = frame(1000, 3)
    risk = model.predict(x)
    assert model.calibrator_["kind"] == "isotonic"  # 1,200 calibration rows
    assert risk[y == 1].min() > 0.9 and risk[y == 0].max() < 0.1


def test_reasons_name_the_deciding_feature_in_both_languages(model):
    x, _ = frame(1, 4)
    x.loc[0, "days_since_last_visit"] = 365
    top = model.reasons(x)[0][0]
    assert top["feature"] == "days_since_last_visit"
    assert top["en"] == "no visit for 365 days"
    assert top["zh"] == "已365天未就诊"


def test_saved_model_predicts_the_same_and_rejects_a_mismatch(model):
    record = json.loads(json.dumps(model.to_record()))
    x, _ = frame(50, 5)
    assert np.array_equal(ChurnModel.from_record(record).predict(x), model.predict(x))
    assert record["data_hash"] == model.data_hash_ and len(record["data_hash"]) == 64
    assert set(record["versions"]) == {"lightgbm", "scikit-learn", "molar"}

    tampered = {**record, "model_text": record["model_text"].replace("learning_rate", "learning_rata", 1)}
    with pytest.raises(ChurnModelError, match="checksum"):
        ChurnModel.from_record(tampered)
    with pytest.raises(ChurnModelError, match="other features"):
        ChurnModel.from_record({**record, "features": NAMES[:-1]})
    with pytest.raises(ChurnModelError, match="LightGBM 3.3.5"):
        ChurnModel.from_record({**record, "versions": {**record["versions"], "lightgbm": "3.3.5"}})


def test_single_class_or_too_few_rows_is_a_plain_error():
    x, _ = frame(500, 6)
    everyone_churns = pd.Series(np.ones(500, dtype=int))
    with pytest.raises(ChurnTrainingError, match="500 without a visit .* and 0 with one"):
        ChurnModel().fit(x, everyone_churns, x, everyone_churns)
    small, y = frame(50, 7)
    with pytest.raises(ChurnTrainingError, match="need 200 rows"):
        ChurnModel().fit(small, y, small, y)


def test_small_calibration_window_uses_platt_scaling():
    x, y = frame(1000, 8)
    xc, yc = frame(300, 9)
    assert ChurnModel(ChurnConfig(rounds=20)).fit(x, y, xc, yc).calibrator_["kind"] == "platt"


def test_layout_keeps_training_labels_before_the_test_window():
    from datetime import date, timedelta

    plan = layout(date(2026, 10, 31), ChurnConfig(horizon_days=180, step_days=60, train_cutoffs=3))
    assert plan.test == date(2026, 5, 4)
    assert plan.calibration == date(2025, 11, 5)
    assert plan.train == (date(2025, 9, 6), date(2025, 7, 8), date(2025, 5, 9))
    assert max(plan.train) + timedelta(days=180) < plan.test  # no training label sees the test window


def test_metrics_by_hand():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1] * 2)  # 6 of 20 churn
    score = np.array([0.95, 0.2, 0.1, 0.1, 0.3, 0.15, 0.05, 0.05, 0.5, 0.9] * 2)
    # top decile = the 2 highest scores (0.95, 0.95): both churn → 1.0 / 0.3
    assert top_decile_lift(y, score) == pytest.approx(3.333, abs=1e-3)
    shares = flagged_shares(y, score >= 0.5)  # flags 0.95, 0.5, 0.9 twice each
    assert shares == {"flagged_share": 0.3, "churners_flagged": round(4 / 6, 4), "stayers_flagged": round(2 / 14, 4),
                      "lift_flagged": round((4 / 6) / 0.3, 3)}
    rows = {r["bin"]: r for r in reliability(y, score)}
    assert rows["0.9–1.0"] == {"bin": "0.9–1.0", "patients": 4, "predicted": 0.925, "observed": 1.0}
    assert rows["0.0–0.1"]["patients"] == 4  # 0.05 ×4 (0.1 falls in the next bin)
