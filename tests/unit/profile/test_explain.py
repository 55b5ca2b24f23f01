"""explain_patient: every tag with its inputs and rule, the value score's components, the tier
in plain words, the lifecycle reason and transitions, sentiment; merged and unknown IDs."""

from __future__ import annotations

from datetime import datetime

import pytest

from molar.profile.explain import UnknownPatient, explain_patient
from unit.profile.crafted import (
    AS_OF,
    RUN_AT,
    Booking,
    Brush,
    Card,
    Chain,
    Charge,
    Patient,
    Text,
    Visit,
    ago,
    at,
    fresh_warehouse,
    run_profile,
    shipped_tags,
)

RETIRED = "G0000000007"


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def _chain() -> Chain:
    others = [Patient(f"o{i}", visits=[Visit(ago(30 + 50 * i), ["CHK"], amount=200 + 300 * i)]) for i in range(6)]
    return Chain([
        Patient("anna", birth=datetime(1988, 3, 2).date(), district="武侯区", merged_from=[RETIRED],
                visits=[Visit(ago(400), ["CLN"], "牙石(+)", amount=280), Visit(ago(100), ["CHK"], amount=50),
                        Visit(ago(20), ["FILL"], "中龋(26)", amount=400)],
                charges=[Charge(ago(20), 600, paid=300)],
                bookings=[Booking(at(ago(20)), "wechat"), Booking(at(ago(100)), "phone")],
                cards=[Card("gold", "洁牙年卡(剩余1次)")],
                brushing=[Brush(ago(2), 200, 0.8)],
                texts=[Text(at(ago(300)), "doubt", "洗牙会不会伤牙齿"), Text(at(ago(5)), "satisfied", "补牙很快，不疼")]),
        Patient("lead"),
        *others,
    ])


def test_explain_a_profiled_patient(warehouse):
    chain = _chain().build(warehouse)
    summary = run_profile(warehouse)
    info = explain_patient(warehouse, chain["anna"])
    assert info["golden_id"] == chain["anna"]
    assert info["asked_for"] is None
    assert info["profile_run"] == {"run_id": summary["run_id"], "as_of": "2026-10-31"}

    tags = {t["key"]: t for t in info["tags"]}
    assert [t["key"] for t in info["tags"]] == sorted(tags)
    # every shipped tag but the social ones (no app events) and the predictive ones (no
    # `molar churn score` / `molar clv score` run yet)
    assert set(tags) == {t.key for t in shipped_tags(include_value=True)} - {
        "article_shares_365d", "referrals_made", "referral_reach", "opinion_leader", "referrals_converted",
        "churn_risk", "clv_24m_yuan", "key_customer"}
    recall = tags["recall_status"]
    assert recall["value"] == "not_due"
    assert recall["dimension"] == "health"
    assert recall["name_en"] == "Recall status" and recall["name_zh"] == "复查状态"
    assert recall["inputs"] == {"last_cleaning_or_checkup": str(ago(100)), "days_since": 100}
    assert recall["rule"].startswith("Days since the last cleaning or check-up")
    assert recall["defined_in"].startswith("health.yaml:")
    assert recall["since"] == "2026-10-31 00:00:00"
    assert recall["history"] == [{"value": "not_due", "from": "2026-10-31 00:00:00", "to": None}]
    assert tags["outstanding_balance_yuan"]["value"] == "300.00"
    assert tags["outstanding_balance_yuan"]["unit"] == "CNY"
    assert tags["distance_to_clinic_km"]["inputs"] == {"district": "武侯区", "nearest_clinic": "C01"}

    score = warehouse.arrow("SELECT * FROM profile.value_score WHERE golden_id = ?", [chain["anna"]]).to_pylist()[0]
    vs = info["value_score"]
    assert vs["value_score"] == score["value_score"]
    assert vs["components"]["recency"] == {"days_since_last_visit": 20, "score": score["r_score"], "weight": 0.25}
    assert vs["components"]["monetary"] == {"spend_24m_yuan": 1330.0, "score": score["m_score"], "weight": 0.35}
    assert vs["components"]["frequency"]["weight"] == 0.25
    assert vs["components"]["health"]["weight"] == 0.15
    assert vs["components"]["health"]["health_risk"] == score["health_risk"]
    assert "0.35·monetary" in vs["rule"]

    tier = info["tier"]
    stored = warehouse.rows("SELECT tier, cluster FROM profile.tier WHERE golden_id = ?", [chain["anna"]])[0]
    assert (tier["tier"], tier["cluster"]) == stored
    assert tier["cluster"] >= 0
    assert tier["rule"] == f"kmeans cluster nearest to the {tier['tier']} prototype"
    assert tier["in_plain_words"]["if"] and isinstance(tier["in_plain_words"]["purity"], float)

    lc = info["lifecycle"]
    assert lc["stage"] == "mature"
    assert lc["since"] == "2026-10-31"
    assert lc["reason"] == "regular for 400 days, last visit 20 days ago"
    assert lc["inputs"]["days_since_last_visit"] == 20
    assert lc["transitions"] == [{"from": None, "to": "mature", "on": "2026-10-31", "reason": lc["reason"]}]

    assert info["sentiment"]["latest"] == "satisfied"
    assert [t["label"] for t in info["sentiment"]["recent_texts"]] == ["satisfied", "doubt"]
    assert info["sentiment"]["recent_texts"][0]["id"] == "CS-anna-2"


