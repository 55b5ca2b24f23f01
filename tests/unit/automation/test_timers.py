"""Durable waits: due at the right time by the explicit clock, fired once, also after a restart."""

from datetime import datetime, timedelta

from molar.automation import ManualClock
from molar.automation.admin import set_rule_enabled
from molar.warehouse import open_warehouse
from unit.automation.autolib import (
    CATALOGUE,
    add_patient,
    automation,
    in_every_rule,
    outbox,
    outcomes,
    visit,
)

T0 = datetime(2026, 10, 5, 10, 0)
RULE = "cleaning_oral_care_article"


def test_timer_survives_a_restart_and_continues_the_journey_once(tmp_path):
    path = tmp_path / "w.duckdb"
    g = in_every_rule()
    engine = open_warehouse(path=path)
    add_patient(engine, g)
    automation(ManualClock(T0)).on_events(engine, [visit(g, T0, "CLN")])
    assert engine.rows("SELECT due_at, state FROM ops.timer") == [(T0 + timedelta(days=7), "pending")]
    engine.close()

    # the server was down when the timer fell due; a new process picks it up
    engine = open_warehouse(path=path)
    a = automation(ManualClock(T0 + timedelta(days=9)))
    a.tick(engine, T0 + timedelta(days=9))
    a.tick(engine, T0 + timedelta(days=9, seconds=1))
    a2 = automation(ManualClock(T0 + timedelta(days=9)))  # and another one: still once
    a2.tick(engine, T0 + timedelta(days=10))
    assert engine.rows("SELECT state FROM ops.timer") == [("fired",)]
    assert [(m[3], m[5]) for m in outbox(engine, g)] == [("sent", "oral_care_article")]
    assert outcomes(engine, RULE, g) == ["started", "waiting", "timer_fired", "queued", "completed", "sent"]
    engine.close()


def test_the_same_event_twice_starts_one_journey(warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    a = automation(ManualClock(T0))
    event = visit(g, T0, "CLN", event_id="visit-1")
    a.on_events(warehouse, [event])
    a.on_events(warehouse, [event, event])
    assert warehouse.count("ops.journey") == 1 and warehouse.count("ops.timer") == 1


def test_cooldown_and_stale_events(warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    a = automation(ManualClock(T0))
    a.on_events(warehouse, [visit(g, T0 - timedelta(days=20), "CLN")])  # arrives 20 days late
    a.on_events(warehouse, [visit(g, T0, "CLN"), visit(g, T0 + timedelta(days=3), "CLN")])
    assert outcomes(warehouse, RULE, g) == ["too_old", "started", "waiting", "cooldown"]
    reason = warehouse.scalar("SELECT reason_en FROM ops.rule_decision WHERE outcome = 'cooldown'")
    assert "at most once every 30 days" in reason


def test_disabling_a_rule_stops_new_and_waiting_journeys(warehouse):
    g, h = in_every_rule(), in_every_rule(1)
    for p in (g, h):
        add_patient(warehouse, p)
    a = automation(ManualClock(T0))
    a.on_events(warehouse, [visit(g, T0, "CLN")])
    set_rule_enabled(warehouse, CATALOGUE, RULE, False, now=T0, by="ops")
    a.on_events(warehouse, [visit(h, T0, "CLN")])
    assert outcomes(warehouse, RULE, h) == []
    a.tick(warehouse, T0 + timedelta(days=7))
    assert outbox(warehouse, g) == []
    assert outcomes(warehouse, RULE, g)[-1] == "stopped"
    assert warehouse.scalar("SELECT reason_code FROM ops.rule_decision ORDER BY seq DESC LIMIT 1") == "rule_disabled"


def test_messages_of_a_rule_disabled_after_queueing_are_not_sent(warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    night = datetime(2026, 10, 5, 22, 0)
    a = automation(ManualClock(night))
    a.on_events(warehouse, [visit(g, night, "IMP")])
    a.tick(warehouse, night + timedelta(days=1))  # 22:00: the day-1 question waits for 08:00
    assert [m[3] for m in outbox(warehouse, g)] == ["queued"]
    set_rule_enabled(warehouse, CATALOGUE, "implant_follow_up", False, now=night, by="ops")
    a.tick(warehouse, datetime(2026, 10, 7, 8, 0))
    assert [(m[3], m[4]) for m in outbox(warehouse, g)] == [("suppressed", "rule_disabled")]


def test_a_reply_ends_a_wait_early(warehouse):
    from unit.automation.autolib import ev, tasks

    g = in_every_rule()
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [visit(g, T0, "IMP")])
    a.tick(warehouse, T0 + timedelta(days=1))
    assert warehouse.rows("SELECT due_at, wake_on FROM ops.timer WHERE state = 'pending'") == [
        (T0 + timedelta(days=2), "followup.reply")]
    clock.set(T0 + timedelta(days=1, minutes=20))
    journey = warehouse.scalar("SELECT occurrence FROM ops.journey")
    a.on_events(warehouse, [ev("followup.reply", g, clock(), status="concern", rule="implant_follow_up",
                               occurrence=journey)])
    assert warehouse.rows("SELECT state FROM ops.timer ORDER BY due_at")[:2] == [("fired",), ("woken",)]
    assert [t[1] for t in tasks(warehouse, g)] == ["nurse_follow_up"]
    # the next wait counts from the trigger (day 7), not from the reply
    assert warehouse.scalar("SELECT due_at FROM ops.timer WHERE state = 'pending'") == T0 + timedelta(days=7)


def test_a_tag_set_by_one_journey_triggers_another(warehouse, tmp_path):
    import shutil

    from molar.automation import load_catalogue
    from molar.automation.catalogue import RULES_DIR
    from unit.automation.autolib import ev, tasks

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "flag.yaml").write_text(
        "rules:\n"
        "  - key: flag_pain\n    name: {zh: 标记, en: Flag}\n    purpose: care\n"
        "    trigger: {event: {type: followup.reply, where: [{field: status, op: '==', value: concern}]}}\n"
        "    steps:\n      - set_tag: {tag: pain_flag, value: yes}\n"
        "  - key: on_pain_flag\n    name: {zh: 跟进, en: Follow up}\n    purpose: care\n"
        "    trigger: {tag_change: {tag: pain_flag, to: 'yes'}}\n"
        "    steps:\n      - task: {kind: doctor_review, due: 1d}\n", encoding="utf-8")
    g = in_every_rule()
    a = automation(ManualClock(T0), catalogue=load_catalogue(rules))
    derived = a.on_events(warehouse, [ev("followup.reply", g, T0, status="concern")])
    assert [(e.type, e.data["tag_key"], e.data["new"]) for e in derived] == [("tag.changed", "pain_flag", "yes")]
    assert [t[1] for t in tasks(warehouse, g)] == ["doctor_review"]
    a.on_events(warehouse, derived)  # the pipeline handing them back changes nothing
    assert len(tasks(warehouse, g)) == 1
