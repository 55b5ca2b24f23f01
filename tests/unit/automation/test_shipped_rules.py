"""Each shipped rule fires on the events it is meant for, and not on near misses."""

from datetime import datetime, timedelta

from molar.automation import ManualClock, StaticFacts, is_held_out
from molar.privacy import fields
from unit.automation.autolib import (
    CATALOGUE,
    add_patient,
    automation,
    ev,
    outbox,
    outcomes,
    tasks,
    visit,
)

T0 = datetime(2026, 10, 5, 10, 0)  # a Monday morning


def patient(rule_key: str, n: int = 1, held_out: bool = False) -> list[str]:
    """Golden IDs on the chosen side of the rule's holdout."""
    rule = CATALOGUE.get(rule_key)
    found = [g for g in (f"G{i:010d}" for i in range(1, 500)) if is_held_out(rule, g) == held_out]
    return found[:n]


def grant_marketing(a, engine, golden_id, channel="sms", at=T0 - timedelta(days=30)):
    a.on_events(engine, [ev("consent.changed", golden_id, at, channel=channel, purpose="marketing", granted=True)])


def test_cleaning_article_seven_days_after_a_cleaning_only(warehouse):
    engine = warehouse
    g, filling = patient("cleaning_oral_care_article", 2)
    add_patient(engine, g)
    add_patient(engine, filling)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(engine, [visit(g, T0 - timedelta(hours=1), "CHK", "CLN"), visit(filling, T0 - timedelta(hours=1), "FILL")])
    assert outcomes(engine, "cleaning_oral_care_article", g) == ["started", "waiting"]
    assert outcomes(engine, "cleaning_oral_care_article", filling) == []  # a filling is not a cleaning

    a.tick(engine, T0 + timedelta(days=7) - timedelta(hours=1, minutes=1))
    assert outbox(engine, g) == []
    a.tick(engine, T0 + timedelta(days=7) - timedelta(hours=1))  # 7 days after the visit
    [(rule, channel, purpose, status, _, template, _, sent_at)] = outbox(engine, g)
    assert (rule, channel, purpose, status, template) == ("cleaning_oral_care_article", "sms", "care", "sent",
                                                          "oral_care_article")
    assert sent_at == T0 + timedelta(days=7) - timedelta(hours=1)
    assert outbox(engine, filling) == []


def test_cleaning_holdout_patient_gets_nothing(warehouse):
    [g] = patient("cleaning_oral_care_article", held_out=True)
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [visit(g, T0, "CLN")])
    assert outcomes(warehouse, "cleaning_oral_care_article", g) == ["held_out"]
    a.tick(warehouse, T0 + timedelta(days=8))
    assert outbox(warehouse, g) == []


def test_decline_gives_a_personal_coupon_then_a_recall_reminder(warehouse):
    [g] = patient("decline_winback")
    [other] = patient("decline_winback", 2)[1:]
    for p in (g, other):
        add_patient(warehouse, p, clinic="C01")
    warehouse.execute("INSERT INTO std.clinic (clinic_id, name, district) VALUES ('C01', '锦江口腔门诊部', '锦江区')")
    warehouse.execute("INSERT INTO profile.value_score (golden_id, value_score, run_id) VALUES (?, 75, 'r1')", [g])
    clock = ManualClock(T0)
    a = automation(clock)
    grant_marketing(a, warehouse, g)
    a.on_events(warehouse, [ev("lifecycle.changed", g, T0, from_stage="mature", to_stage="decline"),
                            ev("lifecycle.changed", other, T0, from_stage="growth", to_stage="mature")])
    assert outcomes(warehouse, "decline_winback", other) == []
    assert outcomes(warehouse, "decline_winback", g)[:4] == ["started", "coupon_issued", "queued", "waiting"]
    [(code, value, kind)] = warehouse.rows("SELECT coupon_id, value_yuan, kind FROM ops.coupon WHERE golden_id = ?", [g])
    assert value == 300 and kind == "recall"  # value score 75 → the top band
    a.tick(warehouse, T0)
    [first] = outbox(warehouse, g)
    assert first[3] == "sent" and first[5] == "winback_coupon"
    sealed = warehouse.arrow("SELECT message_id, rendered_text FROM ops.outbox WHERE golden_id = ?", [g])
    [text] = fields.open_rows("ops.outbox", sealed, fields.cipher_for(warehouse))["rendered_text"].to_pylist()
    assert "300元" in text and code in text and "锦江口腔门诊部" in text
    a.tick(warehouse, T0 + timedelta(days=14))
    assert [m[5] for m in outbox(warehouse, g)] == ["winback_coupon", "recall_reminder"]
    assert [m[3] for m in outbox(warehouse, g)] == ["sent", "sent"]


