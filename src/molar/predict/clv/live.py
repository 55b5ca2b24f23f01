"""Lifetime value refreshed on events, for ``molar serve``: a pipeline stage.

A visit or a payment changes a patient's frequency, recency and spend, so for each batch of
live events the patients with a ``visit.completed`` or ``charge.paid`` are rescored with the
latest stored model (``molar clv score`` fits it; nothing is refitted here) and their
``profile.clv`` rows replaced. Without a stored model the stage does nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date

from molar.model.events import Event
from molar.predict.clv.bgnbd import BetaGeoModel
from molar.predict.clv.data import ClvInputError, daily_transactions, summarise
from molar.predict.clv.gamma_gamma import GammaGammaModel
from molar.predict.clv.score import clv_table, covariate_levels, stored_columns, visit_days
from molar.warehouse import Engine

log = logging.getLogger("molar.predict.clv")
RESCORING_EVENTS = ("visit.completed", "charge.paid")


def latest_model(engine: Engine) -> tuple[str, BetaGeoModel, GammaGammaModel] | None:
    rows = engine.rows("SELECT model_id, summary FROM profile.predict_model WHERE kind = 'clv' "
                       "ORDER BY created_at DESC LIMIT 1")
    if not rows:
        return None
    model_id, params = rows[0]
    stored = json.loads(params)
    if "population_mean" not in stored["gamma_gamma"]:
        return None  # fitted before models were stored whole; the next `clv score` fixes it
    return model_id, BetaGeoModel.from_dict(stored["bgnbd"]), GammaGammaModel.from_dict(stored["gamma_gamma"])


class LiveClv:
    """Pipeline stage: ``LiveClv()(engine, events) -> []`` (it only rewrites ``profile.clv`` rows)."""

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today

    def __call__(self, engine: Engine, events: list[Event]) -> list[Event]:
        ids = sorted({e.golden_id for e in events if e.type in RESCORING_EVENTS and not e.provisional})
        if not ids or (stored := latest_model(engine)) is None:
            return []
        model_id, bgnbd, spend = stored
        as_of = self._today() if self._today else max(e.occurred_at for e in events).date()
        try:
            daily = daily_transactions(visit_days(engine, as_of, ids), "the patients' visits")
        except ClvInputError:
            return []  # the event's visit is not in the warehouse yet: nothing to rescore
        summary = summarise(daily, as_of, "W", observation_end=as_of)
        z = None
        if bgnbd.covariate_names_:
            columns = sorted({name.split("=", 1)[0] for name in bgnbd.covariate_names_})
            z = stored_columns(covariate_levels(engine, as_of, columns, summary.customers), bgnbd.covariate_names_)
        table = clv_table(bgnbd, spend, summary, z, as_of, model_id)
        scored = table["golden_id"].to_pylist()
        engine.execute(f"DELETE FROM profile.clv WHERE golden_id IN ({', '.join('?' for _ in scored)})", scored)
        engine.append("profile.clv", table)
        log.info("clv of %d patient(s) rescored with %s", len(scored), model_id)
        return []
