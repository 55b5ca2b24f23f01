"""Lifetime value refreshed on events: a live visit and payment rescore the patient with the
stored model, so they score exactly like a patient whose exports already hold that visit;
other events and a warehouse without a stored model rescore nobody."""

from __future__ import annotations

import numpy as np
import pytest

from molar.model.events import Event
from molar.predict.clv.live import LiveClv
from molar.predict.clv.score import score_clv
from molar.privacy import fields
from molar.realtime.event_table import store_events
from unit.profile.crafted import AS_OF, Chain, Patient, Visit, ago, at, fresh_warehouse


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def chain_with_twins(warehouse) -> Chain:
    """``live`` and ``exported`` share their history except today's visit, which only the
    export of ``exported`` holds; a crowd of other patients gives the models something to fit."""
    rng = np.random.default_rng(4)
    crowd = [Patient(f"p{i}", visits=[Visit(ago(int(d)), ["CHK"], amount=float(100 + 10 * (i % 7)),
                                            clinic="C02" if i % 3 == 0 else "C01")
                                      for d in sorted(rng.choice(700, rng.integers(1, 6), replace=False))[::-1]])
             for i in range(60)]
    # C02 is the smaller clinic, so with the clinic covariate the twins carry a 0/1 column of 1
    history = [Visit(ago(420), ["CHK"], amount=200.0, clinic="C02"), Visit(ago(210), ["CLN"], amount=150.0, clinic="C02")]
    return Chain([*crowd,
                  Patient("live", visits=list(history)),
                  Patient("exported", visits=[*history, Visit(AS_OF, ["CLN"], amount=180.0, clinic="C02")]),
                  Patient("reader", visits=list(history))]).build(warehouse)


def live_events(golden_id: str, reader: str) -> list[Event]:
    return [
        Event("E-visit", "visit.completed", golden_id, at(AS_OF, 11),
              {"visit_id": "LV1", "clinic_id": "C01", "department": "general",
               "items": [{"item_code": "CLN", "tooth": None, "quantity": 1}]}, source="test", seq=1),
        Event("E-pay", "charge.paid", golden_id, at(AS_OF, 11, 30),
              {"charge_id": "LC1", "visit_id": "LV1", "amount_yuan": 180.0}, source="test", seq=2),
        Event("E-read", "app.action", reader, at(AS_OF, 12), {"platform": "wechat", "action": "article_read"},
              source="test", seq=3),
    ]


def clv_rows(warehouse) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in warehouse.rows(
        "SELECT golden_id, visits_12m, value_12m_yuan, p_alive, spend_per_visit, model_id FROM profile.clv")}


@pytest.mark.parametrize("covariates", [None, ["clinic"]])
def test_a_live_visit_scores_like_the_same_visit_in_the_exports(warehouse, covariates):
    chain = chain_with_twins(warehouse)
    live, exported, reader = chain["live"], chain["exported"], chain["reader"]
    result = score_clv(warehouse, AS_OF, covariates)
    assert bool(covariates) == ("covariates" in result["bgnbd"])
    before = clv_rows(warehouse)
    assert before[live] != before[exported]

    events = live_events(live, reader)
    with warehouse.transaction():
        store_events(warehouse, events, derived=False, seq=None, now=at(AS_OF, 12), cipher=fields.cipher_for(warehouse))
        assert LiveClv(today=lambda: AS_OF)(warehouse, events) == []

    after = clv_rows(warehouse)
    assert after[live] == pytest.approx(before[exported])       # same history, same model → same row
    assert after[reader] == before[reader]                      # an article read rescores nobody
    assert {k: v for k, v in after.items() if k != live} == {k: v for k, v in before.items() if k != live}


def test_without_a_stored_model_the_stage_does_nothing(warehouse):
    chain = chain_with_twins(warehouse)
    events = live_events(chain["live"], chain["reader"])
    with warehouse.transaction():
        store_events(warehouse, events, derived=False, seq=None, now=at(AS_OF, 12), cipher=fields.cipher_for(warehouse))
        assert LiveClv(today=lambda: AS_OF)(warehouse, events) == []
    assert clv_rows(warehouse) == {}
