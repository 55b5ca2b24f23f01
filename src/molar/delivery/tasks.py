"""Staff tasks (``ops.task``): nurse follow-ups, VIP advisor calls, service recovery.

Tasks are not messages: no consent, no caps, no quiet hours. Closing a
``service_recovery`` task resolves the patient's open complaint (see automation.guards).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molar.delivery.query import select_where
from molar.warehouse import Engine

_COLUMNS = ("task_id", "kind", "golden_id", "rule_key", "occurrence", "step", "role", "title_zh", "title_en",
            "due_at", "status", "created_at", "resolved_at", "resolved_by", "note", "assigned_to", "assigned_at",
            "outcome")
OUTCOMES = ("reached", "no_answer", "booked", "resolved", "not_needed")


class TaskError(ValueError):
    pass


@dataclass(frozen=True)
class StaffTask:
    task_id: str
    kind: str
    golden_id: str
    rule_key: str | None
    occurrence: str | None
    step: str | None
    role: str | None
    title_zh: str | None
    title_en: str | None
    due_at: datetime
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None
    assigned_to: str | None = None
    assigned_at: datetime | None = None
    outcome: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _COLUMNS}


def task_id_for(idempotency_key: str) -> str:
    return "T" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:20]


def create_task(engine: Engine, *, idempotency_key: str, kind: str, golden_id: str, due_at: datetime,
                now: datetime, role: str | None = None, title_zh: str | None = None, title_en: str | None = None,
                rule_key: str | None = None, occurrence: str | None = None, step: str | None = None) -> tuple[str, bool]:
    """Open a task once per key; returns (task_id, created)."""
    task_id = task_id_for(idempotency_key)
    if engine.scalar("SELECT count(*) FROM ops.task WHERE task_id = ?", [task_id]):
        return task_id, False
    engine.execute(
        f"INSERT INTO ops.task ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        [task_id, kind, golden_id, rule_key, occurrence, step, role, title_zh, title_en, due_at, "open", now,
         None, None, None, None, None, None],
    )
    return task_id, True


def _existing(engine: Engine, task_id: str) -> StaffTask:
    task = get_task(engine, task_id)
    if task is None:
        raise TaskError(f"no task {task_id!r}; list them with `molar tasks list`")
    return task


def resolve_task(engine: Engine, task_id: str, *, now: datetime, by: str | None = None,
                 note: str | None = None, outcome: str | None = None) -> StaffTask:
    if outcome is not None and outcome not in OUTCOMES:
        raise TaskError(f"unknown outcome {outcome!r}; one of: {', '.join(OUTCOMES)}")
    if _existing(engine, task_id).status != "done":
        engine.execute(
            "UPDATE ops.task SET status = 'done', resolved_at = ?, resolved_by = ?, note = ?, outcome = ? "
            "WHERE task_id = ?",
            [now, by, note, outcome, task_id],
        )
    return _existing(engine, task_id)


def assign_task(engine: Engine, task_id: str, *, to: str, now: datetime) -> StaffTask:
    """Give an open task to one person (taking it over from whoever had it)."""
    if _existing(engine, task_id).status == "done":
        raise TaskError(f"task {task_id!r} is already done")
    engine.execute("UPDATE ops.task SET assigned_to = ?, assigned_at = ? WHERE task_id = ?", [to, now, task_id])
    return _existing(engine, task_id)


def get_task(engine: Engine, task_id: str) -> StaffTask | None:
    rows = engine.rows(f"SELECT {', '.join(_COLUMNS)} FROM ops.task WHERE task_id = ?", [task_id])
    return StaffTask(*rows[0]) if rows else None


def list_tasks(engine: Engine, *, status: str | None = None, golden_id: str | None = None,
               kind: str | None = None, limit: int = 100) -> list[StaffTask]:
    rows = select_where(engine, "ops.task", _COLUMNS, {"status": status, "golden_id": golden_id, "kind": kind},
                        "due_at, task_id", limit)
    return [StaffTask(*r) for r in rows]
