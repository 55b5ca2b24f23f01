"""Helpers for automation tests: patients in identity.patient, events, an engine clock."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

import molar.automation
from molar.automation import Automation, ManualClock, load_catalogue, load_policy
from molar.delivery.channels import LocalSink
from molar.model.events import Event
from support import add_golden

CATALOGUE = load_catalogue()
# The rule files shipped with Molar (one rule each), counted from the folder, not the loader.
SHIPPED_RULE_FILES = sorted(p for p in (Path(molar.automation.__file__).parent / "rules").glob("*.yaml")
                            if p.name != "templates.yaml")
POLICY = load_policy()
_ids = itertools.count(1)


def add_patient(engine, golden_id: str, *, mobile: bool = True, wechat: bool = False, clinic: str | None = None) -> None:
    add_golden(engine, golden_id=golden_id, mobile=f"+86138{abs(hash(golden_id)) % 10**8:08d}" if mobile else None,
               wechat_unionid=f"u-{golden_id}" if wechat else None, wechat_openid=f"o-{golden_id}" if wechat else None,
               home_clinic_id=clinic)


def ev(kind: str, golden_id: str, at: datetime, event_id: str | None = None, **data) -> Event:
    return Event(event_id or f"ev{next(_ids)}", kind, golden_id, at, data, source="test")


def visit(golden_id: str, at: datetime, *codes: str, event_id: str | None = None) -> Event:
    return ev("visit.completed", golden_id, at, event_id, visit_id=f"V{next(_ids)}", clinic_id="C01",
              department="general", items=[{"item_code": c, "tooth": "36", "quantity": 1} for c in codes])


def automation(clock: ManualClock, **kwargs) -> Automation:
    kwargs.setdefault("channels", {c: LocalSink(c) for c in ("sms", "wechat", "app")})
    return Automation(kwargs.pop("catalogue", CATALOGUE), kwargs.pop("policy", POLICY), clock=clock, **kwargs)


def decisions(engine, rule_key: str | None = None, golden_id: str | None = None) -> list[tuple]:
    sql = "SELECT rule_key, golden_id, step, outcome, reason_code FROM ops.rule_decision WHERE true"
    params = []
    if rule_key:
        sql += " AND rule_key = ?"
        params.append(rule_key)
    if golden_id:
        sql += " AND golden_id = ?"
        params.append(golden_id)
    return engine.rows(sql + " ORDER BY seq", params)


def outcomes(engine, rule_key: str, golden_id: str | None = None) -> list[str]:
    return [d[3] for d in decisions(engine, rule_key, golden_id)]


def outbox(engine, golden_id: str | None = None) -> list[tuple]:
    sql = "SELECT rule_key, channel, purpose, status, reason_code, template, next_attempt_at, sent_at FROM ops.outbox"
    params = []
    if golden_id:
        sql += " WHERE golden_id = ?"
        params.append(golden_id)
    return engine.rows(sql + " ORDER BY created_at, message_id", params)


def tasks(engine, golden_id: str | None = None) -> list[tuple]:
    sql = "SELECT rule_key, kind, role, due_at, status FROM ops.task"
    params = []
    if golden_id:
        sql += " WHERE golden_id = ?"
        params.append(golden_id)
    return engine.rows(sql + " ORDER BY created_at, task_id", params)


def in_every_rule(skip: int = 0) -> str:
    """A golden ID outside the holdout group of every shipped rule."""
    rules = [r for r in CATALOGUE.rules.values() if r.holdout_percent]
    from molar.automation import is_held_out

    return [g for g in (f"G{i:010d}" for i in range(1, 500)) if not any(is_held_out(r, g) for r in rules)][skip]
