"""Staffing per slot from the stored forecast: doctors so that the mean wait stays under a
target (Erlang C: arrivals at random within the hour, one doctor per patient for the
department's visit length), nurses per doctor, and where opening hours should grow. A slot
expecting fewer than ``min_visits_per_hour`` visits gets no doctor of its own; its visits are
summed per clinic × department × weekday into session hours (book them into one block, in
half hours); a day expecting fewer visits than that in all is left to booking on request.

Capacity comes from the warehouse: chairs per clinic (``std.clinic.chairs``) and doctors per
clinic × department (``std.doctor``). Visits without a booking are added through each
clinic × department's ratio of HIS visits to arrived bookings over the last year (the slot
forecast counts bookings only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from molar.warehouse import Engine

VISIT_MINUTES = {"general": 30, "periodontics": 45, "endodontics": 60, "surgery": 45, "implant": 60,
                 "orthodontics": 20, "prosthodontics": 45, "paediatrics": 30, "cosmetic": 45}
NURSES_PER_DOCTOR = {"implant": 2.0, "surgery": 2.0}


class StaffingError(ValueError):
    """Staffing cannot be computed (the message says why and what to do)."""


@dataclass(frozen=True)
class StaffingConfig:
    target_wait_minutes: float = 10.0
    visit_minutes: dict[str, float] = field(default_factory=lambda: dict(VISIT_MINUTES))
    default_visit_minutes: float = 30.0
    nurses_per_doctor: dict[str, float] = field(default_factory=lambda: dict(NURSES_PER_DOCTOR))
    default_nurses_per_doctor: float = 1.0
    default_chairs: int = 8           # a clinic whose export has no chair count
    busy_share: float = 0.8           # an edge hour this busy (chairs or doctors) suggests opening longer
    plan_for: str = "expected"        # expected | high (the upper end of the 80 % interval)
    min_visits_per_hour: float = 0.5  # below this a slot gets no doctor of its own: its visits go to sessions


def mean_wait_minutes(arrivals_per_hour: float, visit_minutes: float, doctors: int) -> float:
    """Erlang C mean wait in the queue (M/M/c); infinite when the doctors cannot keep up."""
    if arrivals_per_hour <= 0:
        return 0.0
    load = arrivals_per_hour * visit_minutes / 60
    if doctors <= load:
        return math.inf
    blocking = 1.0
    for k in range(1, doctors + 1):  # Erlang B by its stable recursion
        blocking = load * blocking / (k + load * blocking)
    waiting = blocking / (1 - load / doctors * (1 - blocking))
    return waiting * visit_minutes / (doctors - load)


def doctors_needed(arrivals_per_hour: float, visit_minutes: float, target_wait: float) -> int:
    """The fewest doctors whose mean wait is at most ``target_wait`` minutes (0 with no arrivals)."""
    if arrivals_per_hour <= 0:
        return 0
    c = max(1, math.floor(arrivals_per_hour * visit_minutes / 60) + 1)
    while mean_wait_minutes(arrivals_per_hour, visit_minutes, c) > target_wait:
        c += 1
    return c


def _capacity(engine: Engine, config: StaffingConfig) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    chairs = {c: int(n) if n is not None else config.default_chairs
              for c, n in engine.rows("SELECT clinic_id, chairs FROM std.clinic")}
    doctors = {(c, d): int(n) for c, d, n in engine.rows(
        "SELECT clinic_id, department, count(*) FROM std.doctor GROUP BY ALL")}
    return chairs, doctors


def _unbooked_factor(engine: Engine, end: date) -> dict[tuple[str, str], float]:
    """HIS visits per arrived booking over the year to ``end``, per clinic × department (≥ 1)."""
    rows = engine.rows(
        """WITH v AS (SELECT clinic_id, department, count(*) AS n FROM std.visit
                      WHERE visit_date > ?::DATE - 365 AND visit_date <= ? GROUP BY ALL),
                a AS (SELECT clinic_id, department, count(*) AS n FROM std.appointment
                      WHERE status = 'arrived' AND slot_start::DATE > ?::DATE - 365 AND slot_start::DATE <= ?
                      GROUP BY ALL)
           SELECT a.clinic_id, a.department, greatest(1.0, coalesce(v.n, 0) / a.n)
           FROM a LEFT JOIN v USING (clinic_id, department)""", [end, end, end, end])
    return {(c, d): float(f) for c, d, f in rows}


def _opening_hours(engine: Engine) -> pd.DataFrame:
    return engine.arrow(
        """SELECT clinic_id, isodow(slot_start)::INT - 1 AS weekday, min(hour(slot_start))::INT AS opens,
                  max(hour(slot_start))::INT AS last_hour
           FROM std.appointment GROUP BY ALL""").to_pandas()


def staffing(engine: Engine, week: date | None = None, config: StaffingConfig | None = None,
             clinics: frozenset[str] | None = None) -> dict:
    """Doctors and nurses per slot for one forecast week (default: the first), and the edge
    hours busy enough to open longer."""
    config = config or StaffingConfig()
    run = engine.rows("SELECT forecast_id, data_end, first_week, weeks FROM ops.demand_forecast_run "
                      "ORDER BY created_at DESC LIMIT 1")
    if not run:
        raise StaffingError("no stored forecast: run `molar ops forecast` first / 尚无预测结果，请先运行 molar ops forecast")
    forecast_id, end, first_week, weeks = run[0]
    week = week or first_week
    if week.weekday() != 0 or not first_week <= week < first_week + timedelta(weeks=weeks):
        raise StaffingError(f"--week {week} is not the Monday of a forecast week; the stored forecast covers the "
                            f"{weeks} weeks from {first_week} / 请选择预测范围内某周的周一")
    column = "expected" if config.plan_for == "expected" else "high"
    slots = engine.arrow(
        f"""SELECT clinic_id, department, weekday, hour, {column} AS arrivals FROM ops.demand_forecast
            WHERE forecast_id = ? AND level = 'slot' AND measure = 'arrivals' AND week_start = ?""",
        [forecast_id, week]).to_pandas()
    if clinics is not None:
        slots = slots[slots["clinic_id"].isin(clinics)]
    chairs, doctors = _capacity(engine, config)
    factor = _unbooked_factor(engine, end)
    out = []
    for r in slots.itertuples(index=False):
        minutes = config.visit_minutes.get(r.department, config.default_visit_minutes)
        visits = r.arrivals * factor.get((r.clinic_id, r.department), 1.0)
        own = visits >= config.min_visits_per_hour
        need = doctors_needed(visits, minutes, config.target_wait_minutes) if own else 0
        nurses = math.ceil(need * config.nurses_per_doctor.get(r.department, config.default_nurses_per_doctor))
        out.append({"clinic_id": r.clinic_id, "department": r.department, "weekday": int(r.weekday), "hour": int(r.hour),
                    "visits": round(visits, 3), "doctors": need, "nurses": nurses,
                    "doctors_available": doctors.get((r.clinic_id, r.department), 0),
                    "chair_hours": round(visits * minutes / 60, 2), "session": not own})
    frame = pd.DataFrame(out, columns=["clinic_id", "department", "weekday", "hour", "visits", "doctors", "nurses",
                                       "doctors_available", "chair_hours", "session"])
    frame["doctors_short"] = frame["doctors"] > frame["doctors_available"]
    per_hour = frame.groupby(["clinic_id", "weekday", "hour"], as_index=False).agg(
        doctors=("doctors", "sum"), nurses=("nurses", "sum"), chair_hours=("chair_hours", "sum"),
        doctors_short=("doctors_short", "any"))
    per_hour["chairs"] = per_hour["clinic_id"].map(lambda c: chairs.get(c, config.default_chairs))
    per_hour["chair_use"] = (per_hour["chair_hours"] / per_hour["chairs"]).round(3)
    sessions = frame[frame["session"]].groupby(["clinic_id", "department", "weekday"], as_index=False).agg(
        visits=("visits", "sum"), chair_hours=("chair_hours", "sum"))
    sessions = sessions[sessions["visits"] >= config.min_visits_per_hour].reset_index(drop=True)
    sessions["session_hours"] = sessions["chair_hours"].apply(lambda h: math.ceil(round(h * 2, 6)) / 2)
    return {"forecast_id": forecast_id, "week": week.isoformat(), "plan_for": config.plan_for,
            "target_wait_minutes": config.target_wait_minutes, "slots": frame.to_dict("records"),
            "per_hour": per_hour.to_dict("records"), "sessions": sessions.to_dict("records"),
            "extend": extend_hours(per_hour, _opening_hours(engine), config)}


def extend_hours(per_hour: pd.DataFrame, hours: pd.DataFrame, config: StaffingConfig) -> list[dict]:
    """Clinic × weekday whose first or last open hour is busy: its chairs at least ``busy_share``
    used, or a department short of doctors there."""
    out = []
    merged = per_hour.merge(hours, on=["clinic_id", "weekday"])
    for (clinic, weekday), rows in merged.groupby(["clinic_id", "weekday"]):
        for edge, hour, direction in (("opens", rows["opens"].iloc[0], "earlier"),
                                      ("last_hour", rows["last_hour"].iloc[0], "later")):
            at = rows[rows["hour"] == hour]
            if at.empty:
                continue
            busy = float(at["chair_use"].iloc[0]) >= config.busy_share or bool(at["doctors_short"].iloc[0])
            if busy:
                out.append({"clinic_id": clinic, "weekday": int(weekday), "edge_hour": int(hour),
                            "suggest": f"open an hour {direction}", "chair_use": float(at["chair_use"].iloc[0]),
                            "doctors_short": bool(at["doctors_short"].iloc[0]), "edge": edge})
    return out
