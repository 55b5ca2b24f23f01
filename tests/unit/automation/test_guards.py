"""The contact policy: consent, caps across rules, quiet hours, open complaints, holdout."""

import shutil
from datetime import datetime, timedelta

import pytest

from molar.automation import ManualClock, StaticFacts, holdout_bucket, is_held_out, load_catalogue
from molar.automation.catalogue import RULES_DIR
from molar.delivery.channels import WebhookChannel
from molar.delivery.tasks import resolve_task
from molar.privacy.consent import current, history
from unit.automation.autolib import (
    CATALOGUE,
    add_patient,
    automation,
    decisions,
    ev,
    in_every_rule,
    outbox,
    visit,
)

T0 = datetime(2026, 10, 5, 10, 0)


def ok_patient(rule_key: str, skip: int = 0) -> str:
    rule = CATALOGUE.get(rule_key)
    return [g for g in (f"G{i:010d}" for i in range(1, 300)) if not is_held_out(rule, g)][skip]


def consent(golden_id, at, purpose="marketing", granted=True, channel="sms"):
    return ev("consent.changed", golden_id, at, channel=channel, purpose=purpose, granted=granted)


def webhook_channels(gateway):
    return {c: WebhookChannel(gateway.url, gateway.secret, name=c, timeout=2) for c in ("sms", "wechat", "app")}


def test_marketing_needs_an_explicit_grant_care_does_not(warehouse):
    g = ok_patient("strategic_vip_advisor")
    add_patient(warehouse, g)
    a = automation(ManualClock(T0))
    a.on_events(warehouse, [ev("tier.changed", g, T0, from_tier="growth", to_tier="strategic")])
    [(rule, channel, purpose, status, reason, *_)] = outbox(warehouse, g)
    assert (purpose, status, reason) == ("marketing", "suppressed", "no_consent")
    sent_reason = warehouse.scalar("SELECT reason_en FROM ops.rule_decision WHERE outcome = 'suppressed'")
    assert "explicit opt-in" in sent_reason
    # the staff task is not a message: it is created regardless of consent
    assert warehouse.scalar("SELECT count(*) FROM ops.task WHERE golden_id = ?", [g]) == 1


def test_consent_withdrawal_blocks_a_queued_message_at_dispatch(warehouse, gateway):
    g = ok_patient("strategic_vip_advisor")
    add_patient(warehouse, g)
    night = datetime(2026, 10, 5, 22, 30)
    clock = ManualClock(night)
    a = automation(clock, channels=webhook_channels(gateway))
    a.on_events(warehouse, [consent(g, night - timedelta(days=3)),
                            ev("tier.changed", g, night, from_tier="growth", to_tier="strategic")])
    [(_, _, _, status, reason, _, next_at, _)] = outbox(warehouse, g)
    assert (status, reason, next_at) == ("queued", "quiet_hours", datetime(2026, 10, 6, 8, 0))
    clock.set(datetime(2026, 10, 6, 7, 0))
    a.on_events(warehouse, [consent(g, clock(), granted=False)])  # withdrawn before it went out
    a.tick(warehouse, datetime(2026, 10, 6, 8, 0))
    [(_, _, _, status, reason, *_)] = outbox(warehouse, g)
    assert (status, reason) == ("suppressed", "consent_withdrawn")
    assert gateway.requests == []
    last = decisions(warehouse, "strategic_vip_advisor", g)[-1]
    assert last[3:] == ("suppressed", "consent_withdrawn")


def test_quiet_hours_defer_messages_then_send_and_never_defer_tasks(warehouse, gateway):
    g = ok_patient("strategic_vip_advisor")
    add_patient(warehouse, g)
    night = datetime(2026, 10, 5, 22, 30)
    a = automation(ManualClock(night), channels=webhook_channels(gateway))
    a.on_events(warehouse, [consent(g, night - timedelta(days=1)),
                            ev("tier.changed", g, night, from_tier="growth", to_tier="strategic")])
    assert warehouse.scalar("SELECT created_at FROM ops.task WHERE golden_id = ?", [g]) == night
    a.tick(warehouse, night + timedelta(minutes=30))
    a.tick(warehouse, datetime(2026, 10, 6, 7, 59))
    assert gateway.requests == []
    a.tick(warehouse, datetime(2026, 10, 6, 8, 0))
    assert len(gateway.requests) == 1
    [(_, _, _, status, _, _, _, sent_at)] = outbox(warehouse, g)
    assert (status, sent_at) == ("sent", datetime(2026, 10, 6, 8, 0))
    deferred = warehouse.scalar("SELECT reason_en FROM ops.rule_decision WHERE outcome = 'deferred'")
    assert "quiet hours 21:00–08:00" in deferred and "2026-10-06 08:00" in deferred


