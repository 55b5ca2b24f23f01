"""Calendar features against the State Council's published holiday schedules."""

from __future__ import annotations

import math
from datetime import date

from molar.operations.calendar import day_features, unknown_years


def features(day: date) -> dict:
    return day_features([day]).loc[day].to_dict()


def test_national_day_is_a_public_holiday_and_its_makeup_sunday_a_workday():
    # 2025: 1–8 October off; Sunday 28 September and Saturday 11 October are working days.
    assert features(date(2025, 10, 3)) | {"festival_offset": 0} == {
        "rest_day": 1, "public_holiday": 1, "makeup_workday": 0, "festival_offset": 0, "school_holiday": 0}
    assert features(date(2025, 9, 28))["rest_day"] == 0
    assert features(date(2025, 9, 28))["makeup_workday"] == 1
    assert features(date(2025, 10, 11))["makeup_workday"] == 1


def test_spring_festival_offsets_and_the_winter_school_break():
    # 2026: Spring Festival days off 15–23 February (New Year's Day of the lunar year: 17 February).
    assert features(date(2026, 2, 15))["festival_offset"] == 0
    assert features(date(2026, 2, 10))["festival_offset"] == -5
    assert features(date(2026, 2, 17))["public_holiday"] == 1
    assert features(date(2026, 2, 5))["school_holiday"] == 1       # 10 days before: schools are out
    assert features(date(2026, 3, 10))["school_holiday"] == 0      # 23 days after: back at school
    assert math.isnan(features(date(2026, 5, 20))["festival_offset"])


def test_an_ordinary_wednesday_and_a_summer_weekend():
    assert features(date(2026, 4, 15)) | {"festival_offset": 0} == {
        "rest_day": 0, "public_holiday": 0, "makeup_workday": 0, "festival_offset": 0, "school_holiday": 0}
    summer_saturday = features(date(2026, 7, 18))
    assert (summer_saturday["rest_day"], summer_saturday["public_holiday"], summer_saturday["school_holiday"]) == (1, 0, 1)
    assert features(date(2025, 10, 4))["public_holiday"] == 1       # a Saturday inside the National Day days off


def test_years_without_an_official_schedule_fall_back_to_weekends():
    # chinese-calendar 1.11 knows up to 2026; 2027's Spring Festival is not modelled.
    assert unknown_years(date(2026, 12, 14), 56) == [2027]
    assert features(date(2027, 1, 1))["public_holiday"] == 0
    assert features(date(2027, 1, 2))["rest_day"] == 1              # a Saturday
    assert unknown_years(date(2026, 9, 7), 56) == []
