"""The rule catalogue and the policy: shipped files load; mistakes name file, line and fix."""

import shutil
from datetime import timedelta

import pytest

from molar.automation import CatalogueError, load_catalogue, load_policy
from molar.automation.catalogue import RULES_DIR
from molar.automation.conditions import MISSING, compare, evaluate, parse_condition, resolve
from molar.automation.durations import DurationError, format_duration, parse_duration

SHIPPED = {"cleaning_oral_care_article", "decline_winback", "strategic_vip_advisor", "plaque_nurse_follow_up",
           "complaint_service_recovery", "implant_follow_up", "recall_due_reminder", "vip_key_customer_care",
           "fasttrack_slot_offer", "plan_follow_up"}


def test_shipped_catalogue_and_policy_load():
    catalogue = load_catalogue()
    assert set(catalogue.rules) == SHIPPED
    assert {r.purpose for r in catalogue.rules.values()} == {"care", "marketing"}
    for rule in catalogue.rules.values():
        assert rule.name_zh and rule.name_en and len(rule.version) == 12
    implant = catalogue.get("implant_follow_up")
    assert implant.first == "0" and implant.step("3").kind == "branch"
    assert implant.step("3").then_path == "3.then.0" and implant.step("3.then.1").next == "4"
    policy = load_policy()
    assert policy.quiet_start.hour == 21 and policy.quiet_end.hour == 8
    assert [(c.purpose, c.max, c.window) for c in policy.caps] == [("marketing", 2, timedelta(days=7)),
                                                                   ("any", 1, timedelta(days=1))]
    assert policy.consent_default == {"care": "reachable", "marketing": "denied"}


