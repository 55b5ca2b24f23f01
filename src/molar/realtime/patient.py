"""The patient 360 served by ``GET /v1/patients/{id}``: the golden record, the source
records, the profile (tags, tier, lifecycle stage, value score) and the latest real-time
events — unmasked. The API masks it by the caller's role (``molar.privacy.masking``)
before anything leaves the server.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from molar.privacy import event_data
from molar.privacy.fields import cipher_for, open_rows, read_golden
from molar.realtime.identity_index import PROVISIONAL_TABLE, is_provisional
from molar.warehouse import Engine

RECENT_EVENTS = 50


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


def patient_360(engine: Engine, patient_id: str, *, limit: int = RECENT_EVENTS) -> dict[str, Any] | None:
    """Everything Molar knows about a patient, unmasked; None when the ID is unknown."""
    out: dict[str, Any] = {"id": patient_id}
    golden_id: str | None = None
    if is_provisional(patient_id):
        found = engine.arrow("SELECT * FROM ops.provisional_identity WHERE provisional_id = ?", [patient_id])
        if found.num_rows == 0:
            return None
        pv = open_rows(PROVISIONAL_TABLE, found, cipher_for(engine)).to_pylist()[0]
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
                "known_by": {k: pv[k] for k in ("mobile", "unionid", "source", "source_patient_key")},
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

    golden = read_golden(engine, "name, sex, birth_date, mobile, id_number, address, district, wechat_unionid, "
                         "home_clinic_id, first_registered_on, last_registered_on, member_count, sources, updated_at",
                         "WHERE golden_id = ?", [golden_id]).to_pylist()
    patient = golden[0] if golden else None
    out.update({
        "golden_id": golden_id,
        "provisional": False,
        "patient": patient,
        "sources": [
            {"source": s, "source_patient_key": k}
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
    table = engine.arrow("""
        SELECT seq, event_id, type, source, occurred_at, received_at, derived, data, sealed
        FROM ops.rt_event WHERE golden_id = ?
        ORDER BY seq DESC, derived DESC, occurred_at DESC LIMIT ?""", [golden_id, limit])
    tokens = table["sealed"].to_pylist()
    sealed = event_data.open_tokens(cipher_for(engine), tokens, table["event_id"].to_pylist()) \
        if any(tokens) else [{}] * table.num_rows
    rows = table.drop_columns(["sealed"]).to_pylist()
    for r, personal in zip(rows, sealed, strict=True):
        r["data"] = {**(json.loads(r["data"]) if r["data"] else {}), **personal}
    return rows
