"""Dates as integer day numbers, with lookup tables for formatting and seasonality.

A *day number* is the number of days since 1970-01-01 (numpy ``datetime64[D]`` as int).
Formatting a million dates is a table lookup, not a million ``strftime`` calls.
"""

from __future__ import annotations

from datetime import date

import numpy as np

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
EXCEL_EPOCH_OFFSET = 25569  # Excel serial of 1970-01-01 (1900 date system)

# 正月初一 (Spring Festival) per year; clinics close from 除夕 for about a week.
SPRING_FESTIVAL: dict[int, date] = {
    2008: date(2008, 2, 7), 2009: date(2009, 1, 26), 2010: date(2010, 2, 14), 2011: date(2011, 2, 3),
    2012: date(2012, 1, 23), 2013: date(2013, 2, 10), 2014: date(2014, 1, 31), 2015: date(2015, 2, 19), 2016: date(2016, 2, 8),
    2017: date(2017, 1, 28), 2018: date(2018, 2, 16), 2019: date(2019, 2, 5),
    2020: date(2020, 1, 25), 2021: date(2021, 2, 12), 2022: date(2022, 2, 1),
    2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26),
    2029: date(2029, 2, 13), 2030: date(2030, 2, 3), 2031: date(2031, 1, 23),
    2032: date(2032, 2, 11), 2033: date(2033, 1, 31), 2034: date(2034, 2, 19),
    2035: date(2035, 2, 8), 2036: date(2036, 1, 28),
}


def day_number(d: date) -> int:
    return d.toordinal() - EPOCH_ORDINAL


def to_date(n: int) -> date:
    return date.fromordinal(int(n) + EPOCH_ORDINAL)


class Calendar:
    """Lookup tables for every day in ``[first, last]`` (inclusive day numbers)."""

    DATE_FORMATS = ("iso", "slash", "chinese", "compact")

    def __init__(self, first: date, last: date) -> None:
        self.first = day_number(first)
        self.last = day_number(last)
        days = np.arange(self.first, self.last + 1, dtype=np.int64)
        d64 = days.astype("datetime64[D]")
        years = d64.astype("datetime64[Y]").astype(np.int64) + 1970
        months = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
        doms = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        self.year = years.astype(np.int32)
        self.month = months.astype(np.int8)
        self.dom = doms.astype(np.int8)
        self.weekday = ((days + 3) % 7).astype(np.int8)  # 1970-01-01 was a Thursday; Monday = 0
        ys = years.tolist()
        ms = months.tolist()
        ds = doms.tolist()
        self.iso = np.array([f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in zip(ys, ms, ds, strict=True)], dtype=object)
        self.slash = np.array([f"{y}/{m}/{d}" for y, m, d in zip(ys, ms, ds, strict=True)], dtype=object)
        self.chinese = np.array([f"{y}年{m}月{d}日" for y, m, d in zip(ys, ms, ds, strict=True)], dtype=object)
        self.compact = np.array([f"{y:04d}{m:02d}{d:02d}" for y, m, d in zip(ys, ms, ds, strict=True)], dtype=object)
        self._formats = np.stack([self.iso, self.slash, self.chinese, self.compact])
        self.closed = np.zeros(days.size, dtype=bool)  # Spring Festival closure
        self.holiday = np.zeros(days.size, dtype=bool)  # public holidays (National Day etc.)
        for sf in SPRING_FESTIVAL.values():
            s = day_number(sf) - 1 - self.first
            self.closed[max(s, 0):max(min(s + 6, days.size), 0)] = True
        for y in range(int(years.min()), int(years.max()) + 1):
            for md, length in (((10, 1), 7), ((5, 1), 5), ((1, 1), 1)):
                s = day_number(date(y, *md)) - self.first
                if 0 <= s < days.size:
                    self.holiday[s:s + length] = True

    def __len__(self) -> int:
        return self.last - self.first + 1

    def idx(self, days: np.ndarray) -> np.ndarray:
        """Table index of day numbers (clipped into range)."""
        return np.clip(np.asarray(days, dtype=np.int64) - self.first, 0, len(self) - 1)

    def fmt(self, days: np.ndarray, style: np.ndarray | int = 0) -> np.ndarray:
        """Format day numbers; ``style`` indexes :attr:`DATE_FORMATS` (scalar or per row)."""
        i = self.idx(days)
        if np.isscalar(style):
            return self._formats[int(style)][i]
        return self._formats[np.asarray(style), i]

    def years_of(self, days: np.ndarray) -> np.ndarray:
        return self.year[self.idx(days)]


def excel_serial(days: np.ndarray, minutes: np.ndarray | None = None, seconds: np.ndarray | None = None) -> np.ndarray:
    """Excel 1900-system serial numbers for day numbers plus optional time of day."""
    s = np.asarray(days, dtype=np.float64) + EXCEL_EPOCH_OFFSET
    if minutes is not None:
        s = s + np.asarray(minutes, dtype=np.float64) / 1440.0
    if seconds is not None:
        s = s + np.asarray(seconds, dtype=np.float64) / 86400.0
    return s


def fmt_hms(seconds_of_day: np.ndarray) -> np.ndarray:
    """'HH:MM:SS' for seconds since midnight (table lookup over 86,400 values)."""
    return _HMS_TABLE[np.clip(np.asarray(seconds_of_day, dtype=np.int64), 0, 86399)]


_HMS_TABLE = np.array(
    [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)], dtype=object
)
