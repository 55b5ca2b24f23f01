"""The report's months and changes: parsing, the month before (across a new year), and how a
change is worded per locale."""

from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from molar.reports.monthly import ReportError, change, parse_month, previous_month
from molar.web.i18n import Locale


@given(st.dates(min_value=date(1901, 1, 1), max_value=date(2999, 12, 31)))
@example(date(2026, 1, 15))
@example(date(2026, 3, 31))
def test_the_month_before_is_the_month_that_ends_the_day_before_the_first(day):
    month = day.replace(day=1)
    before = previous_month(month)
    assert before.day == 1 and before < month
    assert date.fromordinal(month.toordinal() - 1).replace(day=1) == before


def test_january_s_month_before_is_december_of_the_year_before():
    assert previous_month(date(2026, 1, 1)) == date(2025, 12, 1)


@pytest.mark.parametrize("text", ["2026-10", " 2026-10 "])
def test_a_month_parses_to_its_first_day(text):
    assert parse_month(text) == date(2026, 10, 1)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "October", "2026-10-01", ""])
def test_anything_else_names_the_format(text):
    with pytest.raises(ReportError, match="YYYY-MM"):
        parse_month(text)


def test_changes_are_relative_or_in_points_and_absent_without_a_base():
    assert change(110, 100, "number") == pytest.approx(0.10)
    assert change(0.12, 0.10, "rate") == pytest.approx(0.02)
    assert change(5, 0, "number") is None and change(None, 3, "money") is None and change(3, None, "rate") is None


def test_changes_are_worded_per_locale():
    zh, en = Locale("zh-CN"), Locale("en")
    assert (en.change(0.1234, "number"), en.change(-0.05, "money"), en.change(None, "number")) == ("+12.3%", "-5.0%", "–")
    assert en.change(0.016, "rate") == "+1.6 pp"
    assert zh.change(-0.016, "rate") == "-1.6 个百分点"
