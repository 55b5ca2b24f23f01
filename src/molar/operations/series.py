"""Weekly demand per slot, read from the booking system's appointments.

A *slot* is clinic × department × weekday × hour; its *weekly series* counts, per
Monday-to-Sunday week, the appointments whose slot starts in that hour (``appointments``:
every booking, whatever became of it — the demand as booked) and those with status
``arrived`` (``arrivals``). Visits without a booking have no time of day in the HIS exports
and are not in the slot series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from molar.warehouse import Engine

MEASURES = ("appointments", "arrivals")
SLOT = ("clinic_id", "department", "weekday", "hour")


class ForecastDataError(ValueError):
    """The warehouse cannot support a forecast (the message says why and what to do)."""


@dataclass(frozen=True)
class Series:
    """Slot × week counts. ``counts[m]`` is a (slots × weeks) array; ``weeks[0]`` is a Monday;
    ``active[s, t]`` is False before the slot's clinic had its first appointment."""

    slots: pd.DataFrame
    weeks: tuple[date, ...]
    counts: dict[str, np.ndarray]
    active: np.ndarray
    end: date

    def upto(self, n_weeks: int) -> Series:
        """The first ``n_weeks`` weeks only, keeping slots seen in them."""
        seen = (self.counts["appointments"][:, :n_weeks] > 0).any(axis=1)
        return Series(self.slots[seen].reset_index(drop=True), self.weeks[:n_weeks],
                      {m: c[seen, :n_weeks] for m, c in self.counts.items()}, self.active[seen, :n_weeks],
                      self.weeks[n_weeks - 1] + timedelta(days=6))


def data_end(engine: Engine) -> date | None:
    """The last day the exports cover: the latest visit, else the latest booking made."""
    end = engine.scalar("SELECT max(visit_date) FROM std.visit")
    if end is None:
        end = engine.scalar("SELECT max(booked_at)::DATE FROM std.appointment")
    return end


def load_series(engine: Engine, end: date | None = None) -> Series:
    """Full weeks up to ``end`` (default: :func:`data_end`)."""
    end = end or data_end(engine)
    if end is None:
        raise ForecastDataError("the warehouse has no appointments or visits: load the booking system's "
                                "appointment exports with `molar ingest` first / 仓库中没有预约数据，请先导入预约记录")
    last_monday = end - timedelta(days=end.weekday() + (0 if end.weekday() == 6 else 7))
    rows = engine.arrow(
        """SELECT clinic_id, department, isodow(slot_start)::INT - 1 AS weekday, hour(slot_start)::INT AS hour,
                  date_trunc('week', slot_start)::DATE AS week,
                  count(*) AS appointments, count(*) FILTER (WHERE status = 'arrived') AS arrivals
           FROM std.appointment
           WHERE slot_start < ?::DATE + 7 AND clinic_id IS NOT NULL AND department IS NOT NULL
           GROUP BY ALL""",
        [last_monday],
    ).to_pandas()
    if rows.empty:
        raise ForecastDataError(f"no appointments with a clinic and department before {end}: load the booking "
                                "system's appointment exports with `molar ingest` first / 没有可用的预约记录")
    first = rows["week"].min()
    first_monday = first if first.weekday() == 0 else first + timedelta(days=7 - first.weekday())
    rows = rows[rows["week"] >= first_monday]
    weeks = tuple(first_monday + timedelta(weeks=k) for k in range((last_monday - first_monday).days // 7 + 1))
    slots = rows[list(SLOT)].drop_duplicates().sort_values(list(SLOT)).reset_index(drop=True)
    slot_index = pd.MultiIndex.from_frame(slots)
    s = slot_index.get_indexer(pd.MultiIndex.from_frame(rows[list(SLOT)]))
    t = np.array([(w - first_monday).days // 7 for w in rows["week"]])
    counts = {}
    for m in MEASURES:
        grid = np.zeros((len(slots), len(weeks)))
        np.add.at(grid, (s, t), rows[m].to_numpy())
        counts[m] = grid
    opened = rows.groupby("clinic_id")["week"].min()
    clinic_start = slots["clinic_id"].map(lambda c: (opened[c] - first_monday).days // 7).to_numpy()
    active = np.arange(len(weeks))[None, :] >= clinic_start[:, None]
    return Series(slots, weeks, counts, active, end)