def test_explain_someone_who_never_visited(warehouse):
    chain = _chain().build(warehouse)
    run_profile(warehouse)
    info = explain_patient(warehouse, chain["lead"])
    assert info["value_score"] is None
    assert info["tier"] == {"tier": "potential", "cluster": -1, "distance_to_centroid": None,
                            "rule": "no visit yet: people who have not been treated are potential customers (not clustered)"}
    assert info["lifecycle"]["stage"] == "acquisition" and info["lifecycle"]["reason"] == "no visit yet"
    assert info["sentiment"] == {"latest": None, "latest_complaint_aspects": None, "recent_texts": []}
    assert {t["key"] for t in info["tags"]} == {"age_band", "sex", "district", "distance_to_clinic_km",
                                                  "value_tier", "lifecycle_stage"}


def test_a_merged_golden_id_is_redirected(warehouse):
    chain = _chain().build(warehouse)
    # a second, older merge: G…8 went into G…7, which later went into anna
    warehouse.execute("INSERT INTO identity.golden VALUES ('G0000000008', 'retired', ?, 'R0', ?, ?, ?, 0)",
                      [RUN_AT, RUN_AT, RUN_AT, RETIRED])
    run_profile(warehouse)
    for old in (RETIRED, "G0000000008"):
        info = explain_patient(warehouse, old)
        assert info["golden_id"] == chain["anna"]
        assert info["asked_for"] == old
        assert info["lifecycle"]["stage"] == "mature"


def test_an_unknown_id_says_what_to_check(warehouse):
    _chain().build(warehouse)
    with pytest.raises(UnknownPatient) as info:
        explain_patient(warehouse, "G9999999999")
    message = str(info.value)
    assert "G9999999999" in message
    assert "golden IDs look like G0000001234" in message
    assert "molar identity explain" in message


def test_explain_before_any_profile_run(warehouse):
    chain = _chain().build(warehouse)
    info = explain_patient(warehouse, chain["anna"])
    assert info["profile_run"] is None
    assert (info["tags"], info["value_score"], info["tier"], info["lifecycle"]) == ([], None, None, None)


def test_explain_sentiment_is_as_of_the_profile(warehouse):
    chain = Chain([Patient("p", visits=[Visit(ago(10), ["CHK"])],
                           texts=[Text(at(ago(5)), "satisfied", "很好"),
                                  Text(at(AS_OF.replace(day=30).replace(month=11)), "complaint", "后来又疼了")])]).build(warehouse)
    run_profile(warehouse)
    info = explain_patient(warehouse, chain["p"])
    tag = {t["key"]: t["value"] for t in info["tags"]}["latest_sentiment"]
    assert tag == "satisfied"
    assert info["sentiment"]["latest"] == tag


def test_explain_does_not_say_no_visit_for_a_patient_who_visited(warehouse):
    chain = Chain([Patient("one", visits=[Visit(ago(10), ["CHK"], amount=100)]), Patient("two")]).build(warehouse)
    run_profile(warehouse)
    info = explain_patient(warehouse, chain["one"])
    assert info["tier"]["tier"] == "potential"
    assert "no visit yet" not in info["tier"]["rule"]
