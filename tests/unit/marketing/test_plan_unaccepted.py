"""`plan.unaccepted`: hand-built plans and dates, the events worked out by hand, once per plan,
and the shipped rule `plan_follow_up` with its consent and holdout."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from molar.automation import ManualClock, is_held_out
from molar.marketing.plans import unaccepted_events
from unit.automation.autolib import CATALOGUE, add_patient, automation, ev, outbox, outcomes, tasks

TODAY = date(2026, 10, 20)
NIGHT = datetime(2026, 10, 20, 2, 0)   # the nightly job
RULE = CATALOGUE.get("plan_follow_up")
IN = [g for g in (f"G{i:010d}" for i in range(1, 200)) if not is_held_out(RULE, g)]
OUT = [g for g in (f"G{i:010d}" for i in range(1, 200)) if is_held_out(RULE, g)]

# plan, record (病历号), proposed on, status; records R1..R4 resolve to golden IDs, R9 does not.
PLANS = [
    ("P1", "R1", date(2026, 10, 6), "proposed"),        # 14 days today: due 10-20 00:00
    ("P2", "R1", date(2026, 10, 7), "proposed"),        # 13 days: due tomorrow
    ("P3", "R2", date(2026, 9, 1), "accepted"),
    ("P4", "R2", date(2026, 10, 1), "declined"),
    ("P5", "R3", date(2026, 10, 2), "proposed"),        # due 10-16 00:00
    ("P6", "R3", date(2026, 9, 20), "partially_done"),
    ("P7", "R9", date(2026, 9, 25), "proposed"),        # no golden ID yet
    ("P8", "R4", date(2026, 9, 1), "proposed"),         # due 09-15: long before this first run
]


def load_plans(engine, golden: dict[str, str]) -> None:
    for plan_id, record, proposed_on, status in PLANS:
        engine.execute(
            "INSERT INTO std.treatment_plan (plan_id, source, source_patient_key, clinic_id, doctor_id, consultant, "
            "proposed_on, items, quoted_yuan, status, expires_on) VALUES (?, 'his', ?, 'C01', 'D01', '李咨询', ?, "
            "'IMP+CRN', 18000, ?, ?)", [plan_id, record, proposed_on, status, proposed_on + timedelta(days=90)])
    for record, g in golden.items():
        engine.execute("INSERT INTO identity.cluster VALUES (?, 'his', ?, ?, 'run1')", [f"his:{record}", record, g])


def test_events_once_per_plan_at_the_day_it_became_unaccepted(warehouse):
    load_plans(warehouse, {"R1": "G1", "R2": "G2", "R3": "G3", "R4": "G4"})
    events = unaccepted_events(warehouse, TODAY, 14, NIGHT)
    assert [(e.event_id, e.golden_id, e.occurred_at) for e in events] == [
        ("plan-unaccepted:P8", "G4", datetime(2026, 9, 15)),
        ("plan-unaccepted:P5", "G3", datetime(2026, 10, 16)),
        ("plan-unaccepted:P1", "G1", datetime(2026, 10, 20)),
    ]
    p1 = events[-1].data
    assert (p1["plan_id"], p1["proposed_on"], p1["items"], p1["quoted_yuan"], p1["consultant"], p1["days"]) == (
        "P1", "2026-10-06", "IMP+CRN", 18000.0, "李咨询", 14)

    assert unaccepted_events(warehouse, TODAY, 14, NIGHT + timedelta(hours=1)) == []   # a rerun: nothing new
    tomorrow = unaccepted_events(warehouse, TODAY + timedelta(days=1), 14, NIGHT + timedelta(days=1))
    assert [e.event_id for e in tomorrow] == ["plan-unaccepted:P2"]
    # the plan whose record is resolved later is handed over then, once
    warehouse.execute("INSERT INTO identity.cluster VALUES ('his:R9', 'his', 'R9', 'G9', 'run2')")
    assert [e.event_id for e in unaccepted_events(warehouse, TODAY + timedelta(days=1), 14, NIGHT)] == [
        "plan-unaccepted:P7"]
    assert warehouse.scalar("SELECT count(*) FROM profile.plan_unaccepted") == 5


def test_the_number_of_days_is_configurable(warehouse):
    load_plans(warehouse, {"R1": "G1", "R3": "G3"})
    assert [e.event_id for e in unaccepted_events(warehouse, TODAY, 30, NIGHT)] == []
    assert [e.event_id for e in unaccepted_events(warehouse, TODAY, 13, NIGHT)] == [
        "plan-unaccepted:P5", "plan-unaccepted:P1", "plan-unaccepted:P2"]
    with pytest.raises(ValueError, match="at least|≥ 1"):
        unaccepted_events(warehouse, TODAY, 0, NIGHT)


def test_rule_opens_a_doctor_task_and_sends_only_with_consent(warehouse):
    consented, silent, stale = IN[:3]
    [held] = OUT[:1]
    for g in (consented, silent, stale, held):
        add_patient(warehouse, g)
    load_plans(warehouse, {"R1": consented, "R3": silent, "R4": stale, "R2": held})
    warehouse.execute("INSERT INTO std.treatment_plan (plan_id, source, source_patient_key, proposed_on, status) "
                      "VALUES ('P10', 'his', 'R2', DATE '2026-10-05', 'proposed')")
    clock = ManualClock(NIGHT)
    a = automation(clock)
    a.on_events(warehouse, [ev("consent.changed", consented, NIGHT - timedelta(days=40), channel="sms",
                               purpose="marketing", granted=True)])
    with warehouse.transaction():
        a.on_events(warehouse, unaccepted_events(warehouse, TODAY, 14, NIGHT))
    a.tick(warehouse, datetime(2026, 10, 20, 8, 0))

    # consented: a task for the doctor due in two days, and the message (deferred to 08:00, then sent)
    assert [t[1:] for t in tasks(warehouse, consented)] == [("plan_follow_up", "doctor", NIGHT + timedelta(days=2), "open")]
    assert [(m[1], m[2], m[3], m[5]) for m in outbox(warehouse, consented)] == [("sms", "marketing", "sent", "plan_follow_up")]
    # no marketing opt-in: the task still opens, the message is suppressed
    assert [t[1] for t in tasks(warehouse, silent)] == ["plan_follow_up"]
    assert [(m[3], m[4]) for m in outbox(warehouse, silent)] == [("suppressed", "no_consent")]
    # a plan that became unaccepted five weeks ago (first run after an import) starts nothing
    assert outcomes(warehouse, "plan_follow_up", stale) == ["too_old"] and tasks(warehouse, stale) == []
    # the control group gets nothing
    assert outcomes(warehouse, "plan_follow_up", held) == ["held_out"]
    assert tasks(warehouse, held) == [] and outbox(warehouse, held) == []

    # the nightly job again: no event, no second task or message
    with warehouse.transaction():
        assert unaccepted_events(warehouse, TODAY, 14, NIGHT + timedelta(days=1)) == []
    assert len(tasks(warehouse)) == 2 and len(outbox(warehouse)) == 2


def test_setting_reads_the_number_of_days_and_refuses_nonsense(tmp_path, monkeypatch):
    from molar.config import ConfigError, load_settings

    assert load_settings(tmp_path / "none.toml").plan_unaccepted_after_days == 14
    (tmp_path / "molar.toml").write_text("[molar]\nplan_unaccepted_after_days = 21\n", encoding="utf-8")
    assert load_settings(tmp_path / "molar.toml").plan_unaccepted_after_days == 21
    monkeypatch.setenv("MOLAR_PLAN_UNACCEPTED_AFTER_DAYS", "0")
    with pytest.raises(ConfigError, match="plan_unaccepted_after_days=0 must be at least 1"):
        load_settings(tmp_path / "molar.toml")


def test_the_nightly_job_of_the_server_hands_plans_to_the_rules_once(tmp_path):
    from molar.automation import load_catalogue
    from molar.automation.runtime import Automation
    from molar.serve import nightly
    from unit.profile.crafted import AS_OF, Chain, Patient, Visit, ago, at, fresh_warehouse

    for engine in fresh_warehouse(tmp_path):
        chain = Chain([Patient("waiting", visits=[Visit(ago(20), ["CHK"], amount=100)])]).build(engine)
        his_key = Patient("waiting").his_key
        engine.execute("INSERT INTO std.treatment_plan (plan_id, source, source_patient_key, proposed_on, status) "
                       "VALUES ('P1', 'his', ?, ?, 'proposed'), ('P2', 'his', ?, ?, 'proposed')",
                       [his_key, ago(10), his_key, ago(20)])
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "plan_call.yaml").write_text(
            "key: plan_call\nname: {zh: 方案跟进, en: Plan call}\npurpose: care\n"
            "trigger: {event: {type: plan.unaccepted}}\nsteps:\n  - task: {kind: plan_follow_up, due: 2d}\n",
            encoding="utf-8")
        automation = Automation(load_catalogue(tmp_path / "rules"), clock=ManualClock(at(AS_OF, 2)))
        nightly(engine, automation, AS_OF, plan_after_days=14)   # P2 is 20 days old, P1 only 10
        assert engine.rows("SELECT golden_id, rule_key, kind FROM ops.task") == [(chain["waiting"], "plan_call",
                                                                                  "plan_follow_up")]
        nightly(engine, automation, AS_OF, plan_after_days=14)   # the same night again: nothing new
        assert engine.count("ops.task") == 1


def test_history_replays_plans_as_they_stood_on_the_day_they_became_unaccepted(warehouse, tmp_path):
    from molar.automation.simulate import simulate
    from molar.marketing.plans import unaccepted_history

    patients = {"R1": IN[0], "R2": IN[1], "R3": IN[2], "R4": IN[3]}
    for g in patients.values():
        add_patient(warehouse, g)
    load_plans(warehouse, patients)
    # accepted on day 20, after it became unaccepted on day 14 (Sep 24): replayed; accepted on day 10: not
    warehouse.execute("INSERT INTO std.treatment_plan (plan_id, source, source_patient_key, proposed_on, status, "
                      "accepted_on) VALUES ('P11', 'his', 'R2', DATE '2026-09-10', 'accepted', DATE '2026-09-30'), "
                      "('P12', 'his', 'R2', DATE '2026-09-10', 'accepted', DATE '2026-09-20')")
    start, end = datetime(2026, 9, 1), datetime(2026, 10, 21)   # up to Oct 20 inclusive: P2 (Oct 21) is after it
    assert [(e.event_id, e.golden_id, e.occurred_at) for e in unaccepted_history(warehouse, 14, start, end)] == [
        ("plan-unaccepted:P8", IN[3], datetime(2026, 9, 15)),
        ("plan-unaccepted:P11", IN[1], datetime(2026, 9, 24)),
        ("plan-unaccepted:P5", IN[2], datetime(2026, 10, 16)),
        ("plan-unaccepted:P1", IN[0], datetime(2026, 10, 20)),
    ]
    report = simulate(warehouse, "plan_follow_up", date(2026, 9, 1), date(2026, 10, 20))
    assert report["events_replayed"] == 4
    assert (report["totals"]["triggered"], report["totals"]["started"], report["totals"]["tasks"]) == (4, 4, 4)
