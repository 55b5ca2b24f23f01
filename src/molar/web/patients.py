"""Patient search and the patient 360 page's data.

Search by golden ID, or by mobile through the blind index of ``std.patient`` (the
mobile is never decrypted). The page shows the API's patient 360
(``molar.realtime.patient``), masked by role (``molar.privacy.masking``), plus a
timeline of visits, charges and appointments, which hold no personal fields.
"""

from __future__ import annotations

import re
from typing import Any

from molar.privacy import keys

# Through fields: importing blind_index first would close an import cycle via ingest.
from molar.privacy.accounts import Principal
from molar.privacy.fields import BlindIndexer, read_golden
from molar.privacy.masking import View
from molar.warehouse import Engine

GOLDEN = re.compile(r"(G\d{6,12}|PV[0-9a-f]{6,32})")
TIMELINE_ROWS = 200


def classify_query(query: str) -> tuple[str, str] | None:
    """("golden_id", ID) or ("mobile", text) for a search box entry; None when it is neither."""
    q = query.strip()
    if GOLDEN.fullmatch(q.upper() if q[:1] in "gG" else q):
        return "golden_id", q.upper() if q[:1] in "gG" else q
    digits = re.sub(r"[\s\-+()]", "", q)
    if re.fullmatch(r"(86)?1\d{10}", digits):
        return "mobile", q
    return None


def by_mobile(engine: Engine, mobile: str) -> list[str]:
    """Golden IDs of every active patient with a source record holding this mobile."""
    index = BlindIndexer.from_keyring(keys.open_keyring_from(None, engine)).mobile(mobile)
    if index is None:
        return []
    return [g for (g,) in engine.rows("""
        SELECT DISTINCT c.golden_id FROM std.patient p JOIN identity.cluster c
          ON c.source = p.source AND c.source_patient_key = p.source_patient_key
        WHERE p.mobile_bi = ? AND c.golden_id IN (SELECT golden_id FROM identity.patient)
        ORDER BY 1""", [index])]


def timeline(engine: Engine, golden_id: str) -> list[dict[str, Any]]:
    """Visits, charges and appointments of the patient, newest first."""
    rows = engine.arrow("""
        WITH mine AS (SELECT source, source_patient_key FROM identity.cluster WHERE golden_id = $g)
        SELECT * FROM (
          SELECT 'visit' AS kind, coalesce(v.visit_at, v.visit_date::TIMESTAMP) AS happened_at, v.clinic_id,
                 v.department, v.doctor_id, NULL::DOUBLE AS amount_yuan, NULL AS status, NULL AS channel
          FROM std.visit v JOIN mine USING (source, source_patient_key)
          UNION ALL
          SELECT 'charge', ch.charged_on::TIMESTAMP, v.clinic_id, v.department, NULL, ch.amount_yuan, NULL, NULL
          FROM std.charge ch JOIN mine USING (source, source_patient_key)
          LEFT JOIN std.visit v ON v.source = ch.source AND v.visit_id = ch.visit_id
          UNION ALL
          SELECT 'appointment', a.slot_start, a.clinic_id, a.department, a.doctor_id, NULL, a.status, a.channel
          FROM std.appointment a JOIN mine USING (source, source_patient_key))
        ORDER BY happened_at DESC, kind LIMIT $n""", {"g": golden_id, "n": TIMELINE_ROWS})
    return rows.to_pylist()


def churn_risk(engine: Engine, golden_id: str) -> dict[str, Any] | None:
    rows = engine.arrow("SELECT risk, band, as_of FROM profile.churn_risk WHERE golden_id = ?",
                        [golden_id]).to_pylist()
    return rows[0] if rows else None


def named(engine: Engine, rows: list[dict[str, Any]], principal: Principal) -> tuple[list[dict[str, Any]], View]:
    """``rows`` (each with a golden ID) with the patient's home clinic and name masked for the
    principal's role; a clinic-bound principal sees no name of another clinic's patient."""
    ids = [r["golden_id"] for r in rows]
    people = {p["golden_id"]: p for p in read_golden(engine, "golden_id, home_clinic_id, name",
                                                      "WHERE list_contains(?, golden_id)", [ids]).to_pylist()}
    view = View(principal)
    out = []
    for r in rows:
        person = people.get(r["golden_id"], {})
        home = person.get("home_clinic_id")
        mine = principal.clinics is None or home in principal.clinics
        out.append({**r, "home_clinic_id": home, "mine": mine, "name": view("name", person.get("name")) if mine else None,
                    "amount_yuan": None if r["amount_yuan"] is None else float(r["amount_yuan"])})
    return out, view
