"""BG/NBD and Gamma-Gamma against the published CDNOW values and hand-worked customers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from molar.predict.clv import BetaGeoModel, ClvInputError, GammaGammaModel, summarise
from molar.predict.clv.data import daily_transactions

# Fader, Hardie & Lee (2005), CDNOW 1/10th sample, weeks.
CDNOW_BGNBD = (0.2426, 4.4136, 0.7929, 2.4259)


def published_bgnbd() -> BetaGeoModel:
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = CDNOW_BGNBD
    return model


def test_expected_visits_matches_the_papers_worked_example():
    # Section 5 of the BG/NBD paper: x = 2, t_x = 30.43, T = 38.86 → 1.226 purchases in 39 weeks.
    got = published_bgnbd().expected_visits(39, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert got[0] == pytest.approx(1.226, abs=0.001)


def test_probability_alive_by_hand():
    model = published_bgnbd()
    # No repeat visit: the model cannot have seen a dropout, so P(alive) = 1.
    assert model.probability_alive(np.array([0.0]), np.array([0.0]), np.array([30.0]))[0] == 1.0
    # x = 1, t_x = 10, T = 30: 1 / (1 + a/(b+x-1) · ((α+T)/(α+t_x))^(r+x))
    # = 1 / (1 + 0.7929/2.4259 · (34.4136/14.4136)^1.2426) = 1 / (1 + 0.32685 · 2.9494) = 0.50917
    assert model.probability_alive(np.array([1.0]), np.array([10.0]), np.array([30.0]))[0] == pytest.approx(0.50917, abs=2e-4)


def test_gamma_gamma_expected_spend_by_hand():
    model = GammaGammaModel()
    model.p_, model.q_, model.v_ = 6.25, 3.74, 15.44
    model.population_mean_ = 6.25 * 15.44 / 2.74
    # p(γ + x·m) / (p·x + q − 1) = 6.25 · (15.44 + 20) / (6.25 + 2.74) = 24.638
    # and with no repeat visit the population mean p·γ/(q − 1) = 35.219
    got = model.expected_spend(np.array([1.0, 0.0]), np.array([20.0, 0.0]))
    assert got == pytest.approx([24.638, 35.219], abs=1e-3)


def test_same_day_purchases_are_one_visit_and_repeat_spend_excludes_the_first():
    raw = pd.DataFrame({
        "customer": ["A", "A", "A", "A", "B"],
        "date": ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-22", "2024-01-15"],
        "amount": ["10", "5", "20", "40", "7"],
    })
    s = summarise(daily_transactions(raw), date(2024, 1, 29), "W")
    assert list(s.customers) == ["A", "B"]
    assert list(s.frequency) == [2, 0]  # A: three visit days → two repeats
    assert list(s.recency) == [3, 0]  # 21 days
    assert list(s.age) == [4, 2]  # 28 and 14 days to the calibration end
    assert list(s.monetary) == [30, 0]  # (20 + 40) / 2; the 10 + 5 first visit is left out


def test_holdout_visits_are_counted_after_the_calibration_end():
    raw = pd.DataFrame({"customer": ["A"] * 4, "date": ["2024-01-01", "2024-01-10", "2024-01-11", "2024-01-11"],
                        "amount": [1, 1, 1, 1]})
    s = summarise(daily_transactions(raw), date(2024, 1, 5), "D")
    assert list(s.frequency) == [0]
    assert list(s.holdout_frequency) == [2]  # two days, the 11th counted once
    assert s.holdout_length == 6


def test_one_time_customers_only_cannot_be_fitted():
    with pytest.raises(ClvInputError, match="single visit"):
        BetaGeoModel().fit(np.zeros(5), np.zeros(5), np.full(5, 10.0))


def test_unreadable_date_names_the_row():
    raw = pd.DataFrame({"customer": ["A", "B"], "date": ["2024-01-01", "yesterday"], "amount": ["1", "2"]})
    with pytest.raises(ClvInputError, match=r"data row 2 \('yesterday'\)"):
        daily_transactions(raw)
