"""Features of one slot in week t, built only from weeks a forecast made up to ``gap`` weeks
ahead could see (t − gap and before): the calendar of the day, the slot, and levels.

Levels (NaN where the history is too short): the slot's mean over the year before the gap,
its clinic × department's weekly total over the 8 weeks before the gap and over the year
before it (their ratio is the trend), and the same week a year earlier (seasonal lag), for
the slot and for its clinic × department. The share of school-holiday and rest days in the
8 recent weeks lets the model tell a level raised by a holiday from a lasting one. The
department's seasonal index is its chain-wide total in weeks t − 52 … t − 50
over its weekly mean in the year before the gap.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from molar.operations.calendar import COLUMNS as CALENDAR
from molar.operations.calendar import day_features
from molar.operations.series import Series

RECENT, LONG, SEASON = 8, 52, 52
NAMES = ["clinic", "department", "weekday", "hour", "week_of_year", "clinic_weeks", *CALENDAR,
         "slot_mean_year", "cd_recent", "cd_year", "cd_trend", "slot_lag_year", "cd_lag_year",
         "recent_school_share", "recent_rest_share", "dept_season"]
CATEGORICAL = ["clinic", "department"]


def _window_mean(grid: np.ndarray, t: np.ndarray, gap: int, length: int) -> np.ndarray:
    """Mean of the ``length`` columns ending with t − gap, per (row, week t); NaN when the
    window starts before the data."""
    csum = np.concatenate([np.zeros((grid.shape[0], 1)), np.cumsum(grid, axis=1)], axis=1)
    hi = np.minimum(t - gap + 1, grid.shape[1])
    lo = hi - length
    ok = lo >= 0
    out = np.full(t.shape, np.nan)
    rows = np.broadcast_to(np.arange(grid.shape[0])[:, None], t.shape)
    out[ok] = (csum[rows[ok], hi[ok]] - csum[rows[ok], lo[ok]]) / length
    return out


def _lag(grid: np.ndarray, t: np.ndarray, lag: int) -> np.ndarray:
    src = t - lag
    ok = (src >= 0) & (src < grid.shape[1])
    out = np.full(t.shape, np.nan)
    rows = np.broadcast_to(np.arange(grid.shape[0])[:, None], t.shape)
    out[ok] = grid[rows[ok], src[ok]]
    return out


def _recent_share(start, weeks: np.ndarray, gap: int, column: str) -> np.ndarray:
    """Per week index t, the share of days with ``column`` in the RECENT weeks ending with t − gap."""
    first = int(weeks.min()) - gap - RECENT + 1
    days = [start + timedelta(weeks=first, days=d) for d in range((int(weeks.max()) - gap + 1 - first) * 7)]
    daily = day_features(days)[column].to_numpy().reshape(-1, 7).mean(axis=1)
    return np.array([daily[w - gap + 1 - RECENT - first: w - gap + 1 - first].mean() for w in weeks])


def design(series: Series, measure: str, weeks: np.ndarray, gap: int, codes: dict[str, list[str]]) -> pd.DataFrame:
    """Rows for every slot × week index in ``weeks`` (indices may run past the series, for the
    future), with ``NAMES`` and ``slot``, ``t``; ``codes`` fixes the category codes."""
    grid = series.counts[measure]
    slots = series.slots
    n_slots = len(slots)
    t = np.broadcast_to(np.asarray(weeks)[None, :], (n_slots, len(weeks)))
    cd = slots.groupby(["clinic_id", "department"], sort=False).ngroup().to_numpy()
    cd_grid = np.zeros((cd.max() + 1, grid.shape[1]))
    np.add.at(cd_grid, cd, grid)
    cd_t = np.broadcast_to(np.arange(cd_grid.shape[0])[:, None], (cd_grid.shape[0], len(weeks)))
    cd_tt = np.broadcast_to(np.asarray(weeks)[None, :], cd_t.shape)
    cd_recent = _window_mean(cd_grid, cd_tt, gap, RECENT)[cd]
    cd_year = _window_mean(cd_grid, cd_tt, gap, LONG)[cd]
    dept = slots.groupby("department", sort=False).ngroup().to_numpy()
    dept_grid = np.zeros((dept.max() + 1, grid.shape[1]))
    np.add.at(dept_grid, dept, grid)
    dept_tt = np.broadcast_to(np.asarray(weeks)[None, :], (dept_grid.shape[0], len(weeks)))
    year_ago = _window_mean(dept_grid, dept_tt, SEASON - 2, 3)
    dept_year = _window_mean(dept_grid, dept_tt, gap, LONG)
    dept_season = np.divide(year_ago, dept_year, out=np.full(year_ago.shape, np.nan), where=dept_year > 0)[dept]
    start = series.weeks[0]
    week_start = [start + timedelta(weeks=int(w)) for w in weeks]
    first_active = np.argmax(series.active, axis=1)
    frame = pd.DataFrame({
        "slot": np.repeat(np.arange(n_slots), len(weeks)),
        "t": t.ravel(),
        "clinic": np.repeat(pd.Categorical(slots["clinic_id"], categories=codes["clinic"]).codes, len(weeks)),
        "department": np.repeat(pd.Categorical(slots["department"], categories=codes["department"]).codes,
                                len(weeks)),
        "weekday": np.repeat(slots["weekday"].to_numpy(), len(weeks)),
        "hour": np.repeat(slots["hour"].to_numpy(), len(weeks)),
        "clinic_weeks": (t - first_active[:, None]).ravel(),
        "slot_mean_year": _window_mean(grid, t, gap, LONG).ravel(),
        "cd_recent": cd_recent.ravel(),
        "cd_year": cd_year.ravel(),
        "slot_lag_year": _lag(grid, t, SEASON).ravel(),
        "cd_lag_year": _lag(cd_grid, cd_tt, SEASON)[cd].ravel(),
        "dept_season": dept_season.ravel(),
    })
    frame["cd_trend"] = frame["cd_recent"] / frame["cd_year"].where(frame["cd_year"] > 0)
    keys = [(w, d) for w in week_start for d in range(7)]
    cal = day_features(w + timedelta(days=d) for w, d in keys).reindex([w + timedelta(days=d) for w, d in keys])
    cal["week_of_year"] = [w.isocalendar().week for w, _ in keys]
    key = np.tile(np.arange(len(weeks)), n_slots) * 7 + frame["weekday"].to_numpy()
    for col in [*CALENDAR, "week_of_year"]:
        frame[col] = cal[col].to_numpy()[key]
    for col, name in (("school_holiday", "recent_school_share"), ("rest_day", "recent_rest_share")):
        frame[name] = np.repeat(_recent_share(start, np.asarray(weeks), gap, col)[None, :], n_slots, axis=0).ravel()
    return frame