def test_marketing_cap_holds_across_rules(warehouse, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "share_thanks.yaml").write_text(
        "key: share_thanks\nname: {zh: 分享感谢, en: Thanks for sharing}\npurpose: marketing\n"
        "trigger: {event: {type: app.action, where: [{field: action, op: '==', value: share}]}}\n"
        "steps:\n  - send: {channel: sms, template: recall_reminder, vars: {booking_url: 'https://x'}}\n",
        encoding="utf-8")
    catalogue = load_catalogue(rules)
    g = in_every_rule()
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock, catalogue=catalogue)
    a.on_events(warehouse, [consent(g, T0 - timedelta(days=10))])
    a.on_events(warehouse, [ev("lifecycle.changed", g, T0, from_stage="mature", to_stage="decline")])  # 1
    clock.set(T0 + timedelta(days=2))
    a.on_events(warehouse, [ev("tier.changed", g, clock(), from_tier="growth", to_tier="strategic")])  # 2
    clock.set(T0 + timedelta(days=4))
    a.on_events(warehouse, [ev("app.action", g, clock(), platform="app", action="share")])  # 3: over the cap
    statuses = [(m[0], m[3], m[4]) for m in outbox(warehouse, g)]
    assert statuses == [("decline_winback", "queued", None), ("strategic_vip_advisor", "queued", None),
                        ("share_thanks", "suppressed", "cap_marketing_weekly")]
    reason = warehouse.scalar("SELECT reason_en FROM ops.rule_decision WHERE reason_code = 'cap_marketing_weekly'")
    assert reason == "marketing cap reached: 2 messages in the last 7 days on sms (limit 2)"
    # a week later the window has room again
    clock.set(T0 + timedelta(days=9, hours=1))
    a.on_events(warehouse, [ev("app.action", g, clock(), platform="app", action="share")])
    assert outbox(warehouse, g)[-1][3] == "queued"


def test_daily_cap_counts_every_purpose(warehouse):
    g = ok_patient("cleaning_oral_care_article")
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [visit(g, T0, "CLN", "IMP")])  # both journeys
    for day in (1, 2, 7):
        clock.set(T0 + timedelta(days=day))
        a.tick(warehouse, clock())  # day 7: the implant check (care) and the cleaning article fall due together
    by_template = {m[5]: (m[3], m[4]) for m in outbox(warehouse, g)}
    assert by_template["implant_day1"] == ("sent", None)
    assert sorted([by_template["implant_day7"], by_template["oral_care_article"]]) == [
        ("sent", None), ("suppressed", "cap_daily")]


def test_open_complaint_suppresses_marketing_not_care_until_resolved(warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [consent(g, T0 - timedelta(days=10)),
                            ev("consult.message", g, T0, consult_id="K1", channel="chat", text="太差了",
                               sentiment="complaint")])
    clock.set(T0 + timedelta(days=1))
    a.on_events(warehouse, [ev("lifecycle.changed", g, clock(), from_stage="mature", to_stage="decline"),
                            visit(g, clock(), "CLN")])
    [(rule, _, purpose, status, reason, *_)] = outbox(warehouse, g)
    assert (rule, purpose, status, reason) == ("decline_winback", "marketing", "suppressed", "open_complaint")
    clock.set(T0 + timedelta(days=8))
    a.tick(warehouse, clock())
    care = [m for m in outbox(warehouse, g) if m[0] == "cleaning_oral_care_article"]
    assert [(m[2], m[3]) for m in care] == [("care", "sent")]
    # resolving the service-recovery task closes the complaint: marketing flows again
    task_id = warehouse.scalar("SELECT task_id FROM ops.task WHERE kind = 'service_recovery'")
    resolve_task(warehouse, task_id, now=clock(), by="客服小王")
    clock.set(T0 + timedelta(days=10))
    a.on_events(warehouse, [ev("tier.changed", g, clock(), from_tier="growth", to_tier="strategic")])
    assert outbox(warehouse, g)[-1][:4] == ("strategic_vip_advisor", "sms", "marketing", "queued")


