"""Forecast error measures and interval widths on numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from molar.operations.evaluate import mape, mase, smape
from molar.operations.model import dispersion, interval


def test_mape_skips_weeks_without_demand_and_smape_counts_them():
    y, f = np.array([10.0, 0.0, 20.0]), np.array([12.0, 3.0, 15.0])
    assert mape(y, f) == pytest.approx((0.2 + 0.25) / 2 * 100)
    assert smape(y, f) == pytest.approx((4 / 22 + 2 + 10 / 35) / 3 * 100, abs=0.01)
    assert mape(np.zeros(2), np.ones(2)) is None


def test_mase_scales_by_the_in_sample_seasonal_naive_error():
    history = np.array([1.0, 2, 3, 5, 4, 7])          # season 2: |3−1|, |5−2|, |4−3|, |7−5| → mean 2
    assert mase(np.array([8.0, 6]), np.array([7.0, 9]), history, season=2) == pytest.approx((1 + 3) / 2 / 2)
    assert mase(np.array([1.0]), np.array([1.0]), history[:2], season=2) is None


def test_dispersion_is_zero_for_poisson_noise_and_recovers_a_negative_binomial():
    rng = np.random.default_rng(3)
    mean = np.full(20_000, 30.0)
    assert dispersion(rng.poisson(mean).astype(float), mean) < 0.005
    alpha = 0.25                                     # NB with n = 4, p = n / (n + μ)
    y = rng.negative_binomial(4, 4 / (4 + 30.0), size=20_000).astype(float)
    assert dispersion(y, mean) == pytest.approx(alpha, rel=0.15)


def test_a_few_wild_misses_do_not_widen_every_interval():
    rng = np.random.default_rng(5)
    mean = np.full(1_000, 30.0)
    y = rng.poisson(mean).astype(float)
    y[:50] = 0.0                                     # 5 % of weeks missed completely (a holiday not modelled)
    assert dispersion(y, mean) < 0.01


def test_intervals_cover_their_nominal_share_of_draws():
    rng = np.random.default_rng(4)
    mean = np.full(20_000, 40.0)
    lo, hi = interval(mean, 0.0, 0.8)
    y = rng.poisson(mean)
    assert 0.8 <= np.mean((y >= lo) & (y <= hi)) <= 0.86      # whole counts: at least the nominal share
    lo, hi = interval(mean, 0.25, 0.8)
    y = rng.negative_binomial(4, 4 / 44, size=20_000)
    assert 0.8 <= np.mean((y >= lo) & (y <= hi)) <= 0.86
