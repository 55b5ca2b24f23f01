"""Churn features and labels on hand-built patients, worked out by hand; and the leakage
guard: features at a cut-off do not move when later visits, bookings and texts arrive."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from molar.predict.churn.features import churn_features, labels
from unit.profile.crafted import (
    Booking,
    Chain,
    Charge,
    Patient,
    Text,
    Visit,
    at,
    fresh_warehouse,
    new_warehouse,
)

CUT = date(2026, 4, 30)


def day(offset: int) -> date:
    return CUT + timedelta(days=offset)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def regular(key: str, future: bool = False) -> Patient:
    """Visits 400, 200 and 20 days before the cut-off (cleanings at the last two), a no-show,
    a complaint, spend, and a booking made before the cut-off for a slot after it."""
    p = Patient(
        key,
        birth=date(1980, 1, 1),
        visits=[Visit(day(-400), ["EXM"], amount=100), Visit(day(-200), ["CLN"], amount=280),
                Visit(day(-20), ["CLN"], amount=300)],
        bookings=[Booking(at(day(-30)), status="no_show", channel="wechat"),
                  Booking(at(day(10)), status="booked", channel="phone", booked_at=at(day(-5)))],
        texts=[Text(at(day(-10)), "complaint", "等了一个小时")],
    )
    if future:  # everything that happens after the cut-off
        p.visits += [Visit(day(1), ["CLN"], amount=5000), Visit(day(40), ["IMP"], amount=9000)]
        p.charges += [Charge(day(2), 700)]
        p.bookings += [Booking(at(day(3)), status="no_show", booked_at=at(day(2))),
                       Booking(at(day(60)), status="cancelled", booked_at=at(day(1)))]
        p.texts += [Text(at(day(5)), "complaint", "服务态度很差")]
    return p


def test_features_by_hand(warehouse):
    chain = Chain([regular("A")]).build(warehouse)
    row = churn_features(warehouse, CUT).set_index("golden_id").loc[chain["A"]]
    assert row["days_since_last_visit"] == 20
    assert row["expected_interval_days"] == 190  # median of the 200- and 180-day gaps
    assert row["overdue_ratio"] == pytest.approx(20 / 190, abs=1e-3)
    assert row["last_gap_ratio"] == pytest.approx(180 / 190)
    assert (row["visit_days_365d"], row["visit_days_prev_365d"]) == (2, 1)
    assert (row["cleanings_365d"], row["cleanings_prev_365d"]) == (2, 0)
    assert row["spend_365d"] == 580
    assert row["tenure_days"] == 400
    assert row["has_upcoming_booking"] == 1
    assert (row["no_shows_365d"], row["cancellations_365d"]) == (1, 0)
    assert row["online_booking_share"] == 0.5  # one wechat, one phone booking
    assert row["complaints_365d"] == 1
    assert row["age_years"] == 46
    assert row["stage"] in {"growth", "mature"}  # has an upcoming booking, so not decline


def test_features_at_a_cutoff_ignore_everything_after_it(tmp_path):
    """Leakage guard: the same patient with and without a future gives identical features."""
    with new_warehouse(tmp_path / "a.duckdb") as base, new_warehouse(tmp_path / "b.duckdb") as later:
        Chain([regular("A")]).build(base)
        Chain([regular("A", future=True)]).build(later)
        before = churn_features(base, CUT)
        after = churn_features(later, CUT)
    assert before.equals(after)
    assert len(before) == 1


def test_labels_by_hand(warehouse):
    chain = Chain([
        Patient("back", visits=[Visit(day(-100)), Visit(day(50))]),  # returns within 180 days
        Patient("late", visits=[Visit(day(-100)), Visit(day(181))]),  # returns one day too late
        Patient("edge", visits=[Visit(day(-100)), Visit(day(180))]),  # on the last day of the window
        Patient("same_day", visits=[Visit(day(-100)), Visit(day(0))]),  # the cut-off day is history
        Patient("gone", visits=[Visit(day(-300))]),
    ]).build(warehouse)
    frame = churn_features(warehouse, CUT)
    got = dict(zip(frame["golden_id"], labels(warehouse, frame["golden_id"], CUT, 180), strict=True))
    assert got == {chain["back"]: 0, chain["late"]: 1, chain["edge"]: 0, chain["same_day"]: 1, chain["gone"]: 1}


def test_patients_without_a_visit_by_the_cutoff_are_not_scored(warehouse):
    chain = Chain([Patient("new", visits=[Visit(day(5))]), Patient("old", visits=[Visit(day(-5))])]).build(warehouse)
    assert list(churn_features(warehouse, CUT)["golden_id"]) == [chain["old"]]
