"""The chain's operating KPIs for one month, over the whole chain or one clinic.

One place for every definition; the console's dashboard and the monthly report both call
:func:`overview`. In words (docs/console.md repeats them):

* **visits** — HIS visits dated in the month (at the clinic, when one is chosen);
* **active patients** — patients (golden IDs) with at least one visit in the twelve months
  ending on the month's last day;
* **new patients** — patients whose first visit ever (in the chain, or at the clinic)
  is in the month;
* **revenue** — the amount of the charges dated in the month (a clinic's: charges of its
  visits), in yuan; **average order value** = revenue / number of those charges;
* **no-show rate** — appointments whose slot is in the month: no-shows / (arrived +
  no-shows); cancelled and still-booked slots do not count;
* **booking channel mix** — appointments with a slot in the month, by booking channel;
* **acquisition channel** — for each new patient, the channel of their first booking
  made on or before their first visit (``none`` when they booked no appointment);
* **tier / lifecycle distribution** — the latest profile run's value tiers and lifecycle
  stages of the patients in scope (whole chain, or the clinic's home patients);
* **complaints** — consult and review messages dated in the month that the sentiment
  model labelled ``complaint`` (a clinic's: those of its home patients).

Patients are golden IDs: a source record counts through ``identity.cluster``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from molar.warehouse import Engine

WEEKDAYS = 7


@dataclass(frozen=True)
class Scope:
    """A month (its first day) and a clinic, or None for the whole chain."""

    month: date
    clinic: str | None = None

    @property
    def start(self) -> date:
        return self.month.replace(day=1)

    @property
    def end(self) -> date:
        """The first day of the next month (exclusive)."""
        m = self.start
        return date(m.year + (m.month == 12), m.month % 12 + 1, 1)


@dataclass
class Overview:
    scope: Scope
    visits: int
    active_patients: int
    new_patients: int
    revenue_yuan: float
    charges: int
    average_order_yuan: float | None
    no_show_rate: float | None
    complaints: int
    channel_mix: dict[str, int]
    acquisition: dict[str, int]
    tiers: dict[str, int]
    stages: dict[str, int]
    daily: list[dict[str, Any]] = field(default_factory=list)     # day, visits, revenue_yuan
    by_department: dict[str, int] = field(default_factory=dict)
    by_clinic: dict[str, int] = field(default_factory=dict)
    heatmap: dict[str, list[list[int]]] = field(default_factory=dict)  # department -> [weekday, hour, n]


# Visits and appointments with the golden ID of their patient.
_VISITS = """
    SELECT v.visit_id, v.source, v.clinic_id, v.department, v.visit_date, c.golden_id
    FROM std.visit v LEFT JOIN identity.cluster c
      ON c.source = v.source AND c.source_patient_key = v.source_patient_key"""
_CLINIC = "($clinic IS NULL OR clinic_id = $clinic)"


def latest_month(engine: Engine) -> date | None:
    """The month of the newest visit: the dashboard's default period."""
    day = engine.scalar("SELECT max(visit_date) FROM std.visit")
    return day.replace(day=1) if day else None


def clinics(engine: Engine) -> list[tuple[str, str]]:
    return [(c, n) for c, n in engine.rows("SELECT clinic_id, name FROM std.clinic ORDER BY clinic_id")]


def _rows(engine: Engine, sql: str, p: dict[str, Any]) -> list[tuple]:
    """Run ``sql`` with the named parameters it uses (DuckDB refuses unused ones)."""
    return engine.rows(sql, {k: v for k, v in p.items() if f"${k}" in sql})


def _dict(rows: list[tuple]) -> dict[str, int]:
    return {str(k): int(n) for k, n in rows}


