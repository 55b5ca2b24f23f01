"""Lifecycle stages on crafted timelines with known answers, and the transitions recorded
when the profile is recomputed at successive dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from molar.profile.inputs import build_inputs
from molar.profile.lifecycle import LifecycleConfig, compute_lifecycle
from unit.profile.crafted import (
    AS_OF,
    Booking,
    Chain,
    Patient,
    Text,
    Visit,
    ago,
    at,
    fresh_warehouse,
    published,
    run_profile,
)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def stages(engine, as_of: date = AS_OF, config: LifecycleConfig | None = None) -> dict[str, dict]:
    """Stage of every golden ID as of ``as_of`` (computed, not published)."""
    build_inputs(engine, as_of)
    compute_lifecycle(engine, as_of, "test", config)
    return {r["golden_id"]: r for r in engine.arrow("SELECT * FROM stages").to_pylist()}


def every(days: int, last: int, n: int, **visit) -> list[Visit]:
    """``n`` visits ``days`` apart, the latest ``last`` days before AS_OF."""
    return [Visit(ago(last + days * k), ["CHK"], **visit) for k in range(n)]


def test_stages_on_crafted_timelines(warehouse):
    chain = Chain([
        Patient("never"),
        Patient("new", visits=[Visit(ago(30), ["CHK"])]),
        # 8 months a patient, coming every ~4 months
        Patient("eight_months", visits=[Visit(ago(240), ["CHK"]), Visit(ago(120), ["CLN"]), Visit(ago(10), ["CHK"])]),
        # two-year regular every 180 days, last visit 100 days ago, steady spending
        Patient("regular", visits=every(180, 100, 5, amount=300)),
        # the same rhythm, 144 days since the last visit (0.8×) and a complaint → one warning sign
        Patient("overdue_complaint", visits=every(180, 144, 5),
                texts=[Text(at(ago(20)), "complaint", "上次补的牙又掉了，很不满意")]),
        # a complaint but only 90 days since the last visit (0.5×): not enough on its own
        Patient("early_complaint", visits=every(180, 90, 5), texts=[Text(at(ago(20)), "complaint", "收费太贵")]),
        # two warning signs at any time: talk of moving away and a cancelled booking
        Patient("moving", visits=every(180, 30, 5),
                texts=[Text(at(ago(15)), "neutral", "我搬家了，离你们有点远")],
                bookings=[Booking(at(ago(40)), status="cancelled")]),
        # spend 600 in the last 12 months against 2000 the 12 before: −70 %
        Patient("spend_down", visits=[Visit(ago(60), ["CHK"], amount=300), Visit(ago(240), ["CLN"], amount=300),
                                      Visit(ago(420), ["CHK"], amount=1000), Visit(ago(600), ["CLN"], amount=1000),
                                      Visit(ago(780), ["CHK"])]),
        # spend up 50 % on the previous 12 months: still growing
        Patient("spend_up", visits=[Visit(ago(60), ["CHK"], amount=900), Visit(ago(240), ["CLN"], amount=600),
                                    Visit(ago(420), ["CHK"], amount=500), Visit(ago(600), ["CLN"], amount=500),
                                    Visit(ago(780), ["CHK"])]),
    ]).build(warehouse)
    got = stages(warehouse)
    summary = {p.key: (got[p.golden_id]["stage"], got[p.golden_id]["reason"]) for p in chain.patients}
    assert summary == {
        "never": ("acquisition", "no visit yet"),
        "new": ("acquisition", "first visit 30 days ago, 1 visit day(s)"),
        "eight_months": ("growth", "patient for 240 days"),
        "regular": ("mature", "regular for 820 days, last visit 100 days ago"),
        "overdue_complaint": ("decline", "no visit for 144 days, 0.8× the expected 180-day interval; "
                                         "warning signs: 1 complaint(s)"),
        "early_complaint": ("mature", "regular for 810 days, last visit 90 days ago"),
        "moving": ("decline", "no visit for 30 days, 0.2× the expected 180-day interval; "
                              "warning signs: mentions moving / distance, 1 missed or cancelled booking(s)"),
        "spend_down": ("decline", "spend down 70% on the previous 12 months"),
        "spend_up": ("growth", "spend up 50% on the previous 12 months"),
    }
    regular = got[chain["regular"]]
    assert (regular["expected_interval_days"], regular["days_since_last"], regular["overdue_ratio"],
            regular["spend_trend"]) == (180.0, 100, 0.556, 0.0)
    assert got[chain["eight_months"]]["expected_interval_days"] == 120.0   # median gap 115, at least 120
    assert got[chain["new"]]["expected_interval_days"] == 182.0             # too few gaps: the chain's recall
    assert got[chain["spend_down"]]["spend_trend"] == -0.7
    assert got[chain["never"]]["days_since_last"] is None


def test_the_same_regular_patient_declines_then_churns(warehouse):
    chain = Chain([Patient("regular", visits=every(180, 100, 5, amount=300))]).build(warehouse)
    g = chain["regular"]
    assert stages(warehouse)[g]["stage"] == "mature"
    later = stages(warehouse, AS_OF + timedelta(days=200))[g]       # 300 days since the last visit
    assert (later["stage"], later["overdue_ratio"]) == ("decline", 1.667)
    assert later["reason"] == "no visit for 300 days, 1.7× the expected 180-day interval"
    much_later = stages(warehouse, AS_OF + timedelta(days=500))[g]  # 600 days
    assert (much_later["stage"], much_later["overdue_ratio"]) == ("churn", 3.333)
    assert much_later["reason"] == "no visit for 600 days, 3.3× the expected 180-day interval"


def test_churn_needs_a_year_without_a_visit(warehouse):
    # every 120 days: 3× the interval is 360 days, under the 365-day minimum for churn
    chain = Chain([Patient("p120_360", visits=every(120, 360, 5)), Patient("p120_370", visits=every(120, 370, 5))]).build(warehouse)
    got = stages(warehouse)
    assert got[chain["p120_360"]]["stage"] == "decline"
    assert got[chain["p120_370"]]["stage"] == "churn"


def test_an_upcoming_booking_keeps_a_patient_out_of_decline(warehouse):
    overdue = lambda: every(180, 300, 5)  # noqa: E731  (300 days since the last visit: 1.67×)
    next_week = at(AS_OF + timedelta(days=7))
    chain = Chain([
        Patient("booked", visits=overdue(), bookings=[Booking(next_week, status="booked", booked_at=at(ago(2)))]),
        # the export already says "arrived" for next week's slot; on AS_OF it is still just booked
        Patient("arrived_later", visits=overdue(), bookings=[Booking(next_week, status="arrived", booked_at=at(ago(2)))]),
        # booked only after AS_OF: not known yet
        Patient("booked_after", visits=overdue(),
                bookings=[Booking(next_week, status="booked", booked_at=at(AS_OF + timedelta(days=1)))]),
        Patient("not_booked", visits=overdue()),
    ]).build(warehouse)
    got = stages(warehouse)
    assert got[chain["booked"]]["stage"] == "mature"
    assert got[chain["booked"]]["reason"] == "regular for 1020 days, last visit 300 days ago; has an upcoming booking"
    assert got[chain["arrived_later"]]["stage"] == "mature"
    assert got[chain["booked_after"]]["stage"] == "decline"
    assert got[chain["not_booked"]]["stage"] == "decline"


def test_a_stretching_recall_interval_is_a_warning_sign(warehouse):
    # gaps 180, 180, then 400 days: the last interval is over 1.3× the typical one
    def stretched(last: int) -> list[Visit]:
        return [Visit(ago(last + d), ["CLN"]) for d in (0, 400, 580, 760)]

    chain = Chain([Patient("stretched_140", visits=stretched(140)), Patient("stretched_100", visits=stretched(100))]).build(warehouse)
    got = stages(warehouse)
    assert got[chain["stretched_140"]]["stage"] == "decline"     # 140 / 180 = 0.78 ≥ 0.7 and one sign
    assert got[chain["stretched_140"]]["reason"].endswith("warning signs: recall interval stretching")
    assert got[chain["stretched_100"]]["stage"] == "mature"      # 0.56: one sign is not enough yet


def test_thresholds_from_a_custom_config(warehouse, tmp_path):
    chain = Chain([Patient("regular", visits=every(180, 100, 5, amount=300)),
                   Patient("eight_months", visits=[Visit(ago(240), ["CHK"]), Visit(ago(120), ["CLN"]),
                                                   Visit(ago(10), ["CHK"])])]).build(warehouse)
    default = stages(warehouse)
    assert (default[chain["regular"]]["stage"], default[chain["eight_months"]]["stage"]) == ("mature", "growth")
    strict = stages(warehouse, config=LifecycleConfig(decline_ratio=0.5, growth_days=200))
    assert strict[chain["regular"]]["stage"] == "decline"        # 0.556 ≥ 0.5
    assert strict[chain["eight_months"]]["stage"] == "mature"    # 240 days ≥ 200
    # through the profile run, and from a YAML file
    config = tmp_path / "lifecycle.yaml"
    config.write_text("decline_ratio: 0.5\nchurn_ratio: 2.0\n", encoding="utf-8")
    run_profile(warehouse, lifecycle=LifecycleConfig.load(config))
    assert published(warehouse).value(chain["regular"], "lifecycle_stage") == "decline"


def test_config_mistakes_are_explained(tmp_path):
    with pytest.raises(ValueError, match="decline_ratio must be above 0 and below churn_ratio"):
        LifecycleConfig.load(decline_ratio=3.5)
    with pytest.raises(ValueError, match="min_interval <= default_interval <= max_interval"):
        LifecycleConfig.load(min_interval=200)
    bad = tmp_path / "lc.yaml"
    bad.write_text("decline_ratio: 1.5\nchurn_days: 400\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lc.yaml: unknown setting\(s\) churn_days; known: .*churn_min_days"):
        LifecycleConfig.load(bad)
    assert LifecycleConfig.load() == LifecycleConfig()   # lifecycle.yaml and the defaults agree


# ----------------------------------------------------------------------------- transitions

# One patient: first visit 2024-01-10 (and again ten days later), then every ~180 days until
# 2025-07-07; back once on 2027-08-01 after two years away.
TIMELINE = [date(2024, 1, 10), date(2024, 1, 20), date(2024, 7, 10), date(2025, 1, 8), date(2025, 7, 7),
            date(2027, 8, 1)]
RUNS = [
    (date(2024, 1, 1), "acquisition"),    # not yet visited
    (date(2024, 2, 15), "acquisition"),   # 36 days a patient, 2 visit days
    (date(2024, 8, 1), "growth"),         # 204 days a patient
    (date(2025, 3, 1), "mature"),         # 416 days, last visit 52 days ago (0.29× of 177)
    (date(2025, 9, 1), "mature"),         # last visit 56 days ago
    (date(2026, 5, 1), "decline"),        # 298 days: 1.66× of 180
    (date(2027, 7, 1), "churn"),          # 724 days: 4.0×
    (date(2027, 8, 10), "mature"),        # came back 9 days ago
]


def test_transitions_over_successive_runs(warehouse):
    chain = Chain([Patient("t", visits=[Visit(d, ["CHK"]) for d in TIMELINE])]).build(warehouse)
    g = chain["t"]
    since = {}
    for as_of, stage in RUNS:
        summary = run_profile(warehouse, as_of)
        row = warehouse.rows("SELECT stage, since FROM profile.lifecycle WHERE golden_id = ?", [g])[0]
        assert row[0] == stage, as_of
        since[as_of] = row[1]
        assert summary["stages"] == {stage: 1}
    events = warehouse.rows("SELECT from_stage, to_stage, occurred_on FROM profile.lifecycle_event "
                            "WHERE golden_id = ? ORDER BY occurred_on", [g])
    assert events == [
        (None, "acquisition", date(2024, 1, 1)),
        ("acquisition", "growth", date(2024, 8, 1)),
        ("growth", "mature", date(2025, 3, 1)),
        ("mature", "decline", date(2026, 5, 1)),
        ("decline", "churn", date(2027, 7, 1)),
        ("churn", "mature", date(2027, 8, 10)),
    ]
    # an unchanged stage keeps the date it started and records no event
    assert since[date(2024, 2, 15)] == date(2024, 1, 1)
    assert since[date(2025, 9, 1)] == date(2025, 3, 1)
    assert since[date(2027, 8, 10)] == date(2027, 8, 10)
    # each event carries the reason and the run that saw it
    decline = warehouse.rows("SELECT reason, run_id FROM profile.lifecycle_event WHERE to_stage = 'decline'")[0]
    assert decline[0] == "no visit for 298 days, 1.7× the expected 180-day interval"
    assert decline[1] in {r for (r,) in warehouse.rows("SELECT run_id FROM profile.run WHERE as_of = DATE '2026-05-01'")}
    # the lifecycle_stage tag has the same history
    history = warehouse.rows("SELECT value, valid_from::DATE FROM profile.tag_history "
                             "WHERE golden_id = ? AND tag_key = 'lifecycle_stage' ORDER BY valid_from", [g])
    assert history == [(to, on) for _, to, on in events]


def test_a_rerun_on_the_same_day_records_no_transition(warehouse):
    Chain([Patient("a", visits=[Visit(ago(30), ["CHK"])]), Patient("b")]).build(warehouse)
    first = run_profile(warehouse)
    second = run_profile(warehouse)
    assert first["transitions"] == 2 and second["transitions"] == 0
    assert warehouse.count("profile.lifecycle_event") == 2


def _risk(engine, golden_id: str, risk: float, scored_on: date) -> None:
    engine.execute("INSERT INTO profile.churn_risk VALUES (?, ?, 'high', 180, '[]', ?, 'M-test')",
                   [golden_id, risk, scored_on])


def test_a_high_churn_risk_puts_an_otherwise_regular_patient_in_decline(warehouse):
    regular = lambda: every(180, 30, 5)  # noqa: E731  (30 days since the last visit: 0.17×, no signs)
    chain = Chain([
        Patient("risky", visits=regular()),
        Patient("risky_booked", visits=regular(),
                bookings=[Booking(at(AS_OF + timedelta(days=7)), status="booked", booked_at=at(ago(2)))]),
        Patient("low", visits=regular()),
        Patient("stale", visits=regular()),
    ]).build(warehouse)
    _risk(warehouse, chain["risky"], 0.81, AS_OF)
    _risk(warehouse, chain["risky_booked"], 0.9, AS_OF)
    _risk(warehouse, chain["low"], 0.69, AS_OF)
    _risk(warehouse, chain["stale"], 0.95, ago(8))  # scored more than 7 days before the profile date
    got = stages(warehouse)
    assert got[chain["risky"]]["stage"] == "decline"
    assert got[chain["risky"]]["reason"] == "churn risk 81% (no visit in the coming months predicted)"
    assert got[chain["risky_booked"]]["stage"] == "mature"
    assert got[chain["low"]]["stage"] == "mature"
    assert got[chain["stale"]]["stage"] == "mature"
    # A stage computed for an earlier date never sees a score made after it.
    assert stages(warehouse, ago(60))[chain["risky"]]["stage"] != "decline"