def test_best_channel_follows_reachability_and_preference(warehouse):
    g = ok_patient("complaint_service_recovery")
    facts = StaticFacts({g: {"reachable": {"sms": True, "wechat": True, "app": False}}})
    a = automation(ManualClock(T0), facts=facts)
    a.on_events(warehouse, [visit(g, T0, "IMP")])
    a.tick(warehouse, T0 + timedelta(days=1))
    assert outbox(warehouse, g)[0][1] == "wechat"  # policy order app > wechat > sms; no app
    facts.set(g, preferred_channel="sms")
    a.on_events(warehouse, [visit(g, T0 + timedelta(days=2), "IMP")])
    a.tick(warehouse, T0 + timedelta(days=3))
    assert outbox(warehouse, g)[-1][1] == "sms"


def test_unreachable_patient_is_suppressed_with_a_reason(warehouse):
    g = ok_patient("implant_follow_up")
    a = automation(ManualClock(T0))  # no identity.patient row: no address on any channel
    a.on_events(warehouse, [visit(g, T0, "IMP")])
    a.tick(warehouse, T0 + timedelta(days=1))
    [(_, channel, _, status, reason, *_)] = outbox(warehouse, g)
    assert (status, reason) == ("suppressed", "not_reachable")


def test_holdout_is_deterministic_and_close_to_the_configured_share():
    rule = CATALOGUE.get("cleaning_oral_care_article")
    assert rule.holdout_percent == 10
    ids = [f"G{i:010d}" for i in range(10_000)]
    first = [is_held_out(rule, g) for g in ids]
    assert first == [is_held_out(rule, g) for g in ids]  # always in or always out
    assert 0.09 <= sum(first) / len(ids) <= 0.11
    # independent of the other rules' draws
    other = CATALOGUE.get("decline_winback")
    assert [is_held_out(other, g) for g in ids] != first
    assert all(0 <= holdout_bucket(rule.key, g) < 100 for g in ids[:100])


def test_holdout_decided_once_per_patient_across_restarts(tmp_path):
    from molar.warehouse import open_warehouse

    rule = CATALOGUE.get("cleaning_oral_care_article")
    out_g = next(g for g in (f"G{i:010d}" for i in range(200)) if is_held_out(rule, g))
    path = tmp_path / "w.duckdb"
    for n in range(2):
        engine = open_warehouse(path=path)
        add_patient(engine, f"{out_g}") if n == 0 else None
        automation(ManualClock(T0)).on_events(engine, [visit(out_g, T0 + timedelta(days=40 * n), "CLN")])
        engine.close()
    engine = open_warehouse(path=path)
    assert [d[3] for d in decisions(engine, rule.key, out_g)] == ["held_out", "held_out"]
    engine.close()


@pytest.mark.parametrize("when,expected", [
    (datetime(2026, 10, 5, 20, 59), datetime(2026, 10, 5, 20, 59)),
    (datetime(2026, 10, 5, 21, 0), datetime(2026, 10, 6, 8, 0)),
    (datetime(2026, 10, 6, 0, 30), datetime(2026, 10, 6, 8, 0)),
    (datetime(2026, 10, 6, 8, 0), datetime(2026, 10, 6, 8, 0)),
])
def test_quiet_hours_window(when, expected):
    from unit.automation.autolib import POLICY

    assert POLICY.next_allowed(when) == expected


def test_quiet_hours_are_checked_again_at_dispatch(warehouse, gateway):
    """Queued in the evening, dispatched late: the outbox must not send inside quiet hours."""
    g = ok_patient("strategic_vip_advisor")
    add_patient(warehouse, g)
    evening = datetime(2026, 10, 5, 20, 50)
    a = automation(ManualClock(evening), channels=webhook_channels(gateway))
    a.on_events(warehouse, [consent(g, evening - timedelta(days=1)),
                            ev("tier.changed", g, evening, from_tier="growth", to_tier="strategic")])
    [(_, _, _, status, reason, _, next_at, _)] = outbox(warehouse, g)
    assert (status, reason, next_at) == ("queued", None, evening)  # due before quiet hours start
    a.tick(warehouse, datetime(2026, 10, 5, 21, 30))  # the dispatcher only runs now
    assert gateway.requests == []
    [(_, _, _, status, _, _, next_at, _)] = outbox(warehouse, g)
    assert (status, next_at) == ("queued", datetime(2026, 10, 6, 8, 0))
    a.tick(warehouse, datetime(2026, 10, 6, 8, 0))
    assert len(gateway.requests) == 1


