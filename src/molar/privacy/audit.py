"""The audit log: append-only and hash-chained (``ops.audit_log``).

Every read of personal data and every change of consent, role, rule or override is one
row. Each row's ``hash`` is SHA-256 over the previous row's hash and the row itself, so
editing, deleting or inserting a row anywhere but the end breaks the chain, which
:func:`verify` finds. Deleting rows from the end leaves a valid shorter chain: keep the
head hash that ``molar audit verify`` prints somewhere else to detect that too.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from molar.warehouse import Engine

CLINIC_TZ = ZoneInfo("Asia/Shanghai")


def clinic_now() -> datetime:
    """Clinic local time, naive, like every Molar timestamp."""
    return datetime.now(CLINIC_TZ).replace(tzinfo=None)


GENESIS = "0" * 64
COLUMNS = ("seq", "recorded_at", "actor", "role", "action", "resource", "patient", "fields", "purpose",
           "detail", "prev_hash", "hash")
# One writer at a time per process: the next row needs the previous row's hash.
_chain_lock = threading.Lock()


def _digest(prev_hash: str, row: dict[str, Any]) -> str:
    body = {k: row[k] for k in COLUMNS[:-2]}
    body["recorded_at"] = row["recorded_at"].isoformat(timespec="microseconds")
    body["fields"] = list(row["fields"])
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def record(
    engine: Engine,
    *,
    actor: str,
    role: str,
    action: str,
    resource: str,
    purpose: str,
    patient: str | None = None,
    fields: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit row; returns its seq.

    ``actor``/``role``: who (user or token name, or the OS user for CLI commands);
    ``action``: ``<resource>.<verb>``, e.g. ``patient.read``, ``consent.change``,
    ``role.change``, ``rule.change``, ``override.change``, ``patient.erase``;
    ``resource``: what was read or changed (a route template, table or rule key);
    ``patient``: the golden/provisional ID concerned; ``fields``: the personal fields shown
    unmasked or changed (names only, never values); ``purpose``: why (route or command);
    ``detail``: JSON-able before/after values that carry no personal data.

    Commits with the caller's transaction when called inside one; a caller running
    inside an open transaction must be the only audit writer until it commits.
    """
    row = {
        "recorded_at": at or clinic_now(), "actor": actor, "role": role, "action": action,
        "resource": resource, "patient": patient, "fields": sorted(set(fields)),
        "purpose": purpose, "detail": detail,
    }
    with _chain_lock, engine.transaction():
        last = engine.rows("SELECT seq, hash FROM ops.audit_log ORDER BY seq DESC LIMIT 1")
        seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)
        row["seq"] = seq
        digest = _digest(prev, row)
        engine.execute(
            "INSERT INTO ops.audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [seq, row["recorded_at"], actor, role, action, resource, patient, row["fields"], purpose,
             json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail is not None else None,
             prev, digest],
        )
    return seq


def _rows(engine: Engine, where: str = "", params: Sequence[Any] = (), limit: int | None = None,
          newest_first: bool = False) -> list[dict[str, Any]]:
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {', '.join(COLUMNS)} FROM ops.audit_log {where} ORDER BY seq {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = engine.arrow(sql, list(params)).to_pylist()
    for r in rows:
        r["detail"] = json.loads(r["detail"]) if r["detail"] else None
    return rows


def list_entries(engine: Engine, *, patient: str | None = None, actor: str | None = None,
                 action: str | None = None, since: datetime | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered."""
    conditions, params = [], []
    for column, value in (("patient", patient), ("actor", actor), ("action", action)):
        if value:
            conditions.append(f"{column} = ?")
            params.append(value)
    if since:
        conditions.append("recorded_at >= ?")
        params.append(since)
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    return _rows(engine, where, params, limit, newest_first=True)


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    head_hash: str
    problem: str | None = None          # the first broken row and how
    bad_seq: int | None = None


def verify(engine: Engine) -> Verification:
    """Recompute the chain from the first row; reports the first row that does not fit."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in _rows(engine):
        count += 1
        seq = row["seq"]
        if seq != expected_seq:
            return Verification(False, count, prev, (
                f"row {expected_seq} is missing (the next row is {seq}): rows were deleted"), expected_seq)
        if row["prev_hash"] != prev:
            return Verification(False, count, prev, (
                f"row {seq} does not follow row {seq - 1} (prev_hash differs): rows were "
                "replaced or inserted"), seq)
        if _digest(prev, row) != row["hash"]:
            return Verification(False, count, prev, (
                f"row {seq} was changed after it was written (its hash does not match its content)"), seq)
        prev, expected_seq = row["hash"], seq + 1
    return Verification(True, count, prev)
