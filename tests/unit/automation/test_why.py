"""`why` answers for every outcome, in English and Chinese."""

from datetime import datetime, timedelta

from molar.automation import ManualClock, why
from molar.automation.admin import set_rule_enabled
from unit.automation.autolib import CATALOGUE, add_patient, automation, ev, in_every_rule, visit

T0 = datetime(2026, 10, 5, 10, 0)
RULE = "cleaning_oral_care_article"


def ask(engine, g, rule=RULE, now=T0):
    sentences = why(engine, g, rule, CATALOGUE, now=now)
    assert all(s.en and s.zh for s in sentences)
    return sentences


def test_never_triggered_names_the_trigger_and_the_last_relevant_event(warehouse):
    g = in_every_rule()
    a = automation(ManualClock(T0))
    first = ask(warehouse, g)
    assert first[0].code == "never_triggered"
    assert "visit.completed where items.item_code contains CLN" in first[0].en
    assert first[1].en == "No visit.completed event has been received for this patient."
    a.on_events(warehouse, [visit(g, T0 - timedelta(days=1), "FILL", event_id="V-fill")])
    text = [s.en for s in ask(warehouse, g)]
    assert "The last visit.completed was V-fill at 2026-10-04 10:00; it does not match: " \
           "items.item_code contains CLN (actual: [FILL])." in text


def test_conditions_false_says_which_condition_and_the_actual_value(warehouse):
    g = in_every_rule()
    a = automation(ManualClock(T0))
    e = visit(g, T0, "CLN")
    a.on_events(warehouse, [e.with_(data={**e.data, "department": "paediatrics"})])
    sentences = ask(warehouse, g)
    assert sentences[0].code == "condition_false"
    assert sentences[0].en == "No: conditions not met: event.department is not paediatrics (actual: paediatrics)."
    assert "条件不满足" in sentences[0].zh


def test_held_out(warehouse):
    from molar.automation import is_held_out

    rule = CATALOGUE.get(RULE)
    g = next(x for x in (f"G{i:010d}" for i in range(500)) if is_held_out(rule, x))
    automation(ManualClock(T0)).on_events(warehouse, [visit(g, T0, "CLN")])
    [head, *_] = ask(warehouse, g)
    assert head.code == "held_out" and "10% control group" in head.en and "对照组" in head.zh


def test_waiting_then_sent_then_suppressed_with_numbers(warehouse):
    g = in_every_rule()
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock)
    a.on_events(warehouse, [visit(g, T0, "CLN")])
    head, *rest = ask(warehouse, g)
    assert head.en == "Not yet: the journey is waiting; the timer is due at 2026-10-12 10:00."
    assert any(s.en == "Waiting: the next step runs at 2026-10-12 10:00." for s in rest)

    clock.set(T0 + timedelta(days=7))
    a.tick(warehouse, clock())
    head, *rest = ask(warehouse, g, now=clock())
    assert head.en == "Yes: the patient received 'oral_care_article' on sms at 2026-10-12 10:00."
    assert any("was sent on sms at 2026-10-12 10:00 (attempt 1); the gateway accepted it" in s.en for s in rest)



def test_suppressed_by_the_cap_reads_with_numbers(warehouse, tmp_path):
    import shutil

    from molar.automation import load_catalogue
    from molar.automation.catalogue import RULES_DIR

    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    for name in ("a", "b", "c"):
        (rules / f"promo_{name}.yaml").write_text(
            f"key: promo_{name}\nname: {{zh: 活动{name}, en: Promo {name}}}\npurpose: marketing\n"
            f"trigger: {{event: {{type: app.action, where: [{{field: action, op: '==', value: {name}}}]}}}}\n"
            "steps:\n  - send: {channel: sms, template: recall_reminder, vars: {booking_url: 'https://x'}}\n",
            encoding="utf-8")
    catalogue = load_catalogue(rules)
    g = in_every_rule()
    add_patient(warehouse, g)
    clock = ManualClock(T0)
    a = automation(clock, catalogue=catalogue)
    a.on_events(warehouse, [ev("consent.changed", g, T0 - timedelta(days=1), channel="sms", purpose="marketing",
                               granted=True)])
    for day, name in enumerate(("a", "b", "c")):
        clock.set(T0 + timedelta(days=day, hours=1))
        a.on_events(warehouse, [ev("app.action", g, clock(), platform="app", action=name)])
        a.tick(warehouse, clock())
    sentences = why(warehouse, g, "promo_c", catalogue, now=clock())
    assert sentences[0].en == ("No: 'recall_reminder' was suppressed: marketing cap reached: 2 messages in the last "
                               "7 days on sms (limit 2).")
    assert "已达营销频次上限" in sentences[0].zh


def test_disabled_rule_and_threshold_progress_are_explained(warehouse):
    g = in_every_rule()
    set_rule_enabled(warehouse, CATALOGUE, RULE, False, now=T0, by="运营")
    head = ask(warehouse, g)[0]
    assert head.code == "rule_disabled" and "by 运营" in head.en

    a = automation(ManualClock(T0))
    for n, v in enumerate([1.8, 1.9]):
        d = (T0 + timedelta(days=n)).date()
        a.on_events(warehouse, [ev("telemetry.daily", g, T0 + timedelta(days=n), device_id="D",
                                   measured_on=d.isoformat(), plaque_index=v)])
    text = [s.en for s in ask(warehouse, g, "plaque_nurse_follow_up")]
    assert "days in a row with plaque_index > 1.5: 2, needs 3" in text[1]


def test_unknown_rule_suggests_the_right_key(warehouse):
    import pytest

    from molar.automation.explain import ExplainError

    with pytest.raises(ExplainError, match="did you mean 'decline_winback'"):
        why(warehouse, "G1", "decline_winbak", CATALOGUE, now=T0)
