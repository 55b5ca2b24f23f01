"""Calendar features of a day in mainland China: official days off and make-up working days
(`chinese-calendar`), the Spring Festival, and school holidays (an approximation).

School holidays are not published nationally; Chengdu's schools break roughly two weeks
before the Spring Festival until two and a half weeks after it, and from early July to the
end of August. Those windows are the approximation used here (``SCHOOL_*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar
import pandas as pd

SCHOOL_WINTER = (-14, 17)          # days around the first day of the Spring Festival
SCHOOL_SUMMER = ((7, 5), (8, 31))  # (month, day) first and last day
FESTIVAL_WINDOW = 28               # days either side of the Spring Festival that get an offset
COLUMNS = ("rest_day", "public_holiday", "makeup_workday", "festival_offset", "school_holiday")


def _festival_starts() -> dict[int, date]:
    """First official day off of each year's Spring Festival, as chinese-calendar knows it."""
    starts: dict[int, date] = {}
    for day, name in chinese_calendar.holidays.items():
        if name == chinese_calendar.Holiday.spring_festival.value and day.month <= 3:
            starts[day.year] = min(starts.get(day.year, day), day)
    return starts


FESTIVAL_STARTS = _festival_starts()
KNOWN_YEARS = (min(d.year for d in chinese_calendar.holidays), max(d.year for d in chinese_calendar.holidays))


def known(day: date) -> bool:
    """Whether chinese-calendar has the official schedule for this day's year."""
    return KNOWN_YEARS[0] <= day.year <= KNOWN_YEARS[1]


def _festival_offset(day: date) -> float:
    offsets = [(day - start).days for year, start in FESTIVAL_STARTS.items() if abs(year - day.year) <= 1]
    near = [o for o in offsets if -FESTIVAL_WINDOW <= o <= FESTIVAL_WINDOW]
    return float(min(near, key=abs)) if near else float("nan")


def _school_holiday(day: date, offset: float) -> bool:
    (m0, d0), (m1, d1) = SCHOOL_SUMMER
    if date(day.year, m0, d0) <= day <= date(day.year, m1, d1):
        return True
    return offset == offset and SCHOOL_WINTER[0] <= offset <= SCHOOL_WINTER[1]


def day_features(days: Iterable[date]) -> pd.DataFrame:
    """One row per day (index ``day``) with ``COLUMNS``; days of years chinese-calendar does
    not cover fall back to weekends only (no official holidays, no festival)."""
    rows = []
    for day in sorted(set(days)):
        if known(day):
            holiday = day in chinese_calendar.holidays
            makeup = day in chinese_calendar.workdays
            rest = not chinese_calendar.is_workday(day)
        else:
            holiday, makeup, rest = False, False, day.weekday() >= 5
        offset = _festival_offset(day)
        rows.append({"day": day, "rest_day": int(rest), "public_holiday": int(holiday),
                     "makeup_workday": int(makeup), "festival_offset": offset,
                     "school_holiday": int(_school_holiday(day, offset))})
    return pd.DataFrame(rows, columns=["day", *COLUMNS]).set_index("day")


def unknown_years(start: date, days: int) -> list[int]:
    """Years in [start, start + days) that chinese-calendar has no official schedule for."""
    return sorted({d.year for d in (start + timedelta(n) for n in range(days)) if not known(d)})
