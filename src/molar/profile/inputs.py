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

Live events from ``molar serve`` (ops.rt_event) are part of the same inputs: a visit,
charge, booking, consult, app action or telemetry day posted to the collector counts
exactly as if it had arrived in a nightly export (and is not counted twice when the
export later brings the same visit, charge, booking or consult ID). That is what keeps
the per-event tag refresh and a batch recompute consistent.

``golden_ids`` limits every input to those patients (the per-event refresh).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa

from molar.privacy import event_data, fields
from molar.warehouse import Engine

CENTROIDS_CSV = Path(__file__).with_name("reference") / "district_centroids.csv"
TEXT_EVENT_TYPES = ("consult.message", "review.posted")   # the live events whose text goes into ``texts``

INPUT_TABLES = (
    "person", "visits", "treatments", "charges", "appointments", "cards", "app_events",
    "texts", "telemetry", "clinics", "district_centroids",
)


def _keys_sql() -> str:
    return "SELECT source, source_patient_key, golden_id FROM identity.cluster"


def _live(type_: str) -> str:
    return f"SELECT * FROM ops.rt_event WHERE type = '{type_}' AND NOT derived"


def build_inputs(
    engine: Engine, as_of: date, golden_ids: Sequence[str] | None = None, tables: Collection[str] | None = None,
) -> dict[str, int]:
    """(Re)create the input tables for ``as_of`` (only ``tables`` and what they are built
    from, when given); returns their row counts, except for a scoped refresh, which skips
    counting."""
    d = f"DATE '{as_of.isoformat()}'"
    ts = f"(DATE '{as_of.isoformat()}' + INTERVAL 1 DAY)"
    live = engine.table_exists("ops.rt_event")
    if golden_ids is not None:
        engine.execute("CREATE OR REPLACE TEMP TABLE scope_ids (golden_id VARCHAR)")
        engine.append("scope_ids", pa.table({"golden_id": pa.array(sorted(set(golden_ids)), pa.string())}))
    scoped = golden_ids is not None

    def scope(column: str = "golden_id") -> str:
        return f" AND {column} IN (SELECT golden_id FROM scope_ids)" if scoped else ""

    statements = {
        "keys": f"CREATE OR REPLACE TEMP TABLE keys AS {_keys_sql()}{' WHERE true' + scope() if scoped else ''}",
        "person": f"""CREATE OR REPLACE TEMP TABLE person AS
            SELECT golden_id, sex, birth_date, district, home_clinic_id, first_registered_on,
                   mobile IS NOT NULL AS has_mobile, wechat_unionid IS NOT NULL AS has_wechat, sources
            FROM identity.patient WHERE true{scope()}""",
        "visits": f"""CREATE OR REPLACE TEMP TABLE visits AS
            SELECT k.golden_id, v.source, v.visit_id, v.clinic_id, v.doctor_id, v.department,
                   v.visit_date, v.diagnosis
            FROM std.visit v JOIN keys k USING (source, source_patient_key)
            WHERE v.visit_date <= {d}{scope('k.golden_id')}""",
        "treatments": """CREATE OR REPLACE TEMP TABLE treatments AS
            SELECT v.golden_id, t.visit_id, v.visit_date, t.line_no, t.item_code, t.tooth, t.quantity
            FROM std.treatment t JOIN visits v ON v.source = t.source AND v.visit_id = t.visit_id""",
        "charges": f"""CREATE OR REPLACE TEMP TABLE charges AS
            SELECT k.golden_id, c.charge_id, c.visit_id, c.charged_on, c.amount_yuan, c.paid_yuan,
                   c.payment_method, c.coupon_id
            FROM std.charge c JOIN keys k USING (source, source_patient_key)
            WHERE c.charged_on <= {d}{scope('k.golden_id')}""",
        "appointments": f"""CREATE OR REPLACE TEMP TABLE appointments AS
            SELECT k.golden_id, a.appointment_id, a.clinic_id, a.department, a.booked_at,
                   a.slot_start, a.channel,
                   CASE WHEN a.slot_start >= {ts} AND a.status IN ('arrived', 'no_show') THEN 'booked'
                        ELSE a.status END AS status
            FROM std.appointment a JOIN keys k USING (source, source_patient_key)
            WHERE coalesce(a.booked_at, a.slot_start) < {ts}{scope('k.golden_id')}""",
        "cards": f"""CREATE OR REPLACE TEMP TABLE cards AS
            SELECT k.golden_id, m.card_no, m.level, m.opened_on, m.balance_yuan, m.points, m.package, m.clinic_id
            FROM std.member_card m JOIN keys k USING (source, source_patient_key)
            WHERE (m.opened_on IS NULL OR m.opened_on <= {d}){scope('k.golden_id')}""",
        "app_events": f"""CREATE OR REPLACE TEMP TABLE app_events AS
            SELECT k.golden_id, e.event_id, e.platform, e.event_type, e.occurred_at, e.article_id,
                   e.coupon_id, r.golden_id AS referrer_golden_id
            FROM std.event e
            JOIN identity.cluster k ON k.source = 'wechat' AND k.source_patient_key = e.unionid
            LEFT JOIN identity.cluster r ON r.source = 'wechat' AND r.source_patient_key = e.referrer_unionid
            WHERE e.occurred_at < {ts}{_either_scope(scoped, 'k.golden_id', 'r.golden_id')}""",
        "texts": f"""CREATE OR REPLACE TEMP TABLE texts AS
            SELECT k.golden_id, s.text_id, s.kind, s.occurred_at, s.label, s.confidence,
                   coalesce(c.text, r.text) AS text, r.rating
            FROM profile.text_sentiment s
            JOIN keys k USING (source, source_patient_key)
            LEFT JOIN std.consult c ON s.kind = 'consult' AND c.consult_id = s.text_id
            LEFT JOIN std.review r ON s.kind = 'review' AND r.review_id = s.text_id
            WHERE s.occurred_at < {ts}{scope('k.golden_id')}""",
        "telemetry": f"""CREATE OR REPLACE TEMP TABLE telemetry AS
            SELECT k.golden_id, t.device_id, t.measured_on, t.brushing_sessions, t.brushing_seconds,
                   t.pressure_alerts, t.plaque_index
            FROM std.telemetry t JOIN keys k ON k.source = 'wechat' AND k.source_patient_key = t.unionid
            WHERE t.measured_on <= {d}{scope('k.golden_id')}""",
        "clinics": "CREATE OR REPLACE TEMP TABLE clinics AS SELECT clinic_id, name, district, latitude, longitude FROM std.clinic",
    }
    wanted = _with_sources(tables)
    for name, sql in statements.items():
        if name in wanted:
            engine.execute(sql)
    if "texts" in wanted:
        _open_texts(engine)
    if live:
        if "person" in wanted:
            # People known only from live events (provisional IDs until the next identity run).
            engine.execute(
                f"""INSERT INTO person (golden_id)
                    SELECT DISTINCT golden_id FROM ops.rt_event
                    WHERE provisional AND NOT derived AND occurred_at < {ts}{scope()}
                      AND golden_id NOT IN (SELECT golden_id FROM person)"""
            )
        for name, sqls in _live_statements(d, ts, scope, scoped).items():
            if name in wanted:
                for sql in sqls:
                    engine.execute(sql)
        if "texts" in wanted:
            _open_live_texts(engine)
    if "district_centroids" in wanted:
        _load_centroids(engine)
    if scoped:
        return {}
    return {name: engine.count(name) for name in INPUT_TABLES if name in wanted}


