"""Churn risk refreshed on events, for ``molar serve``: a pipeline stage.

A visit or a payment changes what the churn model sees (days since the last visit, the
overdue ratio, spend), so for every batch of live events the patients with a
``visit.completed`` or ``charge.paid`` are rescored with the latest stored model — once per
batch, not per event. The new risk replaces the stored one; the change is logged and kept in
``profile.churn_risk_change`` with the event that caused it, and a crossing into the high band
is returned as a ``churn_risk.high`` event for the rules after this stage. Without a stored
model (``molar churn score`` never ran) the stage does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from molar.model.events import Event
from molar.predict.churn.features import churn_features
from molar.predict.churn.model import ChurnModel
from molar.predict.churn.score import latest_model_id, load_model, score_table
from molar.predict.churn.store import store_scores
from molar.warehouse import Engine

log = logging.getLogger("molar.predict.churn")
RESCORING_EVENTS = ("visit.completed", "charge.paid")


class LiveChurn:
    """Pipeline stage: ``LiveChurn()(engine, events) -> churn_risk.high events``."""

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today
        self._model: tuple[str, ChurnModel] | None = None  # loaded once per stored model

    def model(self, engine: Engine) -> tuple[str, ChurnModel] | None:
        model_id = latest_model_id(engine)
        if model_id is None:
            return None
        if self._model is None or self._model[0] != model_id:
            self._model = (model_id, load_model(engine, model_id))
        return self._model

    def __call__(self, engine: Engine, events: list[Event]) -> list[Event]:
        causes = {e.golden_id: e.event_id for e in events if e.type in RESCORING_EVENTS and not e.provisional}
        if not causes or (stored := self.model(engine)) is None:
            return []
        model_id, model = stored
        at = max(e.occurred_at for e in events if e.golden_id in causes)
        as_of = self._today() if self._today else at.date()
        frame = churn_features(engine, as_of, sorted(causes))
        if frame.empty:
            return []
        before = dict(engine.rows(
            f"SELECT golden_id, risk FROM profile.churn_risk WHERE golden_id IN ({', '.join('?' for _ in causes)})",
            list(causes)))
        table = score_table(model, model_id, frame, as_of)
        crossings = store_scores(engine, table, at, everyone=False, causes=causes)
        for golden_id, risk, band_ in zip(table["golden_id"].to_pylist(), table["risk"].to_pylist(),
                                          table["band"].to_pylist(), strict=True):
            prior = f"{before[golden_id]:.3f}" if golden_id in before else "no score"
            log.info("churn risk of %s rescored after %s: %s → %.3f (%s)", golden_id, causes[golden_id], prior,
                     risk, band_)
        return crossings