def test_strategic_tier_opens_vip_task_and_priority_booking_message(warehouse):
    g, growth = patient("strategic_vip_advisor", 2)
    add_patient(warehouse, g)
    add_patient(warehouse, growth)
    clock = ManualClock(T0)
    a = automation(clock)
    grant_marketing(a, warehouse, g)
    a.on_events(warehouse, [ev("tier.changed", g, T0, from_tier="growth", to_tier="strategic"),
                            ev("tier.changed", growth, T0, from_tier="maintain", to_tier="growth")])
    [(rule, kind, role, due, status)] = tasks(warehouse, g)
    assert (rule, kind, role, due, status) == ("strategic_vip_advisor", "vip_advisor", "health_advisor",
                                              T0 + timedelta(days=2), "open")
    assert [m[5] for m in outbox(warehouse, g)] == ["vip_priority_booking"]
    assert tasks(warehouse, growth) == [] and outbox(warehouse, growth) == []


def test_plaque_three_consecutive_days_opens_a_nurse_task(warehouse):
    g, interrupted, gap = patient("plaque_nurse_follow_up", 3)
    a = automation(ManualClock(T0))

    def day(p, n, plaque):
        d = (T0 + timedelta(days=n)).date()
        return ev("telemetry.daily", p, datetime.combine(d, datetime.min.time()) + timedelta(hours=22),
                  event_id=f"tel-{p}-{d}", device_id="D1", measured_on=d.isoformat(), plaque_index=plaque)

    # over, over, over (and a fourth day over: still one task for one streak)
    for n, v in enumerate([1.8, 2.0, 1.6, 1.9]):
        a.clock.set(T0 + timedelta(days=n, hours=13))
        a.on_events(warehouse, [day(g, n, v)])
    # over, over, normal, over: the streak resets
    for n, v in enumerate([1.8, 2.0, 1.2, 1.9]):
        a.clock.set(T0 + timedelta(days=n, hours=13))
        a.on_events(warehouse, [day(interrupted, n, v), day(interrupted, n, v)])  # duplicates are ignored
    # over on days 0, 1 and 3: not consecutive
    for n, v in ((0, 1.8), (1, 2.0), (3, 1.9)):
        a.clock.set(T0 + timedelta(days=n, hours=13))
        a.on_events(warehouse, [day(gap, n, v)])
    [(rule, kind, role, due, _)] = tasks(warehouse, g)
    assert (rule, kind, role) == ("plaque_nurse_follow_up", "nurse_follow_up", "nurse")
    assert due == T0 + timedelta(days=2, hours=13) + timedelta(days=1)
    assert tasks(warehouse, interrupted) == [] and tasks(warehouse, gap) == []
    assert warehouse.scalar("SELECT streak FROM ops.threshold_streak WHERE golden_id = ?", [interrupted]) == 1


