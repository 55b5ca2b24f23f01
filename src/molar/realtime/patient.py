"""The patient 360 served by ``GET /v1/patients/{id}``: the golden record with PII masked,
the source records, the profile (tags, tier, lifecycle stage, value score) and the
latest real-time events.

Masking: names keep their first character (张*), mobiles their first three and last
four digits (138****5678); the ID-card number, address and WeChat IDs are left out
(``wechat_linked`` says whether there is one); WeChat source keys (unionids) are cut to
four characters; free text in events (consult messages, review text, reasons) is
replaced by its length.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from molar.realtime.identity_index import is_provisional
from molar.warehouse import Engine

FREE_TEXT_FIELDS = frozenset({"text", "reason", "comment", "note"})
RECENT_EVENTS = 50


def mask_name(name: str | None) -> str | None:
    if not name:
        return None
    return name[0] + "*" * (len(name) - 1)


def mask_mobile(mobile: str | None) -> str | None:
    if not mobile:
        return None
    digits = mobile[3:] if mobile.startswith("+86") else mobile
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_key(source: str, key: str) -> str:
    if source == "wechat":
        return key[:4] + "****"
    return key


def _redact(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in data.items():
        if k in FREE_TEXT_FIELDS and isinstance(v, str):
            out[k] = f"[{len(v)} characters]"
        else:
            out[k] = v
    return out


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _one(engine: Engine, sql: str, params: list[Any]) -> dict[str, Any] | None:
    rows = engine.arrow(sql, params).to_pylist()
    return rows[0] if rows else None


def _current_golden(engine: Engine, golden_id: str) -> tuple[str | None, list[str]]:
    """Follow merges: (the active golden ID or None, the retired IDs passed on the way)."""
    passed: list[str] = []
    current = golden_id
    for _ in range(20):
        if engine.scalar("SELECT count(*) FROM identity.patient WHERE golden_id = ?", [current]):
            return current, passed
        merged_into = engine.scalar(
            "SELECT merged_into FROM identity.golden WHERE golden_id = ? AND status = 'retired'",
            [current],
        )
        if not merged_into:
            return None, passed
        passed.append(current)
        current = merged_into
    return None, passed


def patient_360(engine: Engine, patient_id: str, *, today: date, limit: int = RECENT_EVENTS) -> dict[str, Any] | None:
    """Everything Molar knows about a patient, masked; None when the ID is unknown."""
    out: dict[str, Any] = {"id": patient_id}
    golden_id: str | None = None
    if is_provisional(patient_id):
        pv = _one(engine, "SELECT * FROM ops.provisional_identity WHERE provisional_id = ?", [patient_id])
        if pv is None:
            return None
        if pv["resolved_golden_id"]:
            golden_id, passed = _current_golden(engine, pv["resolved_golden_id"])
            out["resolved_from"] = {"provisional_id": patient_id, "resolved_at": pv["resolved_at"],
                                    "matched_by": pv["resolved_by"]}
            if golden_id is None:
                return None
        else:
            out.update({
                "golden_id": patient_id,
                "provisional": True,
                "patient": None,
                "known_by": {
                    "mobile": mask_mobile(pv["mobile"]),
                    "wechat_linked": bool(pv["unionid"]),
                    "source": pv["source"],
                    "source_patient_key": mask_key(pv["source"] or "", pv["source_patient_key"])
                    if pv["source_patient_key"] else None,
                },
                "first_seen": pv["created_at"],
                "sources": [],
                "profile": _profile(engine, patient_id),
                "events": _events(engine, patient_id, limit),
            })
            return out
    else:
        golden_id, passed = _current_golden(engine, patient_id)
        if golden_id is None:
            return None
        if passed:
            out["merged"] = {"requested": patient_id, "merged_into": golden_id, "via": passed}

    p = _one(engine, """
        SELECT name, sex, birth_date, mobile, district, wechat_unionid, home_clinic_id,
               first_registered_on, last_registered_on, member_count, sources, updated_at
        FROM identity.patient WHERE golden_id = ?""", [golden_id])
    out.update({
        "golden_id": golden_id,
        "provisional": False,
        "patient": {
            "name": mask_name(p["name"]),
            "sex": p["sex"],
            "birth_year": p["birth_date"].year if p["birth_date"] else None,
            "age": _age(p["birth_date"], today),
            "mobile": mask_mobile(p["mobile"]),
            "district": p["district"],
            "wechat_linked": bool(p["wechat_unionid"]),
            "home_clinic_id": p["home_clinic_id"],
            "first_registered_on": p["first_registered_on"],
            "last_registered_on": p["last_registered_on"],
            "records": p["member_count"],
            "updated_at": p["updated_at"],
        },
        "sources": [
            {"source": s, "source_patient_key": mask_key(s, k)}
            for s, k in engine.rows(
                "SELECT source, source_patient_key FROM identity.cluster WHERE golden_id = ? "
                "ORDER BY source, source_patient_key", [golden_id])
        ],
        "profile": _profile(engine, golden_id),
        "events": _events(engine, golden_id, limit),
    })
    return out


def _profile(engine: Engine, golden_id: str) -> dict[str, Any]:
    tags = engine.arrow(
        "SELECT tag_key, value, value_num, evidence, valid_from FROM profile.tag_value "
        "WHERE golden_id = ? ORDER BY tag_key", [golden_id]).to_pylist()
    for t in tags:
        if t["evidence"]:
            with contextlib.suppress(ValueError):
                t["evidence"] = json.loads(t["evidence"])
    tier = _one(engine, "SELECT tier, cluster, distance, run_id FROM profile.tier WHERE golden_id = ?", [golden_id])
    lifecycle = _one(engine, """
        SELECT stage, since, expected_interval_days, days_since_last, overdue_ratio, spend_trend,
               reason, run_id
        FROM profile.lifecycle WHERE golden_id = ?""", [golden_id])
    value = _one(engine, "SELECT * EXCLUDE (golden_id) FROM profile.value_score WHERE golden_id = ?", [golden_id])
    return {"tags": tags, "tier": tier, "lifecycle": lifecycle, "value_score": value}


def _events(engine: Engine, golden_id: str, limit: int) -> list[dict[str, Any]]:
    rows = engine.arrow("""
        SELECT seq, event_id, type, source, occurred_at, received_at, derived, data
        FROM ops.rt_event WHERE golden_id = ?
        ORDER BY seq DESC, derived DESC, occurred_at DESC LIMIT ?""", [golden_id, limit]).to_pylist()
    for r in rows:
        r["data"] = _redact(json.loads(r["data"])) if r["data"] else {}
    return rows
