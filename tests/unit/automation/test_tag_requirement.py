"""Which tags an audience needs (conditions.tag_requirement): the patients a daily schedule
must read. Worked out by hand from the evaluation rules: a missing tag passes `!=`,
`not_in` and `exists: false`, fails everything else."""

from __future__ import annotations

import pytest

from molar.automation.conditions import Check, Group, evaluate, tag_requirement

KEY = Check("tags.key_customer", "==", True)
LEADER = Check("tags.opinion_leader", "==", True)
BAND = Check("tags.age_band", "in", ("0-12", "13-18"))
TIER = Check("tier", "==", "strategic")


@pytest.mark.parametrize(("condition", "needs"), [
    (KEY, {"key_customer": True}),
    (BAND, {"age_band": False}),                                   # present, any listed value
    (Check("tags.churn_risk", ">=", 0.7), {"churn_risk": False}),
    (Check("tags.recall_due", "exists", True), {"recall_due": False}),
    (Check("tags.recall_due", "exists", False), None),             # passes without the tag
    (Check("tags.language", "!=", "en"), None),
    (Check("tags.language", "not_in", ("en",)), None),
    (TIER, None),
    (Group("any", (KEY, LEADER)), {"key_customer": True, "opinion_leader": True}),
    (Group("any", (KEY, Check("tags.key_customer", "exists", True))), {"key_customer": False}),
    (Group("any", (Check("tags.key_customer", "exists", True), KEY)), {"key_customer": False}),
    (Group("any", (KEY, TIER)), None),                             # the tier branch needs no tag
    (Group("all", (TIER, BAND)), {"age_band": False}),
    (Group("all", (TIER,)), None),
    (Group("not", (KEY,)), None),
    (None, None),
])
def test_tags_an_audience_needs(condition, needs):
    assert tag_requirement(condition) == needs


@pytest.mark.parametrize("condition", [KEY, BAND, Group("any", (KEY, LEADER)), Group("all", (TIER, BAND))])
def test_a_patient_without_the_needed_tags_never_matches(condition):
    needs = tag_requirement(condition)
    assert not evaluate(condition, {"tags": {}, "tier": "strategic"}).ok
    false_tags = {"tags": dict.fromkeys((k for k, true in needs.items() if true), 0.0), "tier": "strategic"}
    if all(needs.values()):          # every needed tag must be true: false ones do not match either
        assert not evaluate(condition, false_tags).ok
