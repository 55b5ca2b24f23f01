"""Treatment plans to follow up: proposed and not accepted, or accepted and not finished."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from molar.model.events import Event
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


DEFAULT_UNACCEPTED_AFTER_DAYS = 14   # the setting plan_unaccepted_after_days
_GOLDEN = """JOIN (SELECT source, source_patient_key, min(golden_id) AS golden_id FROM identity.cluster
                      GROUP BY ALL) c USING (source, source_patient_key)"""


def unaccepted_events(engine: Engine, today: date, after_days: int, now: datetime) -> list[Event]:
    """One ``plan.unaccepted`` event per plan still proposed ``after_days`` after it was proposed,
    for plans whose record belongs to a golden ID; a plan handed over before is never again
    (``profile.plan_unaccepted``, written in the caller's transaction). The event occurs when
    the plan became unaccepted (the start of day proposed_on + ``after_days``), so plans that
    turn up long after that start no journey (the contact policy's ``stale_after``)."""
    _check(after_days)
    rows = engine.rows(
        f"""INSERT INTO profile.plan_unaccepted
           SELECT p.plan_id, c.golden_id, p.proposed_on, CAST(p.proposed_on AS TIMESTAMP) + to_days(CAST(? AS INTEGER)), ?
           FROM std.treatment_plan p {_GOLDEN}
           WHERE p.status = 'proposed' AND p.proposed_on <= CAST(? AS DATE)
             AND NOT EXISTS (SELECT 1 FROM profile.plan_unaccepted u WHERE u.plan_id = p.plan_id)
           RETURNING plan_id, golden_id, due_at""",
        [after_days, now, today - timedelta(days=after_days)])
    return _events(engine, rows, after_days)


def unaccepted_history(engine: Engine, after_days: int, start: datetime, end: datetime) -> list[Event]:
    """The ``plan.unaccepted`` events of the plans that became unaccepted in [start, end), as of
    that day: still proposed now, or accepted on that day or later (``rules simulate``). Declined
    plans are left out: the export does not say when they were declined."""
    _check(after_days)
    rows = engine.rows(
        f"""SELECT plan_id, golden_id, due_at FROM (
               SELECT p.plan_id, c.golden_id, CAST(p.proposed_on AS TIMESTAMP) + to_days(CAST(? AS INTEGER)) AS due_at,
                      p.status, p.accepted_on
               FROM std.treatment_plan p {_GOLDEN})
           WHERE due_at >= ? AND due_at < ?
             AND (status = 'proposed' OR (accepted_on IS NOT NULL AND accepted_on >= CAST(due_at AS DATE)))""",
        [after_days, start, end])
    return _events(engine, rows, after_days)


def _check(after_days: int) -> None:
    if after_days < 1:
        raise ValueError(f"plan_unaccepted_after_days={after_days}: write a whole number of days ≥ 1")


def _events(engine: Engine, rows: list[tuple], after_days: int) -> list[Event]:
    if not rows:
        return []
    details = {r["plan_id"]: r for r in engine.arrow(
        """SELECT plan_id, proposed_on, clinic_id, doctor_id, consultant, items, CAST(quoted_yuan AS DOUBLE) AS quoted_yuan
           FROM std.treatment_plan WHERE list_contains(?, plan_id)""", [[r[0] for r in rows]]).to_pylist()}
    return [Event(event_id=f"plan-unaccepted:{plan_id}", type="plan.unaccepted", golden_id=golden_id,
                  occurred_at=due_at,
                  data={**details[plan_id], "proposed_on": details[plan_id]["proposed_on"].isoformat(),
                        "days": after_days})
            for plan_id, golden_id, due_at in sorted(rows, key=lambda r: (r[2], r[0]))]
