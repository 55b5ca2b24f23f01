"""Forecast features see only the weeks before the forecast origin."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from molar.operations.features import NAMES, design
from molar.operations.series import Series

WEEKS = tuple(pd.date_range("2024-03-04", periods=70, freq="7D").date)


def series(counts: np.ndarray) -> Series:
    slots = pd.DataFrame({"clinic_id": ["K1", "K1", "K2"], "department": ["general", "orthodontics", "general"],
                          "weekday": [0, 5, 2], "hour": [9, 10, 18]})
    return Series(slots, WEEKS, {"appointments": counts, "arrivals": counts}, np.ones(counts.shape, bool),
                  date(2025, 7, 6))


def test_counts_from_the_origin_on_do_not_move_any_feature():
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, size=(3, 70)).astype(float)
    codes = {"clinic": ["K1", "K2"], "department": ["general", "orthodontics"]}
    origin, gap = 60, 8
    before = design(series(counts), "appointments", np.arange(origin, origin + gap), gap, codes)
    later = counts.copy()
    later[:, origin:] = rng.poisson(30.0, size=(3, 70 - origin))
    after = design(series(later), "appointments", np.arange(origin, origin + gap), gap, codes)
    assert_frame_equal(before[NAMES], after[NAMES])
    # …while the last week before the origin is seen by the furthest week's levels.
    earlier = counts.copy()
    earlier[:, origin - 1] += 50
    moved = design(series(earlier), "appointments", np.arange(origin, origin + gap), gap, codes)
    furthest = moved["t"] == origin + gap - 1
    assert (moved.loc[furthest, "cd_recent"] > before.loc[furthest, "cd_recent"]).all()
    assert_frame_equal(moved.loc[~furthest, NAMES], before.loc[~furthest, NAMES])


def test_a_year_ago_is_the_same_week_last_year():
    counts = np.tile(np.arange(70, dtype=float), (3, 1))       # week t holds t
    codes = {"clinic": ["K1", "K2"], "department": ["general", "orthodontics"]}
    rows = design(series(counts), "appointments", np.array([60]), 8, codes)
    assert rows["slot_lag_year"].tolist() == [8.0, 8.0, 8.0]
    assert rows["slot_mean_year"].tolist() == [np.mean(np.arange(1, 53))] * 3   # the 52 weeks to 60 − 8
    assert rows["cd_recent"].tolist() == [np.mean(np.arange(45, 53)), np.mean(np.arange(45, 53)),
                                          np.mean(np.arange(45, 53))]