def test_version_changes_with_the_rule_not_with_comments(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    before = load_catalogue(rules).get("decline_winback").version
    path = rules / "decline_winback.yaml"
    path.write_text("# a new comment\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_catalogue(rules).get("decline_winback").version == before
    path.write_text(path.read_text(encoding="utf-8").replace("holdout_percent: 10", "holdout_percent: 20"),
                    encoding="utf-8")
    assert load_catalogue(rules).get("decline_winback").version != before


GOOD = """key: demo_rule
name: {zh: 演示, en: Demo}
purpose: care
trigger:
  event:
    type: visit.completed
steps:
  - wait: 7d
  - send: {channel: sms, template: t1}
"""
TEMPLATES = "templates:\n  t1: {zh: 你好, en: Hello}\n"


@pytest.mark.parametrize("change,line,message", [
    (("type: visit.completed", "type: visit.complete"), 6, "unknown event type 'visit.complete' (did you mean 'visit.completed'?)"),
    (("wait: 7d", "wait: 7 days"), 8, "wait: '7 days' is not a duration; write a number and a unit: 30m, 1h, 7d"),
    (("channel: sms", "channel: email"), 9, "channel 'email' is not one of: sms, wechat, app, best"),
    (("template: t1", "template: t2"), 9, "unknown template 't2'; add it to a templates file"),
    (("purpose: care", "purpose: promo"), 3, "purpose 'promo' is not one of: care, marketing"),
    (("  - wait: 7d", "  - sleep: 7d"), 8, "unknown step 'sleep'"),
    (("name: {zh: 演示, en: Demo}", "name: {zh: 演示}"), 2, "missing 'en'"),
    (("purpose: care\n", "purpose: care\nholdout_percent: 150\n"), 4, "holdout_percent 150 must be a number from 0 to 100"),
    (("purpose: care\n", "purpose: care\nconditions: [{fact: tierr, op: '==', value: x}]\n"), 4,
     "unknown fact 'tierr' (did you mean 'tier'?)"),
    (("purpose: care\n", "purpose: care\nconditions: [{fact: tier, op: '=', value: x}]\n"), 4,
     "unknown op '='"),
    (("purpose: care\n", "purpose: care\nenabeld: true\n"), 4, "unknown key 'enabeld' (did you mean 'enabled'?)"),
])
def test_mistakes_name_file_line_and_fix(tmp_path, change, line, message):
    (tmp_path / "templates.yaml").write_text(TEMPLATES, encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(CatalogueError) as err:
        load_catalogue(tmp_path)
    assert f"demo.yaml:{line}: " in str(err.value)
    assert message in str(err.value)


def test_good_rule_loads_and_duplicates_and_bad_yaml_are_reported(tmp_path):
    (tmp_path / "templates.yaml").write_text(TEMPLATES, encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(GOOD, encoding="utf-8")
    assert list(load_catalogue(tmp_path).rules) == ["demo_rule"]
    (tmp_path / "again.yaml").write_text("rules:\n  - " + GOOD.replace("\n", "\n    ").rstrip() + "\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"demo.yaml:1: rule key 'demo_rule' is also used in .*again.yaml:2"):
        load_catalogue(tmp_path)
    (tmp_path / "again.yaml").write_text("key: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"again.yaml:\d+: not valid YAML"):
        load_catalogue(tmp_path)


def test_template_variables_must_be_known(tmp_path):
    (tmp_path / "templates.yaml").write_text("templates:\n  t1: {zh: '{coupon.code}', en: '{link}'}\n", encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"demo.yaml:9: .*uses \{coupon.code\} but the rule issues no coupon"):
        load_catalogue(tmp_path)
    (tmp_path / "templates.yaml").write_text("templates:\n  t1: {zh: '{link}', en: '{link}'}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"uses \{link\}, which is neither in this step's vars nor a fact"):
        load_catalogue(tmp_path)


def test_templates_and_vars_never_quote_personal_event_fields(tmp_path):
    (tmp_path / "demo.yaml").write_text(GOOD.replace("type: visit.completed", "type: consult.message"), encoding="utf-8")
    (tmp_path / "templates.yaml").write_text("templates:\n  t1: {zh: '您说：{event.text}', en: '{event.text}'}\n",
                                             encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"demo.yaml:9: .*quotes \{event.text\}, which can carry personal data"):
        load_catalogue(tmp_path)
    (tmp_path / "templates.yaml").write_text("templates:\n  t1: {zh: '{said}', en: '{said}'}\n", encoding="utf-8")
    (tmp_path / "demo.yaml").write_text(GOOD.replace("template: t1}", "template: t1, vars: {said: {fact: event.text}}}"),
                                        encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"vars said: 'event.text' can carry personal data"):
        load_catalogue(tmp_path)


def test_policy_mistakes(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("quiet_hours: {start: '25:00', end: '08:00'}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"policy.yaml:1: quiet_hours start '25:00' is not a time of day"):
        load_policy(path)
    path.write_text("consent:\n  default: {care: reachable, marketing: maybe}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"policy.yaml:2: consent default for marketing: 'maybe'"):
        load_policy(path)
    path.write_text("caps:\n  - {name: x, purpose: marketing, max: 2, window: 7d}\nquiet_hours: false\n",
                    encoding="utf-8")
    policy = load_policy(path)
    assert policy.caps[0].name == "x" and policy.quiet_start is None


def test_durations():
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("", "7", "d", "0d", "7 days", "-1d"):
        with pytest.raises(DurationError):
            parse_duration(bad)
    assert format_duration(timedelta(days=7)) == "7 days"
    assert format_duration(timedelta(hours=1, minutes=30), "zh") == "1小时30分钟"


def test_conditions():
    facts = {"tier": "strategic", "value_score": 71.5, "tags": {"caries_risk": "0.7", "vip": True},
             "event": {"items": [{"item_code": "CLN"}, {"item_code": "CHK"}], "sentiment": "complaint"}}

    def check(text):
        import yaml

        return evaluate(parse_condition(None, yaml.safe_load(text), None), facts)

    assert check("{fact: tier, op: '==', value: strategic}").ok
    assert check("{fact: value_score, op: '>=', value: 70}").ok
    assert check("{fact: tags.caries_risk, op: '>', value: 0.5}").ok  # numbers stored as text compare as numbers
    assert check("{fact: tags.vip, op: '==', value: true}").ok
    assert check("{fact: event.items.item_code, op: contains, value: CLN}").ok
    assert not check("{fact: event.items.item_code, op: contains, value: IMP}").ok
    assert check("{fact: tier, op: in, value: [strategic, growth]}").ok
    assert check("{fact: stage, op: not_in, value: [churn]}").ok  # missing: not_in holds
    assert not check("{fact: stage, op: '==', value: churn}").ok
    assert check("{fact: stage, op: exists, value: false}").ok
    assert check("{any: [{fact: stage, op: exists}, {fact: tier, op: '==', value: strategic}]}").ok
    assert not check("{not: {fact: tier, op: '==', value: strategic}}").ok
    outcome = check("[{fact: tier, op: '==', value: strategic}, {fact: value_score, op: '<', value: 50}]")
    assert not outcome.ok and outcome.describe() == "value_score is below 50 (actual: 71.5)"
    assert resolve(facts, "tags.missing") is MISSING
    assert not compare(MISSING, ">", 1) and compare("abc", "contains", "b")
    # boolean tags are published as 1.0 / 0.0 (value_num): they match true / false, nothing else does
    assert compare(1.0, "==", True) and compare(0.0, "==", False) and compare(0.0, "!=", True)
    assert not compare(2.0, "==", True) and not compare(1.0, "==", False) and not compare(None, "==", False)
