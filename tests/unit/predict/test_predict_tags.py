"""The predictive tags (profile/tags/value.yaml) over hand-written churn and CLV scores."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest

from molar.predict.churn.model import band
from unit.profile.crafted import (
    AS_OF,
    Chain,
    Event,
    Patient,
    Text,
    Visit,
    ago,
    at,
    fresh_warehouse,
    published,
    run_profile,
    tag_values,
)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def scores(engine, chain: Chain, rows: dict[str, tuple[float, float]]) -> None:
    """rows: patient key → (churn risk, 24-month value)."""
    keys = list(rows)
    ids = [chain[k] for k in keys]
    n = len(ids)
    engine.append("profile.churn_risk", pa.table({
        "golden_id": ids, "risk": [rows[k][0] for k in keys], "band": [band(rows[k][0]) for k in keys], "horizon_days": pa.array([180] * n, pa.int32()),
        "reasons": [json.dumps([{"en": "no visit for 300 days", "zh": "已300天未就诊"}], ensure_ascii=False)] * n,
        "as_of": pa.array([AS_OF] * n, pa.date32()), "model_id": ["M"] * n}))
    engine.append("profile.clv", pa.table({
        "golden_id": ids, "visits_12m": [1.0] * n, "visits_24m": [2.0] * n,
        "value_12m_yuan": [rows[k][1] / 2 for k in keys], "value_24m_yuan": [rows[k][1] for k in keys],
        "p_alive": [0.5] * n, "spend_per_visit": [rows[k][1] / 2 for k in keys],
        "as_of": pa.array([date(2026, 10, 31)] * n, pa.date32()), "model_id": ["C"] * n}))


def test_key_customer_is_top_value_and_at_risk(warehouse):
    # Three patients: too few to cluster, so every tier is `potential` and value comes from CLV rank.
    chain = Chain([Patient(k, visits=[Visit(ago(200), amount=100)]) for k in ("top", "mid", "low")]).build(warehouse)
    scores(warehouse, chain, {"top": (0.55, 300.0), "mid": (0.95, 200.0), "low": (0.30, 100.0)})
    run_profile(warehouse)
    tags = published(warehouse)
    # percent_rank: 100 → 0, 200 → 0.5, 300 → 1.0; only 300 is in the top 20 %
    assert {k: tags.value(chain[k], "key_customer") for k in ("top", "mid", "low")} == {
        "top": "true", "mid": "false", "low": "false"}
    assert tags.evidence(chain["top"], "key_customer") == {
        "tier": "potential", "clv_24m_yuan": 300.0, "clv_percentile": 100.0, "churn_risk": 0.55}
    # bands: high ≥ 0.7, medium ≥ 0.4
    assert {k: tags.value(chain[k], "churn_risk") for k in ("top", "mid", "low")} == {
        "top": "medium", "mid": "high", "low": "low"}
    assert tags.evidence(chain["mid"], "churn_risk")["reasons"] == ["no visit for 300 days"]
    assert tags.num(chain["top"], "clv_24m_yuan") == 300
    # Evidence never carries the patient's name (crafted names are 患者<key>).
    for k in ("top", "mid", "low"):
        for key in ("key_customer", "churn_risk", "clv_24m_yuan"):
            assert "患者" not in json.dumps(tags.evidence(chain[k], key), ensure_ascii=False)


def test_referrals_converted_counts_referred_people_who_visited(warehouse):
    chain = Chain([
        Patient("L", texts=[Text(at(ago(30)), "satisfied", "医生很专业", kind="review")]),
        Patient("came", events=[Event("referral", at(ago(100)), referrer="L")], visits=[Visit(ago(90))]),
        Patient("twice", events=[Event("referral", at(ago(80)), referrer="L"), Event("referral", at(ago(70)), referrer="L")],
                visits=[Visit(ago(60))]),
        Patient("only_followed", events=[Event("referral", at(ago(50)), referrer="L")]),
        Patient("self", events=[Event("referral", at(ago(50)), referrer="self")], visits=[Visit(ago(10))]),
    ]).build(warehouse)
    tags = tag_values(warehouse, "referrals_converted")
    assert tags.num(chain["L"], "referrals_converted") == 2  # came + twice; only_followed never visited
    assert tags.evidence(chain["L"], "referrals_converted") == {"referred": 3, "reviews_written": 1}
    assert not tags.has(chain["self"], "referrals_converted")  # scanning one's own code is not a referral