def _with_sources(tables: Collection[str] | None) -> set[str]:
    """The input tables to build for ``tables`` (default: all): treatments are built from visits."""
    if tables is None:
        return {"keys", *INPUT_TABLES}
    unknown = set(tables) - set(INPUT_TABLES)
    if unknown:
        raise ValueError(f"unknown input table(s) {', '.join(sorted(unknown))}; known: {', '.join(INPUT_TABLES)}")
    return {"keys", *tables, *(("visits",) if "treatments" in tables else ())}


def _open_texts(engine: Engine) -> None:
    """The texts' tokens decrypted in place: ``texts`` is TEMP, so plaintext stays in memory."""
    cipher = fields.cipher_for(engine)
    for kind, table in (("consult", "std.consult"), ("review", "std.review")):
        rows = engine.arrow("SELECT DISTINCT text_id, text FROM texts WHERE kind = ? AND text IS NOT NULL", [kind])
        if rows.num_rows:
            engine.register("_opened_texts", fields.open_rows(table, rows, cipher, key="text_id"))
            try:
                engine.execute("UPDATE texts SET text = o.text FROM _opened_texts o "
                               "WHERE texts.kind = ? AND texts.text_id = o.text_id", [kind])
            finally:
                engine.unregister("_opened_texts")


def _open_live_texts(engine: Engine) -> None:
    """Live texts arrive as their event's sealed token (molar.privacy.event_data): opened in place."""
    rows = engine.arrow("SELECT DISTINCT e.event_id, e.sealed FROM ops.rt_event e JOIN texts t ON t.text = e.sealed "
                        f"WHERE e.type IN ({', '.join(repr(t) for t in TEXT_EVENT_TYPES)})")
    if rows.num_rows == 0:
        return
    opened = event_data.open_tokens(fields.cipher_for(engine), rows["sealed"].to_pylist(), rows["event_id"].to_pylist())
    engine.register("_opened_live_texts", pa.table({"sealed": rows["sealed"],
                                                    "text": pa.array([o.get("text") for o in opened], pa.string())}))
    try:
        engine.execute("UPDATE texts SET text = o.text FROM _opened_live_texts o WHERE texts.text = o.sealed")
    finally:
        engine.unregister("_opened_live_texts")