def test_cap_counts_messages_already_scheduled_later(warehouse):
    """A message deferred to tomorrow morning takes the daily cap for a message decided today."""
    from molar.automation.guards import check_send
    from molar.delivery.outbox import enqueue
    from unit.automation.autolib import POLICY

    g = "G0000000001"
    tomorrow = datetime(2026, 10, 6, 8, 0)
    enqueue(warehouse, idempotency_key="k1", golden_id=g, channel="sms", purpose="care", text="hi",
            now=datetime(2026, 10, 5, 22, 30), send_at=tomorrow)
    facts = {"golden_id": g, "reachable": {"sms": True}}
    result = check_send(warehouse, POLICY, facts, channel="sms", purpose="care", now=datetime(2026, 10, 5, 15, 0))
    assert (result.outcome, result.code, result.detail["later"]) == ("suppress", "cap_daily", 1)
    assert "1 already scheduled later" in result.en
    # a day and more after the scheduled one, the cap has room again
    later = check_send(warehouse, POLICY, facts, channel="sms", purpose="care", now=datetime(2026, 10, 7, 9, 0))
    assert later.outcome == "send"


def test_an_older_consent_change_arriving_late_does_not_overwrite_a_newer_one(warehouse):
    g = ok_patient("strategic_vip_advisor")
    add_patient(warehouse, g)
    a = automation(ManualClock(T0))
    a.on_events(warehouse, [consent(g, T0 - timedelta(days=1), granted=False, channel="sms")])
    a.on_events(warehouse, [consent(g, T0 - timedelta(days=5), granted=True, channel="sms")])  # older, late
    in_force = current(warehouse, g, "marketing", "sms")
    assert (in_force.granted, in_force.occurred_at) == (False, T0 - timedelta(days=1))
    assert [(h["granted"], h["occurred_at"]) for h in history(warehouse, g)] == [
        (True, T0 - timedelta(days=5)), (False, T0 - timedelta(days=1))]   # both kept, the newer in force
    a.on_events(warehouse, [ev("tier.changed", g, T0, from_tier="growth", to_tier="strategic")])
    [(_, _, _, status, reason, *_)] = outbox(warehouse, g)
    assert (status, reason) == ("suppressed", "consent_withdrawn")
    # a newer change still applies
    a.on_events(warehouse, [consent(g, T0 - timedelta(hours=1), granted=True, channel="sms")])
    assert current(warehouse, g, "marketing", "sms").granted is True


@pytest.mark.parametrize("start,end,quiet,loud", [
    ("22:00", "08:00", ["22:00", "23:59", "00:00", "03:00", "07:59"], ["08:00", "12:00", "21:59"]),
    ("12:30", "14:00", ["12:30", "13:59"], ["12:29", "14:00", "00:00", "23:00"]),
])
def test_quiet_window_wraps_midnight_only_when_it_ends_before_it_starts(start, end, quiet, loud):
    from dataclasses import replace
    from datetime import time

    from unit.automation.autolib import POLICY

    policy = replace(POLICY, quiet_start=time.fromisoformat(start), quiet_end=time.fromisoformat(end))
    day = datetime(2026, 10, 5)

    def at(hhmm: str) -> datetime:
        return datetime.combine(day, time.fromisoformat(hhmm))

    assert [t for t in quiet if not policy.in_quiet_hours(at(t))] == []
    assert [t for t in loud if policy.in_quiet_hours(at(t))] == []
    assert policy.next_allowed(at("23:00")) == (datetime(2026, 10, 6, 8, 0) if start == "22:00" else at("23:00"))
    assert policy.next_allowed(at("03:00")) == (datetime(2026, 10, 5, 8, 0) if start == "22:00" else at("03:00"))


@pytest.mark.parametrize("start,end", [(None, None), ("08:00", None), (None, "08:00"), ("22:00", "22:00")])
def test_quiet_hours_switched_off_never_defer(start, end):
    from dataclasses import replace
    from datetime import time

    from unit.automation.autolib import POLICY

    policy = replace(POLICY, quiet_start=start and time.fromisoformat(start),
                     quiet_end=end and time.fromisoformat(end))
    for hour in (0, 7, 8, 12, 21, 22, 23):
        when = datetime(2026, 10, 5, hour, 30)
        assert not policy.in_quiet_hours(when) and policy.next_allowed(when) == when, hour
