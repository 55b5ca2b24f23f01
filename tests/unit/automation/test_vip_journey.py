"""The shipped VIP journey (rules/vip_key_customer_care.yaml) on a real warehouse: who it
targets follows the key_customer and opinion_leader tags the test publishes, and every
message passes the contact policy (holdout, consent, quiet hours, cooldown)."""

from __future__ import annotations

from datetime import datetime, timedelta

from molar.automation import ManualClock, is_held_out
from unit.automation.autolib import CATALOGUE, add_patient, automation, ev, outbox, outcomes, tasks

RULE = "vip_key_customer_care"
T0 = datetime(2026, 10, 5, 9, 0)  # a Monday; the journey runs daily at 10:30


def ids(n: int, held_out: bool) -> list[str]:
    rule = CATALOGUE.get(RULE)
    return [g for g in (f"G{i:010d}" for i in range(1, 500)) if is_held_out(rule, g) == held_out][:n]


def publish(engine, golden_id: str, **tags: bool) -> None:
    """Boolean tags as `molar profile run` publishes them (text and number)."""
    for key, on in tags.items():
        engine.execute("INSERT INTO profile.tag_value VALUES (?, ?, ?, ?, NULL, ?, 'run1')",
                       [golden_id, key, "true" if on else "false", 1.0 if on else 0.0, T0 - timedelta(days=1)])


def test_key_customers_and_opinion_leaders_get_an_advisor_and_a_care_message(warehouse):
    key, leader, both, neither, refused, unreachable = ids(6, held_out=False)
    [held] = ids(1, held_out=True)
    for g in (key, leader, both, neither, refused, held):
        add_patient(warehouse, g)
    add_patient(warehouse, unreachable, mobile=False)
    publish(warehouse, key, key_customer=True, opinion_leader=False)
    publish(warehouse, leader, key_customer=False, opinion_leader=True)
    publish(warehouse, both, key_customer=True, opinion_leader=True)
    publish(warehouse, neither, key_customer=False, opinion_leader=False)
    for g in (refused, held, unreachable):
        publish(warehouse, g, key_customer=True)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [ev("consent.changed", refused, T0 - timedelta(days=3), channel="sms",
                               purpose="care", granted=False)])

    a.tick(warehouse, T0.replace(hour=10, minute=29))
    assert tasks(warehouse) == []  # not yet 10:30
    clock.set(T0.replace(hour=10, minute=30))
    a.tick(warehouse, T0.replace(hour=10, minute=30))

    with_task = {g for g in (key, leader, both, neither, refused, held, unreachable)
                 if [t[1] for t in tasks(warehouse, g)] == ["vip_advisor"]}
    assert with_task == {key, leader, both, refused, unreachable}  # tasks need no consent or address
    assert {t[2] for t in tasks(warehouse)} == {"health_advisor"}
    assert tasks(warehouse, neither) == [] and tasks(warehouse, held) == []
    assert outcomes(warehouse, RULE, held) == ["held_out"]

    sent = {g: [(m[3], m[4], m[5], m[2]) for m in outbox(warehouse, g)] for g in (key, leader, both, refused,
                                                                                   unreachable)}
    for g in (key, leader, both):
        assert sent[g] == [("sent", None, "vip_care_call", "care")], g
    assert sent[refused] == [("suppressed", "consent_withdrawn", "vip_care_call", "care")]
    assert sent[unreachable] == [("suppressed", "not_reachable", "vip_care_call", "care")]

    # The next day and within the cooldown: nobody is taken on twice.
    next_day = T0.replace(hour=10, minute=30) + timedelta(days=1)
    clock.set(next_day)
    a.tick(warehouse, next_day)
    assert len(tasks(warehouse)) == 5 and len(outbox(warehouse)) == 5


def test_the_daily_run_reads_only_patients_carrying_a_tag_the_audience_needs(warehouse):
    from molar.automation.facts import WarehouseFacts

    class CountingFacts(WarehouseFacts):
        read: list[str] = []

        def many(self, engine, golden_ids, now):
            self.read.extend(golden_ids)
            return super().many(engine, golden_ids, now)

    key, set_by_journey, untagged, retired = ids(4, held_out=False)
    for g in (key, set_by_journey, untagged):
        add_patient(warehouse, g)
    publish(warehouse, key, key_customer=True)
    publish(warehouse, retired, key_customer=True)        # a merged-away ID: tagged, no longer a patient
    warehouse.execute("INSERT INTO ops.automation_tag VALUES (?, 'opinion_leader', 'true', 1.0, ?, 'some_rule')",
                      [set_by_journey, T0 - timedelta(days=1)])
    facts = CountingFacts()
    a = automation(ManualClock(T0.replace(hour=10, minute=30)), facts=facts)
    a.tick(warehouse, T0.replace(hour=10, minute=30))
    assert set(facts.read) == {key, set_by_journey}     # the untagged patient is never read
    assert {g for g in (key, set_by_journey, untagged) if tasks(warehouse, g)} == {key, set_by_journey}