def _either_scope(scoped: bool, owner: str, referrer: str) -> str:
    """Scope app events to the patients' own events and to referrals naming them."""
    if not scoped:
        return ""
    return f" AND ({owner} IN (SELECT golden_id FROM scope_ids) OR {referrer} IN (SELECT golden_id FROM scope_ids))"


def _live_statements(d: str, ts: str, scope: Callable[..., str], scoped: bool) -> dict[str, list[str]]:
    """Per input table: add the collector's live events to it (skipping IDs exports already hold)."""
    return {"visits": [
        f"""INSERT INTO visits
            SELECT golden_id, 'live', data->>'visit_id', data->>'clinic_id', data->>'doctor_id',
                   data->>'department', occurred_at::DATE, data->>'diagnosis'
            FROM ({_live('visit.completed')}) e
            WHERE occurred_at < {ts}{scope()}
              AND NOT EXISTS (SELECT 1 FROM std.visit v WHERE v.visit_id = e.data->>'visit_id')"""],
        "treatments": [f"""INSERT INTO treatments
            SELECT golden_id, visit_id, visit_date, line_no, item->>'item_code', item->>'tooth',
                   coalesce(TRY_CAST(item->>'quantity' AS INTEGER), 1)
            FROM (SELECT golden_id, data->>'visit_id' AS visit_id, occurred_at::DATE AS visit_date,
                         unnest(CAST(data->'items' AS JSON[])) AS item,
                         generate_subscripts(CAST(data->'items' AS JSON[]), 1) AS line_no
                  FROM ({_live('visit.completed')}) e
                  WHERE occurred_at < {ts}{scope()}
                    AND NOT EXISTS (SELECT 1 FROM std.visit v WHERE v.visit_id = e.data->>'visit_id'))"""],
        "charges": [f"""INSERT INTO charges
            SELECT golden_id, data->>'charge_id', data->>'visit_id', occurred_at::DATE,
                   CAST(data->>'amount_yuan' AS DOUBLE),
                   coalesce(TRY_CAST(data->>'paid_yuan' AS DOUBLE), CAST(data->>'amount_yuan' AS DOUBLE)),
                   data->>'payment_method', data->>'coupon_id'
            FROM ({_live('charge.paid')}) e
            WHERE occurred_at < {ts}{scope()}
              AND NOT EXISTS (SELECT 1 FROM std.charge c WHERE c.charge_id = e.data->>'charge_id')"""],
        # Booking status events change the booking they name, live or exported.
        "appointments": [f"""CREATE OR REPLACE TEMP TABLE live_booking_status AS
            SELECT data->>'appointment_id' AS appointment_id,
                   arg_max(CASE type WHEN 'appointment.cancelled' THEN 'cancelled' ELSE 'no_show' END, occurred_at) AS status
            FROM ops.rt_event
            WHERE type IN ('appointment.cancelled', 'appointment.no_show') AND NOT derived AND occurred_at < {ts}
            GROUP BY 1""",
        """UPDATE appointments a SET status = s.status FROM live_booking_status s
           WHERE s.appointment_id = a.appointment_id""",
        f"""INSERT INTO appointments
            SELECT e.golden_id, data->>'appointment_id', data->>'clinic_id', data->>'department', occurred_at,
                   CAST(data->>'slot_start' AS TIMESTAMP), data->>'channel',
                   coalesce(s.status, CASE WHEN CAST(data->>'slot_start' AS TIMESTAMP) < {ts} THEN 'arrived' ELSE 'booked' END)
            FROM ({_live('appointment.booked')}) e
            LEFT JOIN live_booking_status s ON s.appointment_id = e.data->>'appointment_id'
            WHERE occurred_at < {ts}{scope('e.golden_id')}
              AND NOT EXISTS (SELECT 1 FROM std.appointment a WHERE a.appointment_id = e.data->>'appointment_id')"""],
        "app_events": [f"""INSERT INTO app_events
            SELECT e.golden_id, e.event_id, data->>'platform', data->>'action', occurred_at, data->>'article_id',
                   data->>'coupon_id', coalesce(data->>'referrer_golden_id', r.golden_id)
            FROM ({_live('app.action')}) e
            LEFT JOIN identity.cluster r ON r.source = 'wechat' AND r.source_patient_key = e.data->>'referrer_unionid'
            WHERE occurred_at < {ts}
              {_either_scope(scoped, 'e.golden_id', "coalesce(data->>'referrer_golden_id', r.golden_id)")}"""],
        "texts": [f"""INSERT INTO texts
            SELECT e.golden_id, e.data->>'consult_id', 'consult', e.occurred_at, s.label, s.confidence, e.sealed, NULL
            FROM ({_live('consult.message')}) e
            JOIN profile.text_sentiment s ON s.kind = 'consult' AND s.text_id = e.data->>'consult_id' AND s.source = 'live'
            WHERE e.occurred_at < {ts}{scope('e.golden_id')}
              AND NOT EXISTS (SELECT 1 FROM std.consult c WHERE c.consult_id = e.data->>'consult_id')""",
        f"""INSERT INTO texts
            SELECT e.golden_id, e.data->>'review_id', 'review', e.occurred_at, s.label, s.confidence, e.sealed,
                   TRY_CAST(e.data->>'rating' AS INTEGER)
            FROM ({_live('review.posted')}) e
            JOIN profile.text_sentiment s ON s.kind = 'review' AND s.text_id = e.data->>'review_id' AND s.source = 'live'
            WHERE e.occurred_at < {ts}{scope('e.golden_id')}
              AND NOT EXISTS (SELECT 1 FROM std.review r WHERE r.review_id = e.data->>'review_id')"""],
        "telemetry": [f"""INSERT INTO telemetry
            SELECT golden_id, data->>'device_id', CAST(data->>'measured_on' AS DATE),
                   TRY_CAST(data->>'brushing_sessions' AS INTEGER), TRY_CAST(data->>'brushing_seconds' AS INTEGER),
                   TRY_CAST(data->>'pressure_alerts' AS INTEGER), CAST(data->>'plaque_index' AS DOUBLE)
            FROM ({_live('telemetry.daily')}) e
            WHERE CAST(data->>'measured_on' AS DATE) <= {d}{scope()}
              AND NOT EXISTS (SELECT 1 FROM std.telemetry t WHERE t.device_id = e.data->>'device_id'
                              AND t.measured_on = CAST(e.data->>'measured_on' AS DATE))"""],
    }


def _load_centroids(engine: Engine) -> None:
    # Reference data: loaded once per connection (the live refresh rebuilds inputs per batch).
    if engine.scalar("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'district_centroids'"):
        return
    with CENTROIDS_CSV.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    table = pa.table({
        "district": [r["district"] for r in rows],
        "latitude": [float(r["latitude"]) for r in rows],
        "longitude": [float(r["longitude"]) for r in rows],
    })
    engine.execute("CREATE TEMP TABLE district_centroids (district VARCHAR, latitude DOUBLE, longitude DOUBLE)")
    engine.append("district_centroids", table)