def overview(engine: Engine, scope: Scope) -> Overview:
    p = {"start": scope.start, "end": scope.end, "clinic": scope.clinic}
    one = _rows(engine, f"""
        WITH v AS ({_VISITS}),
        firsts AS (SELECT golden_id, min(visit_date) AS first_visit FROM v
                   WHERE golden_id IS NOT NULL AND {_CLINIC} GROUP BY golden_id)
        SELECT
          (SELECT count(*) FROM v WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC}),
          (SELECT count(DISTINCT golden_id) FROM v WHERE {_CLINIC}
             AND visit_date >= $end - INTERVAL 12 MONTH AND visit_date < $end),
          (SELECT count(*) FROM firsts WHERE first_visit >= $start AND first_visit < $end)""", p)[0]
    revenue, charges = _rows(engine, """
        SELECT coalesce(sum(ch.amount_yuan), 0), count(*)
        FROM std.charge ch LEFT JOIN std.visit v ON v.source = ch.source AND v.visit_id = ch.visit_id
        WHERE ch.charged_on >= $start AND ch.charged_on < $end AND ($clinic IS NULL OR v.clinic_id = $clinic)""",
        p)[0]
    arrived, no_show = _rows(engine, f"""
        SELECT count(*) FILTER (WHERE status = 'arrived'), count(*) FILTER (WHERE status = 'no_show')
        FROM std.appointment WHERE slot_start >= $start AND slot_start < $end AND {_CLINIC}""", p)[0]
    home = "($clinic IS NULL OR golden_id IN (SELECT golden_id FROM identity.patient WHERE home_clinic_id = $clinic))"
    [(complaints,)] = _rows(engine, f"""
        SELECT count(*) FROM profile.text_sentiment s JOIN identity.cluster c
          ON c.source = s.source AND c.source_patient_key = s.source_patient_key
        WHERE s.label = 'complaint' AND s.occurred_at >= $start AND s.occurred_at < $end AND {home}""", p)
    return Overview(
        scope=scope, visits=one[0], active_patients=one[1], new_patients=one[2],
        revenue_yuan=float(revenue), charges=charges,
        average_order_yuan=float(revenue) / charges if charges else None,
        no_show_rate=no_show / (arrived + no_show) if arrived + no_show else None,
        complaints=complaints,
        channel_mix=_dict(_rows(engine, f"""
            SELECT coalesce(channel, 'unknown') AS ch, count(*) FROM std.appointment
            WHERE slot_start >= $start AND slot_start < $end AND {_CLINIC} GROUP BY ch ORDER BY 2 DESC, 1""", p)),
        acquisition=_acquisition(engine, p),
        tiers=_dict(_rows(engine, f"SELECT tier, count(*) FROM profile.tier WHERE {home} GROUP BY 1 ORDER BY 1", p)),
        stages=_dict(_rows(engine, f"SELECT stage, count(*) FROM profile.lifecycle WHERE {home} GROUP BY 1 ORDER BY 1", p)),
        daily=_daily(engine, p),
        by_department=_dict(_rows(engine, f"""
            SELECT coalesce(department, 'unknown') AS d, count(*) FROM std.visit
            WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC} GROUP BY d ORDER BY 2 DESC, 1""", p)),
        by_clinic=_dict(_rows(engine, f"""
            SELECT coalesce(clinic_id, 'unknown') AS c, count(*) FROM std.visit
            WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC} GROUP BY c ORDER BY 1""", p)),
        heatmap=_heatmap(engine, p),
    )


def _acquisition(engine: Engine, p: dict[str, Any]) -> dict[str, int]:
    return _dict(_rows(engine, f"""
        WITH v AS ({_VISITS}),
        firsts AS (SELECT golden_id, min(visit_date) AS first_visit FROM v
                   WHERE golden_id IS NOT NULL AND {_CLINIC} GROUP BY golden_id
                   HAVING min(visit_date) >= $start AND min(visit_date) < $end),
        booked AS (SELECT c.golden_id, a.channel, a.booked_at, a.slot_start, a.appointment_id
                   FROM std.appointment a JOIN identity.cluster c
                     ON c.source = a.source AND c.source_patient_key = a.source_patient_key),
        first_booking AS (
            SELECT f.golden_id,
                   arg_min(coalesce(b.channel, 'unknown'), (coalesce(b.booked_at, b.slot_start), b.appointment_id))
                     AS channel
            FROM firsts f JOIN booked b ON b.golden_id = f.golden_id
             AND CAST(coalesce(b.booked_at, b.slot_start) AS DATE) <= f.first_visit
            GROUP BY f.golden_id)
        SELECT coalesce(fb.channel, 'none') AS ch, count(*) FROM firsts f
        LEFT JOIN first_booking fb USING (golden_id) GROUP BY ch ORDER BY 2 DESC, 1""", p))


def _daily(engine: Engine, p: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _rows(engine, f"""
        WITH days AS (SELECT CAST(d AS DATE) AS day FROM range($start::TIMESTAMP, $end::TIMESTAMP, INTERVAL 1 DAY) t(d)),
        vis AS (SELECT visit_date AS day, count(*) AS n FROM std.visit
                WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC} GROUP BY 1),
        rev AS (SELECT ch.charged_on AS day, sum(ch.amount_yuan) AS y
                FROM std.charge ch LEFT JOIN std.visit v ON v.source = ch.source AND v.visit_id = ch.visit_id
                WHERE ch.charged_on >= $start AND ch.charged_on < $end
                  AND ($clinic IS NULL OR v.clinic_id = $clinic) GROUP BY 1)
        SELECT days.day, coalesce(vis.n, 0), coalesce(rev.y, 0)
        FROM days LEFT JOIN vis USING (day) LEFT JOIN rev USING (day) ORDER BY days.day""", p)
    return [{"day": d, "visits": int(n), "revenue_yuan": float(y)} for d, n, y in rows]


def _heatmap(engine: Engine, p: dict[str, Any]) -> dict[str, list[list[int]]]:
    """Appointments by weekday (0 = Monday) × hour of the slot, per department."""
    out: dict[str, list[list[int]]] = {}
    for dept, weekday, hour, n in _rows(engine, f"""
            SELECT coalesce(department, 'unknown'), isodow(slot_start) - 1, hour(slot_start), count(*)
            FROM std.appointment WHERE slot_start >= $start AND slot_start < $end AND {_CLINIC}
            GROUP BY ALL ORDER BY 1, 2, 3""", p):
        out.setdefault(dept, []).append([int(weekday), int(hour), int(n)])
    return out