def test_complaint_opens_service_recovery_due_within_the_hour_even_at_night(warehouse):
    g, doubt = patient("complaint_service_recovery", 2)
    night = datetime(2026, 10, 5, 23, 10)
    a = automation(ManualClock(night))
    a.on_events(warehouse, [
        ev("consult.message", g, night, consult_id="K1", channel="chat", text="等了两个小时没人管", sentiment="complaint"),
        ev("consult.message", doubt, night, consult_id="K2", channel="chat", text="种植牙会不会疼", sentiment="doubt"),
    ])
    [(rule, kind, role, due, status)] = tasks(warehouse, g)
    assert (rule, kind, role, status) == ("complaint_service_recovery", "service_recovery", "customer_service", "open")
    assert due == night + timedelta(hours=1)  # tasks are not deferred by quiet hours
    assert tasks(warehouse, doubt) == []


def test_implant_follow_up_adapts_to_replies(warehouse):
    worried, fine = patient("implant_follow_up", 2)
    for p in (worried, fine):
        add_patient(warehouse, p)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [visit(worried, T0, "IMP"), visit(fine, T0, "IMP"), visit("G-none", T0, "EXT")])
    assert outcomes(warehouse, "implant_follow_up", "G-none") == []

    clock.set(T0 + timedelta(days=1))
    a.tick(warehouse, clock())  # day 1 question to both
    assert [m[5] for m in outbox(warehouse, worried)] == ["implant_day1"]

    clock.set(T0 + timedelta(days=1, hours=2))
    a.on_events(warehouse, [ev("followup.reply", worried, clock(), status="concern"),
                            ev("followup.reply", fine, clock(), status="good")])
    a.tick(warehouse, clock())
    [(_, kind, role, due, _)] = tasks(warehouse, worried)
    assert (kind, role, due) == ("nurse_follow_up", "nurse", clock() + timedelta(hours=4))
    # the early check-up message answers the patient's reply: the daily cap lets it through
    assert [(m[5], m[3]) for m in outbox(warehouse, worried)] == [("implant_day1", "sent"),
                                                                  ("implant_early_checkup", "sent")]
    assert tasks(warehouse, fine) == []
    assert [m[5] for m in outbox(warehouse, fine)] == ["implant_day1"]

    for day in (7, 8, 30):
        clock.set(T0 + timedelta(days=day))
        a.tick(warehouse, clock())
    assert [m[5] for m in outbox(warehouse, fine)] == ["implant_day1", "implant_day7", "implant_day30"]
    clock.set(T0 + timedelta(days=30, hours=3))
    a.on_events(warehouse, [ev("followup.reply", fine, clock(), status="good")])
    a.tick(warehouse, clock())
    assert [m[5] for m in outbox(warehouse, fine)][-1] == "implant_maintenance"
    assert warehouse.scalar("SELECT status FROM ops.journey WHERE golden_id = ? AND rule_key = 'implant_follow_up'",
                            [fine]) == "completed"
    assert tasks(warehouse, fine) == []


def test_schedule_rule_runs_daily_for_its_audience(warehouse):
    """The shipped schedule rule (off by default) once enabled: 10:00, tags.recall_due."""
    from molar.automation.admin import set_rule_enabled

    for g in ("G1", "G2", "G3"):
        add_patient(warehouse, g)
    facts = StaticFacts({"G1": {"tags": {"recall_due": True}, "reachable": {"sms": True}},
                         "G2": {"tags": {"recall_due": False}, "reachable": {"sms": True}}})
    clock = ManualClock(T0.replace(hour=9))
    a = automation(clock, facts=facts)
    set_rule_enabled(warehouse, CATALOGUE, "recall_due_reminder", True, now=clock())
    a.tick(warehouse, T0.replace(hour=9, minute=59))
    assert outbox(warehouse) == []
    a.tick(warehouse, T0.replace(hour=10))
    a.tick(warehouse, T0.replace(hour=10, minute=5))  # the day's run is done: nothing twice
    assert [(m[0], m[5], m[3]) for m in outbox(warehouse)] == [("recall_due_reminder", "recall_reminder", "sent")]
    assert warehouse.scalar("SELECT golden_id FROM ops.outbox") == "G1"
