"""Treatment plans to follow up: proposed and not accepted, or accepted and not finished."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from molar.warehouse.engine import Engine


def follow_up(engine: Engine, today: date, older_than: timedelta, statuses: Iterable[str],
              clinics: Iterable[str] | None = None) -> list[dict]:
    """Plans in ``statuses`` proposed at least ``older_than`` before ``today``, oldest first."""
    clinic_list = sorted(clinics) if clinics is not None else None
    cutoff = today - older_than
    table = engine.arrow(
        """SELECT plan_id, source, source_patient_key, clinic_id, doctor_id, consultant, proposed_on, items,
                  quoted_yuan, status, expires_on, date_diff('day', proposed_on, CAST(? AS DATE)) AS age_days,
                  expires_on < CAST(? AS DATE) AS expired
           FROM std.treatment_plan
           WHERE list_contains(?, status) AND proposed_on <= CAST(? AS DATE)
             AND (? IS NULL OR list_contains(?, clinic_id))
           ORDER BY proposed_on, plan_id""",
        [today, today, sorted(statuses), cutoff, clinic_list, clinic_list],
    )
    rows = table.to_pylist()
    for r in rows:
        r["quoted_yuan"] = None if r["quoted_yuan"] is None else float(r["quoted_yuan"])
    return rows
