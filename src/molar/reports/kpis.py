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
  model labelled ``complaint`` (a clinic's: those of its home patients);
* **recall compliance** — of the recalls that fell due in the month (a recall type's
  treatment, ``operations/recall_types.yaml``, + its interval, at the clinic of that
  treatment), the share met: the patient had the same type's treatment again within
  ``RECALL_GRACE_DAYS`` after the due date (earlier counts too). A recall not met whose
  grace period runs past the last day of the data is still open and left out.

Patients are golden IDs: a source record counts through ``identity.cluster``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from molar.operations.recall import load_recall_types
from molar.warehouse import Engine

WEEKDAYS = 7
RECALL_GRACE_DAYS = 30


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
    recall_compliance: float | None
    recalls_due: int                  # recalls due in the month that can be judged (not still open)
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


def targets(engine: Engine, month: date, clinic: str | None) -> dict[str, float]:
    """The target of each KPI that holds in ``month`` for the chain (clinic None) or one
    clinic: the latest set from that month or before (`molar report targets`)."""
    return dict(engine.rows(
        "SELECT kpi, arg_max(value, applies_from) FROM ops.kpi_target "
        "WHERE clinic_id = ? AND applies_from <= ? GROUP BY kpi", [clinic or "", month]))


def clinics(engine: Engine) -> list[tuple[str, str]]:
    return [(c, n) for c, n in engine.rows("SELECT clinic_id, name FROM std.clinic ORDER BY clinic_id")]


def _used(sql: str, p: dict[str, Any]) -> dict[str, Any]:
    """The named parameters ``sql`` uses (DuckDB refuses unused ones)."""
    return {k: v for k, v in p.items() if f"${k}" in sql}


def _rows(engine: Engine, sql: str, p: dict[str, Any]) -> list[tuple]:
    return engine.rows(sql, _used(sql, p))


def _dict(rows: list[tuple]) -> dict[str, int]:
    return {str(k): int(n) for k, n in rows}


# The rows behind each KPI that counts patients or their records, with the golden ID
# each row belongs to: ``golden_id, n, amount_yuan``. The KPI sums ``n`` (or ``amount_yuan``)
# over them and the dashboard's drill-down groups them by patient, so both read one
# definition. Rows of records not linked to a patient yet carry a NULL golden ID.
_HOME = "($clinic IS NULL OR golden_id IN (SELECT golden_id FROM identity.patient WHERE home_clinic_id = $clinic))"
BEHIND: dict[str, str] = {
    "visits": f"""
        SELECT golden_id, 1 AS n, NULL::DOUBLE AS amount_yuan FROM ({_VISITS})
        WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC}""",
    "active_patients": f"""
        SELECT golden_id, 1 AS n, NULL::DOUBLE AS amount_yuan FROM ({_VISITS})
        WHERE golden_id IS NOT NULL AND {_CLINIC} AND visit_date >= $end - INTERVAL 12 MONTH AND visit_date < $end""",
    "new_patients": f"""
        SELECT golden_id, 1 AS n, NULL::DOUBLE AS amount_yuan FROM ({_VISITS})
        WHERE golden_id IS NOT NULL AND {_CLINIC} GROUP BY golden_id
        HAVING min(visit_date) >= $start AND min(visit_date) < $end""",
    "revenue": """
        SELECT c.golden_id, 1 AS n, ch.amount_yuan
        FROM std.charge ch LEFT JOIN std.visit v ON v.source = ch.source AND v.visit_id = ch.visit_id
        LEFT JOIN identity.cluster c ON c.source = ch.source AND c.source_patient_key = ch.source_patient_key
        WHERE ch.charged_on >= $start AND ch.charged_on < $end AND ($clinic IS NULL OR v.clinic_id = $clinic)""",
    # n: the no-shows; every row (arrived or no-show) is in the rate's denominator.
    "no_show_rate": """
        SELECT c.golden_id, (a.status = 'no_show')::INTEGER AS n, NULL::DOUBLE AS amount_yuan
        FROM std.appointment a LEFT JOIN identity.cluster c
          ON c.source = a.source AND c.source_patient_key = a.source_patient_key
        WHERE a.status IN ('arrived', 'no_show') AND a.slot_start >= $start AND a.slot_start < $end
          AND ($clinic IS NULL OR a.clinic_id = $clinic)""",
    "complaints": f"""
        SELECT c.golden_id, 1 AS n, NULL::DOUBLE AS amount_yuan
        FROM profile.text_sentiment s JOIN identity.cluster c
          ON c.source = s.source AND c.source_patient_key = s.source_patient_key
        WHERE s.label = 'complaint' AND s.occurred_at >= $start AND s.occurred_at < $end AND {_HOME}""",
    # n: the recalls missed; every recall due in the month that can be judged is a row.
    "recall_compliance": f"""
        WITH treated AS (
            SELECT k.golden_id, r.recall_type, v.visit_date AS treated_on,
                   arg_max(v.clinic_id, v.clinic_id) AS clinic_id, any_value(p.birth_date) AS birth_date
            FROM std.treatment t
            JOIN std.visit v ON v.source = t.source AND v.visit_id = t.visit_id
            JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
            JOIN kpi_recall_item r ON r.item_code = t.item_code
            LEFT JOIN identity.patient p ON p.golden_id = k.golden_id
            GROUP BY ALL),
        episodes AS (
            SELECT *, lead(treated_on) OVER (PARTITION BY golden_id, recall_type ORDER BY treated_on) AS next_on,
                   date_diff('year', birth_date, treated_on)
                     - (strftime(treated_on, '%m-%d') < strftime(birth_date, '%m-%d'))::INTEGER AS age
            FROM treated),
        due AS (
            SELECT e.golden_id, e.clinic_id, e.next_on, e.treated_on + to_months(i.months) AS due_on
            FROM episodes e JOIN kpi_recall_interval i ON i.recall_type = e.recall_type
             AND (i.below_age IS NULL OR e.age < i.below_age)
            QUALIFY row_number() OVER (PARTITION BY e.golden_id, e.recall_type, e.treated_on ORDER BY i.rank) = 1)
        SELECT golden_id, (next_on IS NULL OR next_on > due_on + INTERVAL {RECALL_GRACE_DAYS} DAY)::INTEGER AS n,
               NULL::DOUBLE AS amount_yuan
        FROM due
        WHERE due_on >= $start AND due_on < $end AND {_CLINIC}
          AND (next_on <= due_on + INTERVAL {RECALL_GRACE_DAYS} DAY
               OR due_on + INTERVAL {RECALL_GRACE_DAYS} DAY <= (SELECT max(visit_date) FROM std.visit))""",
}
# KPIs whose patients are another KPI's: the average order's are the revenue's.
BEHIND_ALIAS = {"average_order": "revenue"}
DRILLS = (*BEHIND, *BEHIND_ALIAS)
# Breakdowns (a count per value of ``grp``) with the same rows: the dashboard's tables.
GROUPS: dict[str, str] = {
    "channel": """
        SELECT c.golden_id, coalesce(a.channel, 'unknown') AS grp, 1 AS n, NULL::DOUBLE AS amount_yuan
        FROM std.appointment a LEFT JOIN identity.cluster c
          ON c.source = a.source AND c.source_patient_key = a.source_patient_key
        WHERE a.slot_start >= $start AND a.slot_start < $end AND ($clinic IS NULL OR a.clinic_id = $clinic)""",
    "tier": f"SELECT golden_id, tier AS grp, 1 AS n, NULL::DOUBLE AS amount_yuan FROM profile.tier WHERE {_HOME}",
    "stage": f"SELECT golden_id, stage AS grp, 1 AS n, NULL::DOUBLE AS amount_yuan FROM profile.lifecycle WHERE {_HOME}",
}


def _recall_types(engine: Engine) -> None:
    """The recall catalogue as the temp tables the recall-compliance rows join."""
    types = load_recall_types().types
    items = [(t.key, code) for t in types for code in t.after]
    intervals: list[tuple[str, int | None, int, int]] = []
    for t in types:
        if t.by_age:
            intervals += [(t.key, below, months, rank) for rank, (below, months) in enumerate(t.by_age)]
        elif t.months:
            intervals.append((t.key, None, t.months, 0))
    engine.execute("CREATE OR REPLACE TEMP TABLE kpi_recall_item (recall_type VARCHAR, item_code VARCHAR)")
    engine.append("kpi_recall_item", pa.table({"recall_type": [k for k, _ in items], "item_code": [c for _, c in items]}))
    engine.execute("CREATE OR REPLACE TEMP TABLE kpi_recall_interval "
                   "(recall_type VARCHAR, below_age INTEGER, months INTEGER, rank INTEGER)")
    engine.append("kpi_recall_interval", pa.table({
        "recall_type": [r[0] for r in intervals], "below_age": pa.array([r[1] for r in intervals], pa.int32()),
        "months": pa.array([r[2] for r in intervals], pa.int32()), "rank": pa.array([r[3] for r in intervals], pa.int32())}))


def _breakdown(engine: Engine, group: str, p: dict[str, Any], order: str) -> dict[str, int]:
    return _dict(_rows(engine, f"SELECT grp, count(*) FROM ({GROUPS[group]}) GROUP BY 1 ORDER BY {order}", p))


def _params(scope: Scope) -> dict[str, Any]:
    return {"start": scope.start, "end": scope.end, "clinic": scope.clinic}


def _totals(engine: Engine, kpi: str, p: dict[str, Any]) -> tuple[int, int, float]:
    """(rows, sum of n, sum of amounts) behind one KPI."""
    rows, n, amount = _rows(engine, f"SELECT count(*), coalesce(sum(n), 0), coalesce(sum(amount_yuan), 0) "
                                    f"FROM ({BEHIND[kpi]})", p)[0]
    return int(rows), int(n), float(amount)


def overview(engine: Engine, scope: Scope) -> Overview:
    p = _params(scope)
    visits = _totals(engine, "visits", p)[1]
    [(active,)] = _rows(engine, f"SELECT count(DISTINCT golden_id) FROM ({BEHIND['active_patients']})", p)
    new = _totals(engine, "new_patients", p)[0]
    charges, _, revenue = _totals(engine, "revenue", p)
    attended, no_show, _ = _totals(engine, "no_show_rate", p)
    complaints = _totals(engine, "complaints", p)[0]
    _recall_types(engine)
    recalls, missed, _ = _totals(engine, "recall_compliance", p)
    return Overview(
        scope=scope, visits=visits, active_patients=int(active), new_patients=new,
        revenue_yuan=revenue, charges=charges,
        average_order_yuan=revenue / charges if charges else None,
        no_show_rate=no_show / attended if attended else None,
        complaints=complaints,
        recall_compliance=1 - missed / recalls if recalls else None, recalls_due=recalls,
        channel_mix=_breakdown(engine, "channel", p, "2 DESC, 1"),
        acquisition=_acquisition(engine, p),
        tiers=_breakdown(engine, "tier", p, "1"),
        stages=_breakdown(engine, "stage", p, "1"),
        daily=_daily(engine, p),
        by_department=_dict(_rows(engine, f"""
            SELECT coalesce(department, 'unknown') AS d, count(*) FROM std.visit
            WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC} GROUP BY d ORDER BY 2 DESC, 1""", p)),
        by_clinic=_dict(_rows(engine, f"""
            SELECT coalesce(clinic_id, 'unknown') AS c, count(*) FROM std.visit
            WHERE visit_date >= $start AND visit_date < $end AND {_CLINIC} GROUP BY c ORDER BY 1""", p)),
        heatmap=_heatmap(engine, p),
    )


@dataclass
class Behind:
    """One page of the patients behind a KPI: golden ID, their rows' n and amount."""

    kpi: str
    patients: int                     # every patient behind the KPI (all pages)
    unlinked: int                     # rows not linked to a patient yet
    rows: list[dict[str, Any]]


def behind(engine: Engine, scope: Scope, kpi: str, *, limit: int, offset: int = 0,
           group: str | None = None) -> Behind:
    """The patients behind a KPI of :func:`overview` (or one value ``group`` of a breakdown
    in :data:`GROUPS`), most rows (then most money) first."""
    if kpi in GROUPS:
        sql = f"SELECT * FROM ({GROUPS[kpi]}) WHERE grp = $group"
    else:
        sql = BEHIND[BEHIND_ALIAS.get(kpi, kpi)]
    if kpi == "recall_compliance":
        _recall_types(engine)
    p = {**_params(scope), "limit": limit, "offset": offset, "group": group}
    [(patients, unlinked)] = _rows(engine, f"""
        SELECT count(DISTINCT golden_id) FILTER (WHERE n > 0), count(*) FILTER (WHERE golden_id IS NULL AND n > 0)
        FROM ({sql})""", p)
    page = f"""
        SELECT golden_id, sum(n)::BIGINT AS n, sum(amount_yuan) AS amount_yuan FROM ({sql})
        WHERE golden_id IS NOT NULL GROUP BY golden_id HAVING sum(n) > 0
        ORDER BY n DESC, amount_yuan DESC NULLS LAST, golden_id LIMIT $limit OFFSET $offset"""
    rows = engine.arrow(page, _used(page, p)).to_pylist()
    return Behind(kpi, int(patients), int(unlinked), rows)


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


@dataclass
class Daily:
    """Only the daily series of a month (the dashboard's line of last year)."""

    daily: list[dict[str, Any]]


def daily(engine: Engine, scope: Scope) -> Daily:
    return Daily(_daily(engine, _params(scope)))


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


@dataclass
class Movements:
    """Changes of value tier and lifecycle stage dated in the month, and the latest risk
    snapshot: ``(from, to) -> patients``, ``band -> patients``."""

    tiers: dict[tuple[str, str], int]
    stages: dict[tuple[str, str], int]
    risk_bands: dict[str, int]
    risk_as_of: date | None
    key_customers: int | None          # None: no profile run has computed the tag


def movements(engine: Engine, scope: Scope) -> Movements:
    """Tier and stage transitions of the month (a patient's first stage is not a move) and
    the churn-risk bands and key customers of the latest scoring, for the patients in scope."""
    p = _params(scope)

    def moves(table: str, old: str, new: str) -> dict[tuple[str, str], int]:
        return {(a, b): int(n) for a, b, n in _rows(engine, f"""
            SELECT {old}, {new}, count(*) FROM {table}
            WHERE {old} IS NOT NULL AND {old} <> {new} AND occurred_on >= $start AND occurred_on < $end AND {_HOME}
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""", p)}

    [(as_of,)] = _rows(engine, f"SELECT max(as_of) FROM profile.churn_risk WHERE {_HOME}", p)
    [(tagged, key)] = _rows(engine, f"""
        SELECT count(*), count(*) FILTER (WHERE value_num = 1) FROM profile.tag_value
        WHERE tag_key = 'key_customer' AND {_HOME}""", p)
    return Movements(
        tiers=moves("profile.tier_event", "from_tier", "to_tier"),
        stages=moves("profile.lifecycle_event", "from_stage", "to_stage"),
        risk_bands=_dict(_rows(engine, f"SELECT band, count(*) FROM profile.churn_risk WHERE {_HOME} GROUP BY 1 ORDER BY 1", p)),
        risk_as_of=as_of, key_customers=int(key) if tagged else None)
