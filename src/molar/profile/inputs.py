"""The profile's input tables: the standardised data keyed by golden ID, cut at ``as_of``.

Tag definitions, RFM-Health and lifecycle read only these (temporary) tables, so every
definition sees the same single patient view and a profile can be computed as of any past
date (nothing after ``as_of`` is visible). Names are plural to tell them from ``std``:

    person        one row per golden ID (no PII: sex, birth date, district, home clinic)
    visits        std.visit            + golden_id            (visit_date <= as_of)
    treatments    std.treatment        + golden_id, visit_date
    charges       std.charge           + golden_id            (charged_on <= as_of)
    appointments  std.appointment      + golden_id            (booked before as_of)
    cards         std.member_card      + golden_id
    app_events    std.event            + golden_id, referrer_golden_id (via unionid)
    texts         consult and review texts + golden_id, kind, label (profile.text_sentiment)
    telemetry     std.telemetry        + golden_id (via the bound unionid)
    clinics       std.clinic
    district_centroids  reference coordinates of districts (profile/reference)
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow as pa

from molar.warehouse import Engine

CENTROIDS_CSV = Path(__file__).with_name("reference") / "district_centroids.csv"

INPUT_TABLES = (
    "person", "visits", "treatments", "charges", "appointments", "cards", "app_events",
    "texts", "telemetry", "clinics", "district_centroids",
)


def _keys_sql() -> str:
    return "SELECT source, source_patient_key, golden_id FROM identity.cluster"


def build_inputs(engine: Engine, as_of: date) -> dict[str, int]:
    """(Re)create the input tables for ``as_of``; returns their row counts."""
    d = f"DATE '{as_of.isoformat()}'"
    ts = f"(DATE '{as_of.isoformat()}' + INTERVAL 1 DAY)"
    statements = {
        "keys": f"CREATE OR REPLACE TEMP TABLE keys AS {_keys_sql()}",
        "person": """CREATE OR REPLACE TEMP TABLE person AS
            SELECT golden_id, sex, birth_date, district, home_clinic_id, first_registered_on,
                   mobile IS NOT NULL AS has_mobile, wechat_unionid IS NOT NULL AS has_wechat, sources
            FROM identity.patient""",
        "visits": f"""CREATE OR REPLACE TEMP TABLE visits AS
            SELECT k.golden_id, v.source, v.visit_id, v.clinic_id, v.doctor_id, v.department,
                   v.visit_date, v.diagnosis
            FROM std.visit v JOIN keys k USING (source, source_patient_key)
            WHERE v.visit_date <= {d}""",
        "treatments": """CREATE OR REPLACE TEMP TABLE treatments AS
            SELECT v.golden_id, t.visit_id, v.visit_date, t.line_no, t.item_code, t.tooth, t.quantity
            FROM std.treatment t JOIN visits v ON v.source = t.source AND v.visit_id = t.visit_id""",
        "charges": f"""CREATE OR REPLACE TEMP TABLE charges AS
            SELECT k.golden_id, c.charge_id, c.visit_id, c.charged_on, c.amount_yuan, c.paid_yuan,
                   c.payment_method, c.coupon_id
            FROM std.charge c JOIN keys k USING (source, source_patient_key)
            WHERE c.charged_on <= {d}""",
        "appointments": f"""CREATE OR REPLACE TEMP TABLE appointments AS
            SELECT k.golden_id, a.appointment_id, a.clinic_id, a.department, a.booked_at,
                   a.slot_start, a.channel,
                   CASE WHEN a.slot_start >= {ts} AND a.status IN ('arrived', 'no_show') THEN 'booked'
                        ELSE a.status END AS status
            FROM std.appointment a JOIN keys k USING (source, source_patient_key)
            WHERE coalesce(a.booked_at, a.slot_start) < {ts}""",
        "cards": f"""CREATE OR REPLACE TEMP TABLE cards AS
            SELECT k.golden_id, m.card_no, m.level, m.opened_on, m.balance_yuan, m.points, m.package, m.clinic_id
            FROM std.member_card m JOIN keys k USING (source, source_patient_key)
            WHERE m.opened_on IS NULL OR m.opened_on <= {d}""",
        "app_events": f"""CREATE OR REPLACE TEMP TABLE app_events AS
            SELECT k.golden_id, e.event_id, e.platform, e.event_type, e.occurred_at, e.article_id,
                   e.coupon_id, r.golden_id AS referrer_golden_id
            FROM std.event e
            JOIN keys k ON k.source = 'wechat' AND k.source_patient_key = e.unionid
            LEFT JOIN keys r ON r.source = 'wechat' AND r.source_patient_key = e.referrer_unionid
            WHERE e.occurred_at < {ts}""",
        "texts": f"""CREATE OR REPLACE TEMP TABLE texts AS
            SELECT k.golden_id, s.text_id, s.kind, s.occurred_at, s.label, s.confidence,
                   coalesce(c.text, r.text) AS text, r.rating
            FROM profile.text_sentiment s
            JOIN keys k USING (source, source_patient_key)
            LEFT JOIN std.consult c ON s.kind = 'consult' AND c.consult_id = s.text_id
            LEFT JOIN std.review r ON s.kind = 'review' AND r.review_id = s.text_id
            WHERE s.occurred_at < {ts}""",
        "telemetry": f"""CREATE OR REPLACE TEMP TABLE telemetry AS
            SELECT k.golden_id, t.device_id, t.measured_on, t.brushing_sessions, t.brushing_seconds,
                   t.pressure_alerts, t.plaque_index
            FROM std.telemetry t JOIN keys k ON k.source = 'wechat' AND k.source_patient_key = t.unionid
            WHERE t.measured_on <= {d}""",
        "clinics": "CREATE OR REPLACE TEMP TABLE clinics AS SELECT clinic_id, name, district, latitude, longitude FROM std.clinic",
    }
    for sql in statements.values():
        engine.execute(sql)
    _load_centroids(engine)
    return {name: engine.count(name) for name in INPUT_TABLES}


def _load_centroids(engine: Engine) -> None:
    with CENTROIDS_CSV.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    table = pa.table({
        "district": [r["district"] for r in rows],
        "latitude": [float(r["latitude"]) for r in rows],
        "longitude": [float(r["longitude"]) for r in rows],
    })
    engine.execute("CREATE OR REPLACE TEMP TABLE district_centroids (district VARCHAR, latitude DOUBLE, longitude DOUBLE)")
    engine.append("district_centroids", table)
