"""ops.rule_decision: every decision of the engine, with its reason in plain words."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from molar.warehouse import Engine

COLUMNS = ("decision_id", "decided_at", "rule_key", "rule_version", "golden_id", "occurrence", "step", "action",
           "outcome", "reason_code", "reason_en", "reason_zh", "detail", "message_id", "task_id", "event_id")


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def record_decision(engine: Engine, *, now: datetime, rule_key: str, golden_id: str, action: str, outcome: str,
                    rule_version: str | None = None, occurrence: str | None = None, step: str | None = None,
                    code: str | None = None, en: str | None = None, zh: str | None = None,
                    detail: dict[str, Any] | None = None, message_id: str | None = None,
                    task_id: str | None = None, event_id: str | None = None,
                    buffer: list[list[Any]] | None = None) -> str:
    """Record one decision (or add it to ``buffer``, written by :func:`flush_decisions`)."""
    decision_id = uuid.uuid4().hex
    row = [decision_id, now, rule_key, rule_version, golden_id, occurrence, step, action, outcome, code, en, zh,
           json.dumps(detail, ensure_ascii=False, default=_json) if detail else None, message_id, task_id, event_id]
    if buffer is not None:
        buffer.append(row)
    else:
        flush_decisions(engine, [row])
    return decision_id


def flush_decisions(engine: Engine, rows: list[list[Any]]) -> None:
    """Insert buffered decisions in order, a few hundred per statement."""
    engine.insert_rows(f"ops.rule_decision ({', '.join(COLUMNS)})", rows)
    rows.clear()


def decisions_for(engine: Engine, golden_id: str, rule_key: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """A patient's decisions, newest first."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM ops.rule_decision WHERE golden_id = ?"
    params: list[Any] = [golden_id]
    if rule_key:
        sql += " AND rule_key = ?"
        params.append(rule_key)
    sql += " ORDER BY seq DESC LIMIT ?"
    out = []
    for row in engine.rows(sql, [*params, limit]):
        item = dict(zip(COLUMNS, row, strict=True))
        item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
        out.append(item)
    return out
