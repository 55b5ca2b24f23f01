"""The fast-track queue and slot offers against hand-built patients. Priorities are worked
out by hand below (weights: visits 0.20, health 0.25, tier 0.15, churn 0.15, overdue 0.25;
a full visit history is 6 visits in 24 months)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from molar.automation import ManualClock
from molar.delivery.outbox import enqueue
from molar.operations.fasttrack import Slot, queue, send_offers
from molar.operations.recall import RecallError
from molar.privacy.consent import record
from unit.automation.autolib import automation
from unit.profile.crafted import AS_OF, Booking, Chain, Patient, Visit, fresh_warehouse

SLOT = Slot("C01", "periodontics", datetime(2026, 11, 3, 14, 0))


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def chain() -> Chain:
    return Chain([
        Patient("P1", visits=[Visit(date(2025, 4, 1), ["CHK"]), Visit(date(2025, 10, 1), ["CLN"]),
                              Visit(date(2026, 4, 15), ["CLN"])]),
        Patient("P2", visits=[Visit(date(2026, 8, 3), ["PERIO"])]),
        Patient("P3", visits=[Visit(date(2025, 6, 1), ["CLN"]), Visit(date(2026, 1, 10), ["CLN"])]),
        Patient("P4", visits=[Visit(date(2026, 1, 10), ["CLN"])]),                       # opted out
        Patient("P5", visits=[Visit(date(2026, 5, 1), ["CLN"])],                         # already booked
                bookings=[Booking(datetime(2026, 11, 10, 9), status="booked", department="periodontics",
                                  booked_at=datetime(2026, 10, 20, 9))]),
        Patient("P6", home_clinic="C02", visits=[Visit(date(2026, 1, 10), ["CLN"], clinic="C02")]),
        Patient("P7", visits=[Visit(date(2026, 10, 5), ["ORTHF"])]),                     # orthodontics
        Patient("P8", visits=[Visit(date(2026, 7, 1), ["CLN"])]),                        # due 2027-01-01
        Patient("P9", visits=[Visit(date(2026, 5, 20), ["CLN"]), Visit(date(2026, 6, 1), ["PERIO"])]),
    ])


def build(engine) -> Chain:
    c = chain().build(engine)
    scores = {  # health risk, tier, churn risk
        "P1": (0.8, "strategic", 0.3), "P2": (0.9, "growth", 0.6), "P3": (None, "potential", None),
        "P4": (1.0, "strategic", 0.9), "P9": (0.2, "maintain", 0.1)}
    for key, (health, tier, churn) in scores.items():
        g = c[key]
        if health is not None:
            engine.execute("INSERT INTO profile.value_score (golden_id, health_risk, run_id) VALUES (?, ?, 'R1')",
                           [g, health])
        engine.execute("INSERT INTO profile.tier VALUES (?, ?, 0, 0.0, 'R1')", [g, tier])
        if churn is not None:
            engine.execute("INSERT INTO profile.churn_risk VALUES (?, ?, 'mid', 90, '[]', ?, 'M1')", [g, churn, AS_OF])
    record(engine, subject=c["P4"], purpose="care", channel="any", granted=False, occurred_at=datetime(2026, 3, 1),
           source="test")
    return c


def test_queue_order_and_priorities_by_hand(warehouse):
    c = build(warehouse)
    ranked = queue(warehouse, SLOT, as_of=AS_OF)
    # P1: 3 visits → 0.5 × 20 = 10; health 0.8 × 25 = 20; strategic 15; churn 0.3 × 15 = 4.5;
    #     cleaning due 2026-10-15, 19 days late on 3 Nov of a 183-day interval → 0.1038 × 25 = 2.6   → 52.1
    # P2: 1 visit → 3.33; 0.9 × 25 = 22.5; growth 0.75 × 15 = 11.25; 0.6 × 15 = 9; perio due on the day → 0 → 46.1
    # P9: 2 visits → 6.67; 5; maintain 7.5; 1.5; perio due 2026-09-01, 63 of 92 days late → 17.12  → 37.8
    #     (its cleaning, due 20 Nov, scores less: the better of the two counts)
    # P3: 2 visits → 6.67; no health or churn score; potential 3.75; cleaning due 2026-07-10,
    #     116 of 181 days late → 0.6409 × 25 = 16.02                                             → 26.4
    assert [(e["golden_id"], e["priority"], e["rank"]) for e in ranked] == [
        (c["P1"], 52.1, 1), (c["P2"], 46.1, 2), (c["P9"], 37.8, 3), (c["P3"], 26.4, 4)]
    p9 = ranked[2]
    assert p9["recall_type"] == "perio_maintenance"
    assert {p["part"]: p["points"] for p in p9["parts"]} == {"visits": 6.67, "health": 5.0, "tier": 7.5,
                                                              "churn": 1.5, "overdue": 17.12}
    words = {p["part"]: p["en"] for p in ranked[0]["parts"]}
    assert words["visits"] == "3 visits in the last 24 months (6 or more is a full history)"
    assert words["overdue"] == ("cleaning due 2026-10-15, 19 days overdue on the slot's day (interval 183 days)")
    assert {p["part"]: p["zh"] for p in ranked[3]["parts"]}["health"] == "暂无健康风险评分"


def test_unknown_department_is_one_clear_message(warehouse):
    build(warehouse)
    with pytest.raises(RecallError, match="department 'perio': one of general, periodontics"):
        queue(warehouse, Slot("C01", "perio", SLOT.start), as_of=AS_OF)


def _send(engine, offers, now):
    return {r["golden_id"]: r for r in send_offers(engine, automation(ManualClock(now)), SLOT, offers, now)}


def test_offers_go_through_consent_caps_and_quiet_hours(warehouse):
    c = build(warehouse)
    top = queue(warehouse, SLOT, as_of=AS_OF)[:3]
    now = datetime(2026, 11, 2, 10, 0)
    # P2 refused care messages on WeChat (the only channel it can be reached on)
    record(warehouse, subject=c["P2"], purpose="care", channel="wechat", granted=False,
           occurred_at=datetime(2026, 10, 1), source="test")
    # P9 already had a care message today: the daily cap (1 a day on a channel) is full
    enqueue(warehouse, idempotency_key="earlier", golden_id=c["P9"], channel="wechat", purpose="care",
            text="x", now=now - timedelta(hours=2))
    results = _send(warehouse, top, now)
    assert (results[c["P1"]]["outcome"], results[c["P1"]]["reason_code"]) == ("queued", "queued")
    assert (results[c["P2"]]["outcome"], results[c["P2"]]["reason_code"]) == ("suppressed", "consent_withdrawn")
    assert (results[c["P9"]]["outcome"], results[c["P9"]]["reason_code"]) == ("suppressed", "cap_daily")
    sent = warehouse.rows("SELECT golden_id, channel, purpose, status, template FROM ops.outbox "
                          "WHERE rule_key = 'fasttrack_slot_offer' ORDER BY status, golden_id")
    assert sorted(sent) == sorted([(c["P1"], "wechat", "care", "queued", "fasttrack_offer"),
                                   (c["P2"], "wechat", "care", "suppressed", "fasttrack_offer"),
                                   (c["P9"], "wechat", "care", "suppressed", "fasttrack_offer")])
    # the same offer again: nothing new in the outbox, the earlier outcome reported
    again = _send(warehouse, top, now + timedelta(minutes=5))
    assert again[c["P1"]]["outcome"] == "queued" and again[c["P1"]]["earlier_run"]
    assert warehouse.scalar("SELECT count(*) FROM ops.outbox WHERE rule_key = 'fasttrack_slot_offer'") == 3


def test_offer_in_quiet_hours_waits_until_morning(warehouse):
    c = build(warehouse)
    top = queue(warehouse, SLOT, as_of=AS_OF)[:1]
    results = _send(warehouse, top, datetime(2026, 11, 2, 22, 30))
    r = results[c["P1"]]
    assert (r["outcome"], r["reason_code"], r["send_at"]) == ("deferred", "quiet_hours", datetime(2026, 11, 3, 8, 0))


def test_offer_text_names_clinic_department_and_time(warehouse):
    c = build(warehouse)
    _send(warehouse, queue(warehouse, SLOT, as_of=AS_OF)[:1], datetime(2026, 11, 2, 10, 0))
    from molar.delivery.outbox import list_messages

    (message,) = list_messages(warehouse, golden_id=c["P1"])
    assert "锦江口腔门诊部" in message.rendered_text and "牙周科" in message.rendered_text
    assert "2026-11-03 14:00" in message.rendered_text


def test_a_disabled_offer_rule_sends_nothing_and_says_how_to_enable_it(warehouse):
    from molar.automation.admin import set_rule_enabled
    from unit.automation.autolib import CATALOGUE

    c = build(warehouse)
    now = datetime(2026, 11, 2, 10, 0)
    set_rule_enabled(warehouse, CATALOGUE, "fasttrack_slot_offer", False, now=now, by="test")
    r = _send(warehouse, queue(warehouse, SLOT, as_of=AS_OF)[:1], now)[c["P1"]]
    assert (r["outcome"], r["reason_code"]) == ("not_sent", "rule_disabled")
    assert "molar rules enable fasttrack_slot_offer" in r["reason_en"]
    assert warehouse.scalar("SELECT count(*) FROM ops.outbox") == 0
