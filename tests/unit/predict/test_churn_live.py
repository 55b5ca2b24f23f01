"""Churn risk refreshed on events: a live visit rescores the patient with the stored model,
lowers a high risk, and logs and keeps the change; other events rescore nobody. And the
nightly job of `molar serve`: rescoring, then one journey per crossing into high."""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from molar.automation import ManualClock, load_catalogue
from molar.automation.runtime import Automation
from molar.model.events import Event
from molar.predict.churn.features import NAMES
from molar.predict.churn.live import LiveChurn
from molar.predict.churn.model import ChurnConfig, ChurnModel
from molar.predict.churn.score import score_churn
from molar.privacy import fields
from molar.realtime.event_table import store_events
from molar.serve import nightly
from unit.profile.crafted import AS_OF, Chain, Patient, Visit, ago, at, fresh_warehouse


def rule_frame(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """A model whose answer is known: churn is more than 200 days since the last visit."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((n, len(NAMES))), columns=NAMES)
    x["days_since_last_visit"] = rng.integers(0, 400, n).astype(float)
    return x, (x["days_since_last_visit"] > 200).astype(int)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


@pytest.fixture
def stored_model(warehouse) -> str:
    x, y = rule_frame(2000, 1)
    xc, yc = rule_frame(1200, 2)
    model = ChurnModel(ChurnConfig(rounds=60)).fit(x, y, xc, yc)
    warehouse.execute("INSERT INTO profile.predict_model VALUES ('CHURN1', 'churn', ?, now(), ?)",
                      [AS_OF, json.dumps({"model": model.to_record()})])
    return "CHURN1"


def visit_event(golden_id: str, event_id: str, kind: str = "visit.completed") -> Event:
    data = ({"visit_id": "LV1", "clinic_id": "C01", "department": "general",
             "items": [{"item_code": "CHK", "tooth": None, "quantity": 1}]} if kind == "visit.completed"
            else {"platform": "wechat", "action": "article_read"})
    return Event(event_id, kind, golden_id, at(AS_OF, 11), data, source="test", seq=1)


def test_a_visit_lowers_the_risk_of_a_lapsed_patient_and_logs_it(warehouse, stored_model, caplog):
    chain = Chain([Patient("lapsed", visits=[Visit(ago(600), ["CHK"], amount=200), Visit(ago(300), ["CLN"], amount=150)]),
                   Patient("other", visits=[Visit(ago(500), ["CHK"], amount=200), Visit(ago(320), ["CLN"], amount=150)])
                   ]).build(warehouse)
    lapsed, other = chain["lapsed"], chain["other"]
    score_churn(warehouse, AS_OF, model_id=stored_model)  # the nightly score: 300+ days without a visit
    risk = dict(warehouse.rows("SELECT golden_id, risk FROM profile.churn_risk"))
    assert risk[lapsed] > 0.9 and risk[other] > 0.9

    events = [visit_event(lapsed, "E-visit"), visit_event(other, "E-read", "app.action")]
    stage = LiveChurn(today=lambda: AS_OF)
    with caplog.at_level(logging.INFO, logger="molar.predict.churn"), warehouse.transaction():
        store_events(warehouse, events, derived=False, seq=None, now=at(AS_OF, 11), cipher=fields.cipher_for(warehouse))
        assert stage(warehouse, events) == []  # falling out of high is no crossing

    after = dict(warehouse.rows("SELECT golden_id, risk FROM profile.churn_risk"))
    assert after[lapsed] < 0.1  # seen today
    assert after[other] == risk[other]  # an article read does not rescore
    assert warehouse.rows("SELECT golden_id, from_band, to_band, cause_event_id FROM profile.churn_risk_change") == [
        (lapsed, "high", "low", "E-visit")]
    [line] = [r.getMessage() for r in caplog.records if lapsed in r.getMessage()]
    assert "E-visit" in line and f"{risk[lapsed]:.3f} → {after[lapsed]:.3f} (low)" in line


def test_without_a_stored_model_nothing_is_rescored(warehouse):
    chain = Chain([Patient("p", visits=[Visit(ago(300), ["CLN"])])]).build(warehouse)
    events = [visit_event(chain["p"], "E1")]
    with warehouse.transaction():
        store_events(warehouse, events, derived=False, seq=None, now=at(AS_OF, 11), cipher=fields.cipher_for(warehouse))
        assert LiveChurn(today=lambda: AS_OF)(warehouse, events) == []
    assert warehouse.count("profile.churn_risk") == 0


def test_the_nightly_job_rescores_and_starts_a_journey_per_crossing(warehouse, stored_model, tmp_path):
    chain = Chain([Patient("rising", visits=[Visit(ago(300), ["CLN"], amount=150)]),
                   Patient("still", visits=[Visit(ago(320), ["CLN"], amount=150)])]).build(warehouse)
    rising, still = chain["rising"], chain["still"]
    warehouse.append("profile.churn_risk", pa.table({  # yesterday's scores, written by hand
        "golden_id": [rising, still], "risk": [0.2, 0.95], "band": ["low", "high"],
        "horizon_days": pa.array([180, 180], pa.int32()), "reasons": ["[]", "[]"],
        "as_of": pa.array([date(2026, 10, 30)] * 2, pa.date32()), "model_id": [stored_model] * 2}))
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "churn_watch.yaml").write_text(
        "key: churn_watch\nname: {zh: 流失风险升高回访, en: Call when the churn risk turns high}\npurpose: care\n"
        "trigger: {event: {type: churn_risk.high}}\nsteps:\n  - task: {kind: recall_call, due: 1d}\n", encoding="utf-8")
    automation = Automation(load_catalogue(tmp_path / "rules"), clock=ManualClock(at(AS_OF, 2)))

    nightly(warehouse, automation, AS_OF)
    assert dict(warehouse.rows("SELECT golden_id, band FROM profile.churn_risk")) == {rising: "high", still: "high"}
    assert warehouse.rows("SELECT golden_id, rule_key FROM ops.task") == [(rising, "churn_watch")]
    nightly(warehouse, automation, AS_OF)  # a second run the same night: no new crossing, no new task
    assert warehouse.count("ops.task") == 1
