"""Recall: when each patient is next due, per recall type, from the treatments they had.

A recall type (``recall_types.yaml``) names the treatments that restart its clock and the
interval; a patient's due date is their last such treatment + the interval (calendar
months, by age at that treatment for children's check-ups). A recall is **booked** when the
patient already has a future appointment in the type's department, **opted out** when the
patient refused care messages on every channel, **lapsed** (left out) after ``lapse_after``
months, else **due** (due date on or after the day) or **overdue**. Reminders are the
outbox messages sent with a reminder template since the last treatment; their outcome is the
first booking made after the first of them.

Reads std, identity, privacy.consent_event and ops.outbox; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from molar.automation.yamlio import CatalogueError, check_keys, fail, line_of, load_yaml
from molar.model.codes import DEPARTMENTS, TREATMENT_BY_CODE
from molar.operations.series import data_end
from molar.warehouse import Engine

RECALL_TYPES_FILE = Path(__file__).with_name("recall_types.yaml")
MESSAGE_CHANNELS = ("app", "wechat", "sms")   # the channels a reminder can go out on
STATUSES = ("overdue", "due", "opted_out", "booked")


class RecallError(ValueError):
    """The warehouse or the request cannot give a recall list (the message says why and what to do)."""


@dataclass(frozen=True)
class RecallType:
    key: str
    name_zh: str
    name_en: str
    department: str
    after: tuple[str, ...]
    months: int | None = None
    by_age: tuple[tuple[int, int], ...] = ()   # (below age, months), first match
    lapse_after: int | None = None

    def interval_months(self, age: int | None) -> int | None:
        """Months to the next visit; None when the type does not apply at this age."""
        if not self.by_age:
            return self.months
        if age is None:
            return None
        return next((months for below, months in self.by_age if age < below), None)


@dataclass(frozen=True)
class RecallCatalogue:
    types: tuple[RecallType, ...]
    reminder_templates: tuple[str, ...]

    def by_key(self) -> dict[str, RecallType]:
        return {t.key: t for t in self.types}


def _months(path: Path, node: Any, key: str, line: int | None) -> int:
    value = node.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise fail(path, line_of(node, key, line), f"{key}: a whole number of months, 1 or more (e.g. {key}: 6)")
    return value


def load_recall_types(path: Path | None = None) -> RecallCatalogue:
    """Read and validate the recall catalogue (default: the shipped ``recall_types.yaml``)."""
    path = Path(path or RECALL_TYPES_FILE)
    if not path.exists():
        raise CatalogueError(f"{path}: recall types file not found")
    doc = load_yaml(path)
    check_keys(path, doc, {"recall_types", "reminder_templates"}, "recall catalogue", required=("recall_types",),
               line=1)
    templates = doc.get("reminder_templates") or []
    if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
        raise fail(path, line_of(doc, "reminder_templates"), "reminder_templates: a list of template names")
    types: list[RecallType] = []
    nodes = doc["recall_types"]
    if not isinstance(nodes, list) or not nodes:
        raise fail(path, line_of(doc, "recall_types"), "recall_types: a list of recall types (key, name, …)")
    for node in nodes:
        line = line_of(node, default=line_of(doc, "recall_types"))
        check_keys(path, node, {"key", "name", "department", "after", "months", "by_age", "lapse_after", "enabled"},
                   "recall type", required=("key", "name", "department", "after"), line=line)
        key = str(node["key"])
        if key in {t.key for t in types}:
            raise fail(path, line, f"recall type {key!r} is defined twice; give each a key of its own")
        name = node["name"]
        check_keys(path, name, {"zh", "en"}, f"recall type {key} name", required=("zh", "en"), line=line)
        if node["department"] not in DEPARTMENTS:
            raise fail(path, line_of(node, "department", line),
                       f"department {node['department']!r}: one of {', '.join(DEPARTMENTS)}")
        after = node["after"]
        if not isinstance(after, list) or not after or any(c not in TREATMENT_BY_CODE for c in after):
            raise fail(path, line_of(node, "after", line),
                       f"after: a list of treatment codes ({', '.join(TREATMENT_BY_CODE)})")
        if ("months" in node) == ("by_age" in node):
            raise fail(path, line, f"recall type {key}: give exactly one of `months: 6` or `by_age: [{{below: 6, "
                                   "months: 3}, …]`")
        by_age: list[tuple[int, int]] = []
        for band in node.get("by_age") or []:
            bline = line_of(band, default=line_of(node, "by_age", line))
            check_keys(path, band, {"below", "months"}, "by_age band", required=("below", "months"), line=bline)
            by_age.append((_months(path, band, "below", bline), _months(path, band, "months", bline)))
        if "by_age" in node and not by_age:
            raise fail(path, line_of(node, "by_age", line), "by_age: at least one {below: AGE, months: N} band")
        enabled = node.get("enabled", True)
        if not isinstance(enabled, bool):
            raise fail(path, line_of(node, "enabled", line), "enabled: true or false")
        if not enabled:
            continue
        types.append(RecallType(
            key, str(name["zh"]), str(name["en"]), str(node["department"]), tuple(after),
            _months(path, node, "months", line) if "months" in node else None, tuple(by_age),
            _months(path, node, "lapse_after", line) if "lapse_after" in node else None))
    return RecallCatalogue(tuple(types), tuple(templates))


def _age(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _add_months(day: date, months: int) -> date:
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def _last_treatments(engine: Engine, catalogue: RecallCatalogue, as_of: date) -> list[dict[str, Any]]:
    """Per patient and recall type: the day and clinic of the last qualifying treatment."""
    items = [(t.key, code) for t in catalogue.types for code in t.after]
    engine.execute("CREATE OR REPLACE TEMP TABLE recall_item (recall_type VARCHAR, item_code VARCHAR)")
    engine.append("recall_item", pa.table({"recall_type": [k for k, _ in items], "item_code": [c for _, c in items]}))
    return engine.arrow(
        """SELECT k.golden_id, r.recall_type, max(v.visit_date) AS last_on,
                  arg_max(v.clinic_id, (v.visit_date, v.clinic_id)) AS clinic_id, p.birth_date
           FROM std.treatment t
           JOIN std.visit v ON v.source = t.source AND v.visit_id = t.visit_id
           JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
           JOIN recall_item r ON r.item_code = t.item_code
           LEFT JOIN identity.patient p ON p.golden_id = k.golden_id
           WHERE v.visit_date <= ?
           GROUP BY k.golden_id, r.recall_type, p.birth_date""", [as_of]).to_pylist()


def _future_bookings(engine: Engine, as_of: date) -> dict[tuple[str, str], datetime]:
    """(golden ID, department) → the first booked slot after the day (not cancelled)."""
    tomorrow = datetime.combine(as_of + timedelta(days=1), time())
    rows = engine.rows(
        """SELECT k.golden_id, a.department, min(a.slot_start)
           FROM std.appointment a
           JOIN identity.cluster k ON k.source = a.source AND k.source_patient_key = a.source_patient_key
           WHERE a.slot_start >= ? AND a.status <> 'cancelled' AND coalesce(a.booked_at, a.slot_start) < ?
           GROUP BY ALL""", [tomorrow, tomorrow])
    return {(g, d): s for g, d, s in rows}


def opted_out(engine: Engine, golden_ids: list[str]) -> set[str]:
    """The patients who refused care messages on every channel a reminder can use: per
    channel, the statement in force is the newest covering it (``care`` or ``all``, the
    channel or ``any``) under any of the patient's subjects, a refusal winning a tie — the
    rule of :func:`molar.privacy.consent.current`, for many patients in one query."""
    if not golden_ids:
        return set()
    rows = engine.rows(
        """WITH ids AS (SELECT unnest(?) AS g),
           subject AS (SELECT g, g AS subject FROM ids
                       UNION ALL SELECT k.golden_id, k.source || ':' || k.source_patient_key
                                 FROM identity.cluster k JOIN ids ON ids.g = k.golden_id
                       UNION ALL SELECT p.resolved_golden_id, p.provisional_id
                                 FROM ops.provisional_identity p JOIN ids ON ids.g = p.resolved_golden_id),
           channel AS (SELECT unnest(?) AS channel),
           in_force AS (
               SELECT s.g, c.channel,
                      first(e.granted ORDER BY e.occurred_at DESC, e.granted ASC, e.event_id DESC) AS granted
               FROM subject s JOIN privacy.consent_event e ON e.subject = s.subject
               JOIN channel c ON e.channel IN (c.channel, 'any')
               WHERE e.purpose IN ('care', 'all')
               GROUP BY s.g, c.channel)
           SELECT g FROM in_force GROUP BY g HAVING count(*) = ? AND NOT bool_or(granted)""",
        [golden_ids, list(MESSAGE_CHANNELS), len(MESSAGE_CHANNELS)])
    return {r[0] for r in rows}


def _reminders(engine: Engine, golden_ids: list[str], templates: tuple[str, ...]) -> dict[str, list[datetime]]:
    if not golden_ids or not templates:
        return {}
    rows = engine.rows(
        f"""SELECT golden_id, coalesce(sent_at, next_attempt_at, created_at) AS reminded_at FROM ops.outbox
            WHERE status IN ('queued', 'sending', 'sent') AND template IN ({', '.join('?' * len(templates))})
              AND golden_id IN (SELECT unnest(?)) ORDER BY reminded_at""", [*templates, golden_ids])
    out: dict[str, list[datetime]] = {}
    for g, at in rows:
        out.setdefault(g, []).append(at)
    return out


def _bookings_made(engine: Engine, golden_ids: list[str]) -> dict[str, list[tuple[datetime, str, str, datetime]]]:
    """(booked at, department, status, slot) of every booking, per patient."""
    if not golden_ids:
        return {}
    rows = engine.rows(
        """SELECT k.golden_id, coalesce(a.booked_at, a.slot_start), a.department, a.status, a.slot_start
           FROM std.appointment a
           JOIN identity.cluster k ON k.source = a.source AND k.source_patient_key = a.source_patient_key
           WHERE k.golden_id IN (SELECT unnest(?)) ORDER BY 2""", [golden_ids])
    out: dict[str, list[tuple[datetime, str, str, datetime]]] = {}
    for g, booked, dept, status, slot in rows:
        out.setdefault(g, []).append((booked, dept, status, slot))
    return out


def recalls(engine: Engine, *, as_of: date | None = None, catalogue: RecallCatalogue | None = None,
            clinics: list[str] | None = None, due_by: date | None = None) -> list[dict[str, Any]]:
    """Every recall that applies on ``as_of`` (default: the last day of the exports), one row
    per patient × recall type, for the patients' last clinics in ``clinics`` (None: all)
    and due by ``due_by`` (None: any date). Rows carry golden IDs only, no personal data."""
    catalogue = catalogue or load_recall_types()
    as_of = as_of or data_end(engine)
    if as_of is None:
        raise RecallError("the warehouse has no visits: load the HIS exports with `molar ingest` and link them "
                          "with `molar identity resolve` first / 仓库中没有就诊记录，请先导入并完成身份识别")
    types = catalogue.by_key()
    booked = _future_bookings(engine, as_of)
    rows = []
    for r in _last_treatments(engine, catalogue, as_of):
        rt = types[r["recall_type"]]
        if clinics is not None and r["clinic_id"] not in clinics:
            continue
        if rt.lapse_after is not None and _add_months(r["last_on"], rt.lapse_after) < as_of:
            continue
        age = _age(r["birth_date"], r["last_on"])
        months = rt.interval_months(age)
        if months is None:
            continue
        due = _add_months(r["last_on"], months)
        if due_by is not None and due > due_by:
            continue
        next_booking = booked.get((r["golden_id"], rt.department))
        rows.append({
            "golden_id": r["golden_id"], "clinic_id": r["clinic_id"], "recall_type": rt.key,
            "recall_name": {"zh": rt.name_zh, "en": rt.name_en}, "department": rt.department,
            "last_treatment_on": r["last_on"], "interval_months": months, "age_at_treatment": age,
            "due_on": due, "days_overdue": max((as_of - due).days, 0),
            "status": "booked" if next_booking else "overdue" if due < as_of else "due",
            "next_booking": next_booking,
        })
    ids = sorted({r["golden_id"] for r in rows})
    reminders = _reminders(engine, ids, catalogue.reminder_templates)
    bookings = _bookings_made(engine, ids)
    refused = opted_out(engine, ids)
    for row in rows:
        g = row["golden_id"]
        if row["status"] != "booked" and g in refused:
            row["status"] = "opted_out"
        since = datetime.combine(row["last_treatment_on"] + timedelta(days=1), time())
        sent = [at for at in reminders.get(g, []) if at >= since]
        row["reminders"] = len(sent)
        row["last_reminder_at"] = sent[-1] if sent else None
        row["outcome"] = _outcome(sent, bookings.get(g, []), row["department"])
    rows.sort(key=lambda r: (STATUSES.index(r["status"]), r["due_on"], r["golden_id"], r["recall_type"]))
    return rows


def _outcome(sent: list[datetime], bookings: list[tuple[datetime, str, str, datetime]],
             department: str) -> dict[str, Any] | None:
    """The first booking in the department made after the first reminder, and what became of it."""
    if not sent:
        return None
    for booked_at, dept, status, slot in bookings:
        if dept == department and booked_at > sent[0]:
            return {"booked_at": booked_at, "slot_start": slot, "status": status}
    return {"booked_at": None, "slot_start": None, "status": "not_booked"}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per status and recall type, and how many reminded patients booked."""
    reminded = [r for r in rows if r["reminders"]]
    return {
        "by_status": {s: sum(r["status"] == s for r in rows) for s in STATUSES},
        "by_type": {t: sum(r["recall_type"] == t for r in rows) for t in dict.fromkeys(r["recall_type"] for r in rows)},
        "reminded": len(reminded),
        "booked_after_reminder": sum(bool(r["outcome"] and r["outcome"]["booked_at"]) for r in reminded),
    }
