"""Writing churn scores: replace the stored risk, keep the changes, and turn every crossing
into the high band into a ``churn_risk.high`` event for the automation engine.

A crossing is a patient whose stored band was below high and whose new band is high; a
patient's first score is not a crossing (the first nightly run would otherwise start a
journey for every high-risk patient at once), and a patient who stays high is not one either,
so a journey starts once per crossing and again only after the risk has dropped and risen.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pyarrow as pa

from molar.model.events import Event
from molar.predict.churn.bands import HIGH
from molar.warehouse import Engine

_COLUMNS = ("golden_id", "risk", "band", "horizon_days", "reasons", "as_of", "model_id")


def store_scores(engine: Engine, scores: pa.Table, at: datetime, *, everyone: bool,
                 causes: dict[str, str] | None = None) -> list[Event]:
    """Write ``scores`` (the columns of ``profile.churn_risk``) in the caller's transaction.

    ``everyone``: the scores cover every patient (a nightly run) and replace the table; else
    only the scored patients' rows are replaced. ``causes`` maps a golden ID to the live event
    that caused its rescoring; such rescorings are logged even when the band stays the same.
    Returns the ``churn_risk.high`` events of the patients who crossed into the high band.
    """
    causes = causes or {}
    engine.execute("CREATE OR REPLACE TEMP TABLE churn_new AS SELECT *, NULL::VARCHAR AS cause_event_id "
                   "FROM profile.churn_risk LIMIT 0")
    engine.append("churn_new", scores.select(_COLUMNS).append_column(
        "cause_event_id", pa.array([causes.get(g) for g in scores["golden_id"].to_pylist()], pa.string())))
    changes = engine.rows(
        """SELECT n.golden_id, o.band, n.band, o.risk, n.risk, n.model_id, n.cause_event_id
           FROM churn_new n LEFT JOIN profile.churn_risk o USING (golden_id)
           WHERE n.cause_event_id IS NOT NULL OR (o.golden_id IS NOT NULL AND o.band <> n.band)
           ORDER BY n.golden_id""")
    rows = [(f"CR-{uuid.uuid4().hex}", *change) for change in changes]
    if rows:
        engine.append("profile.churn_risk_change", pa.table({
            "change_id": [r[0] for r in rows], "golden_id": [r[1] for r in rows],
            "from_band": pa.array([r[2] for r in rows], pa.string()), "to_band": [r[3] for r in rows],
            "from_risk": pa.array([r[4] for r in rows], pa.float64()), "to_risk": [r[5] for r in rows],
            "changed_at": pa.array([at] * len(rows), pa.timestamp("us")), "model_id": [r[6] for r in rows],
            "cause_event_id": pa.array([r[7] for r in rows], pa.string())}))
    if everyone:
        engine.execute("DELETE FROM profile.churn_risk")
    else:
        engine.execute("DELETE FROM profile.churn_risk WHERE golden_id IN (SELECT golden_id FROM churn_new)")
    engine.execute(f"INSERT INTO profile.churn_risk SELECT {', '.join(_COLUMNS)} FROM churn_new")
    engine.execute("DROP TABLE churn_new")
    return [high_event(change_id, golden_id, old, new_risk, old_risk, at, cause)
            for change_id, golden_id, old, new, old_risk, new_risk, _, cause in rows
            if new == HIGH and old is not None and old != HIGH]


def crossings(engine: Engine, start: datetime, end: datetime) -> list[Event]:
    """The ``churn_risk.high`` events of the changes stored in [start, end), oldest first."""
    return [high_event(*row) for row in engine.rows(
        f"""SELECT change_id, golden_id, from_band, to_risk, from_risk, changed_at, cause_event_id
            FROM profile.churn_risk_change
            WHERE to_band = '{HIGH}' AND from_band <> '{HIGH}' AND changed_at >= ? AND changed_at < ?
            ORDER BY changed_at, change_id""", [start, end])]


def high_event(change_id: str, golden_id: str, from_band: str, risk: float, from_risk: float | None,
               at: datetime, cause_event_id: str | None = None) -> Event:
    return Event(event_id=f"cr-{change_id}", type="churn_risk.high", golden_id=golden_id, occurred_at=at,
                 data={"from_band": from_band, "risk": round(float(risk), 4),
                       "from_risk": None if from_risk is None else round(float(from_risk), 4),
                       "cause_event_id": cause_event_id})
