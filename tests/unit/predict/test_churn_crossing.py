"""A crossing into the high churn-risk band (risk ≥ 0.7, docs/predict.md) starts a journey
once per crossing: nightly scores written into a real warehouse, the events run through the
automation engine with a rule listening to ``churn_risk.high``."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pyarrow as pa
import pytest

from molar.automation import ManualClock, load_catalogue, load_policy
from molar.automation.runtime import Automation
from molar.automation.simulate import simulate
from molar.delivery.channels import LocalSink
from molar.predict.churn.store import crossings, store_scores
from unit.automation.autolib import add_patient, tasks

DAY0 = date(2026, 10, 5)
RULE = """
key: churn_watch
name: {zh: 流失风险升高回访, en: Call when the churn risk turns high}
purpose: care
trigger: {event: {type: churn_risk.high}}
steps:
  - task: {kind: recall_call, due: 1d}
"""


def nightly(golden_risks: dict[str, float], bands: dict[str, str], day: date) -> pa.Table:
    ids = list(golden_risks)
    n = len(ids)
    return pa.table({
        "golden_id": ids, "risk": [golden_risks[g] for g in ids], "band": [bands[g] for g in ids],
        "horizon_days": pa.array([180] * n, pa.int32()), "reasons": [json.dumps([])] * n,
        "as_of": pa.array([day] * n, pa.date32()), "model_id": ["M1"] * n})


@pytest.fixture
def engine_and_rules(warehouse, tmp_path):
    (tmp_path / "churn_watch.yaml").write_text(RULE, encoding="utf-8")
    clock = ManualClock(datetime.combine(DAY0, time(1)))
    auto = Automation(load_catalogue(tmp_path), load_policy(), clock=clock,
                      channels={c: LocalSink(c) for c in ("sms", "wechat", "app")})
    return warehouse, auto, clock


def test_a_journey_starts_once_per_crossing_into_high(engine_and_rules):
    engine, auto, clock = engine_and_rules
    add_patient(engine, "G1")
    add_patient(engine, "G2")
    # night → (risk, band) of G1 and G2; bands written by hand from the documented cut-offs
    nights = [
        ({"G1": (0.35, "low"), "G2": (0.80, "high")}, []),       # first scores: not a crossing
        ({"G1": (0.55, "medium"), "G2": (0.85, "high")}, []),
        ({"G1": (0.82, "high"), "G2": (0.90, "high")}, ["G1"]),  # G1 crosses; G2 stays high
        ({"G1": (0.91, "high"), "G2": (0.60, "medium")}, []),    # G1 stays high: no re-fire
        ({"G1": (0.50, "medium"), "G2": (0.72, "high")}, ["G2"]),
        ({"G1": (0.75, "high"), "G2": (0.72, "high")}, ["G1"]),  # dropped and rose again
    ]
    for k, (scores, expected) in enumerate(nights):
        day = DAY0 + timedelta(days=k)
        at = datetime.combine(day, time(1))
        clock.set(at)
        with engine.transaction():
            events = store_scores(engine, nightly({g: r for g, (r, _) in scores.items()},
                                                  {g: b for g, (_, b) in scores.items()}, day), at, everyone=True)
        assert [e.golden_id for e in events] == expected, f"night {k}"
        assert [e.golden_id for e in crossings(engine, at, at + timedelta(seconds=1))] == expected
        auto.on_events(engine, events)
    assert [t[0] for t in tasks(engine, "G1")] == ["churn_watch", "churn_watch"]
    assert [t[0] for t in tasks(engine, "G2")] == ["churn_watch"]
    assert engine.rows("SELECT risk, band FROM profile.churn_risk ORDER BY golden_id") == [(0.75, "high"), (0.72, "high")]
    # every change of band is kept, with the risk before and after
    assert engine.rows("SELECT from_band, to_band, from_risk, to_risk FROM profile.churn_risk_change "
                       "WHERE golden_id = 'G1' ORDER BY changed_at") == [
        ("low", "medium", 0.35, 0.55), ("medium", "high", 0.55, 0.82), ("high", "medium", 0.91, 0.50),
        ("medium", "high", 0.50, 0.75)]


def test_a_crossing_event_carries_the_risk_before_and_after(engine_and_rules):
    engine, _, _ = engine_and_rules
    at = datetime.combine(DAY0, time(1))
    with engine.transaction():
        store_scores(engine, nightly({"G1": 0.45}, {"G1": "medium"}, DAY0), at, everyone=True)
        [event] = store_scores(engine, nightly({"G1": 0.71}, {"G1": "high"}, DAY0), at, everyone=True)
    assert (event.type, event.golden_id, event.occurred_at) == ("churn_risk.high", "G1", at)
    assert {k: event.data[k] for k in ("from_band", "risk", "from_risk")} == {"from_band": "medium", "risk": 0.71,
                                                                              "from_risk": 0.45}
    # a rescoring caused by a live event is logged even within the band, but is no crossing
    with engine.transaction():
        assert store_scores(engine, nightly({"G1": 0.93}, {"G1": "high"}, DAY0), at, everyone=False,
                            causes={"G1": "E9"}) == []
    assert engine.rows("SELECT from_band, to_band, cause_event_id FROM profile.churn_risk_change "
                       "ORDER BY to_risk") == [("medium", "high", None), ("high", "high", "E9")]


def test_rules_simulate_replays_the_stored_crossings(engine_and_rules):
    engine, auto, _ = engine_and_rules
    add_patient(engine, "G1")
    for k, (risk, band) in enumerate([(0.5, "medium"), (0.8, "high"), (0.85, "high")]):
        day = DAY0 + timedelta(days=k)
        with engine.transaction():
            store_scores(engine, nightly({"G1": risk}, {"G1": band}, day), datetime.combine(day, time(1)), everyone=True)
    report = simulate(engine, "churn_watch", DAY0, DAY0 + timedelta(days=3), catalogue=auto.catalogue)
    assert report["events_replayed"] == 1
    assert (report["totals"]["started"], report["totals"]["tasks"]) == (1, 1)
    assert engine.count("ops.task") == 0  # the warehouse is only read
