"""`simulate`: replay warehouse history through one rule, with the real guards, on a
scratch copy of the state — what would the rule have done, week by week?

History comes from the std tables mapped to golden IDs through identity.cluster:
visit.completed (std.visit + std.treatment, at 12:00 on the visit day), appointment
events (std.appointment), consult.message (std.consult with profile.text_sentiment when
present), review.posted, telemetry.daily (std.telemetry, unionid → golden ID through the
wechat source, at 22:00), app.action (std.event), charge.paid (std.charge) and
lifecycle.changed (profile.lifecycle_event), churn_risk.high (profile.churn_risk_change) and
plan.unaccepted (std.treatment_plan, with the default 14 days).
Complaint consults are always replayed so
the open-complaint guard sees them.

The scratch state is an in-memory DuckDB with every migration applied, holding masked
copies of what the facts need (identity.patient without phone numbers, profile tables,
current consent). The warehouse is only read. Facts are today's (the profile keeps no
history of tiers or tags); caps count this rule's own simulated messages only.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from molar.automation.catalogue import CHANNELS, Catalogue, Rule, load_catalogue
from molar.automation.clock import ManualClock
from molar.automation.facts import WarehouseFacts
from molar.automation.guards import Policy, load_policy
from molar.automation.runtime import Automation
from molar.delivery.channels import LocalSink
from molar.marketing.plans import DEFAULT_UNACCEPTED_AFTER_DAYS, unaccepted_history
from molar.model.events import Event
from molar.predict.churn.store import crossings
from molar.privacy import fields
from molar.privacy.keys import open_keyring_from
from molar.warehouse import Engine
from molar.warehouse.duckdb_engine import DuckDBEngine
from molar.warehouse.migrations import migrate

VISIT_HOUR = 12
TELEMETRY_HOUR = 22
LIFECYCLE_HOUR = 9


class SimulateError(ValueError):
    pass


def _cluster_join(alias: str, source_expr: str, key_expr: str) -> str:
    return (f"JOIN identity.cluster {alias} ON {alias}.source = {source_expr} "
            f"AND {alias}.source_patient_key = {key_expr}")


Rows = list[tuple[str, str, datetime, dict[str, Any]]]  # (event_id, golden_id, occurred_at, data)


def _visits(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    return [
        (f"sim:visit:{src}:{vid}", g, datetime.combine(d, time(VISIT_HOUR)),
         {"visit_id": vid, "clinic_id": clinic, "department": dept,
          "items": [{"item_code": i["item_code"], "tooth": i["tooth"], "quantity": i["quantity"]}
                    for i in (items or []) if i and i.get("item_code")]})
        for src, vid, g, d, clinic, dept, items in engine.rows(
            "SELECT v.source, v.visit_id, c.golden_id, v.visit_date, v.clinic_id, v.department, "
            "list({'item_code': t.item_code, 'tooth': t.tooth, 'quantity': t.quantity} ORDER BY t.line_no) "
            f"FROM std.visit v {_cluster_join('c', 'v.source', 'v.source_patient_key')} "
            "LEFT JOIN std.treatment t ON t.source = v.source AND t.visit_id = v.visit_id "
            "WHERE v.visit_date >= ?::DATE AND v.visit_date < ?::DATE GROUP BY ALL", [start, end])
    ]


def _appointments(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    status = {"appointment.booked": None, "appointment.cancelled": "cancelled",
              "appointment.no_show": "no_show"}[event_type]
    when = "coalesce(a.booked_at, a.slot_start)" if status is None else "a.slot_start"
    where = "" if status is None else f"AND a.status = '{status}'"
    return [
        (f"sim:{event_type}:{src}:{aid}", g, at,
         {"appointment_id": aid, "clinic_id": clinic, "department": dept, "slot_start": slot, "channel": ch})
        for src, aid, g, at, clinic, dept, slot, ch in engine.rows(
            f"SELECT a.source, a.appointment_id, c.golden_id, {when}, a.clinic_id, a.department, a.slot_start, "
            f"a.channel FROM std.appointment a {_cluster_join('c', 'a.source', 'a.source_patient_key')} "
            f"WHERE {when} >= ? AND {when} < ? {where}", [start, end])
    ]


def _sentiment_join(engine: Engine, id_column: str, kind: str) -> tuple[str, str]:
    """(label expression, join) for the batch sentiment of a text, when it was scored."""
    if not engine.table_exists("profile.text_sentiment"):
        return "NULL", ""
    return "s.label", f"LEFT JOIN profile.text_sentiment s ON s.text_id = x.{id_column} AND s.kind = '{kind}'"


def _consults(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    label, join = _sentiment_join(engine, "consult_id", "consult")
    cipher = fields.cipher_for(engine)
    return [
        (f"sim:consult:{cid}", g, at, {"consult_id": cid, "channel": ch,
                                       "text": cipher.decrypt(text, "std.consult", "text", cid), "sentiment": lab})
        for cid, g, at, ch, text, lab in engine.rows(
            f"SELECT x.consult_id, c.golden_id, x.occurred_at, x.channel, x.text, {label} FROM std.consult x "
            f"{_cluster_join('c', 'x.source', 'x.source_patient_key')} {join} "
            "WHERE x.occurred_at >= ? AND x.occurred_at < ?", [start, end])
    ]


def _reviews(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    label, join = _sentiment_join(engine, "review_id", "review")
    cipher = fields.cipher_for(engine)
    return [
        (f"sim:review:{rid}", g, datetime.combine(d, time(VISIT_HOUR)),
         {"review_id": rid, "rating": rating, "text": cipher.decrypt(text, "std.review", "text", rid), "sentiment": lab})
        for rid, g, d, rating, text, lab in engine.rows(
            f"SELECT x.review_id, c.golden_id, x.posted_on, x.rating, x.text, {label} FROM std.review x "
            f"{_cluster_join('c', 'x.source', 'x.source_patient_key')} {join} "
            "WHERE x.posted_on >= ?::DATE AND x.posted_on < ?::DATE", [start, end])
    ]


def _telemetry(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    return [
        (f"sim:telemetry:{dev}:{d}", g, datetime.combine(d, time(TELEMETRY_HOUR)),
         {"device_id": dev, "measured_on": d.isoformat(), "plaque_index": plaque, "brushing_sessions": sessions,
          "brushing_seconds": seconds, "pressure_alerts": alerts})
        for dev, g, d, plaque, sessions, seconds, alerts in engine.rows(
            "SELECT t.device_id, c.golden_id, t.measured_on, t.plaque_index, t.brushing_sessions, "
            f"t.brushing_seconds, t.pressure_alerts FROM std.telemetry t {_cluster_join('c', chr(39) + 'wechat' + chr(39), 't.unionid')} "
            "WHERE t.measured_on >= ?::DATE AND t.measured_on < ?::DATE", [start, end])
    ]


def _app_actions(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    return [
        (f"sim:app:{eid}", g, at, {"platform": platform, "action": action, "article_id": article,
                                   "coupon_id": coupon})
        for eid, g, at, platform, action, article, coupon in engine.rows(
            "SELECT e.event_id, c.golden_id, e.occurred_at, e.platform, e.event_type, e.article_id, e.coupon_id "
            f"FROM std.event e {_cluster_join('c', chr(39) + 'wechat' + chr(39), 'e.unionid')} "
            "WHERE e.occurred_at >= ? AND e.occurred_at < ?", [start, end])
    ]


def _charges(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    return [
        (f"sim:charge:{src}:{cid}", g, datetime.combine(d, time(VISIT_HOUR)),
         {"charge_id": cid, "amount_yuan": float(amount or 0), "visit_id": vid})
        for src, cid, g, d, amount, vid in engine.rows(
            "SELECT x.source, x.charge_id, c.golden_id, x.charged_on, x.amount_yuan, x.visit_id FROM std.charge x "
            f"{_cluster_join('c', 'x.source', 'x.source_patient_key')} "
            "WHERE x.charged_on >= ?::DATE AND x.charged_on < ?::DATE", [start, end])
    ]


def _lifecycle_changes(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    if not engine.table_exists("profile.lifecycle_event"):
        return []
    return [
        (f"sim:lifecycle:{eid}", g, datetime.combine(d, time(LIFECYCLE_HOUR)),
         {"from_stage": frm, "to_stage": to, "reason": reason})
        for eid, g, d, frm, to, reason in engine.rows(
            "SELECT event_id, golden_id, occurred_on, from_stage, to_stage, reason FROM profile.lifecycle_event "
            "WHERE occurred_on >= ?::DATE AND occurred_on < ?::DATE", [start, end])
    ]


def _churn_crossings(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    if not engine.table_exists("profile.churn_risk_change"):
        return []
    return [(f"sim:{e.event_id}", e.golden_id, e.occurred_at, dict(e.data)) for e in crossings(engine, start, end)]


def _unaccepted_plans(engine: Engine, event_type: str, start: datetime, end: datetime) -> Rows:
    return [(f"sim:{e.event_id}", e.golden_id, e.occurred_at, dict(e.data))
            for e in unaccepted_history(engine, DEFAULT_UNACCEPTED_AFTER_DAYS, start, end)]


# Where the warehouse keeps the history of each event type a rule can listen to.
HISTORY: dict[str, Callable[[Engine, str, datetime, datetime], Rows]] = {
    "visit.completed": _visits,
    "appointment.booked": _appointments,
    "appointment.cancelled": _appointments,
    "appointment.no_show": _appointments,
    "consult.message": _consults,
    "review.posted": _reviews,
    "telemetry.daily": _telemetry,
    "app.action": _app_actions,
    "charge.paid": _charges,
    "lifecycle.changed": _lifecycle_changes,
    "churn_risk.high": _churn_crossings,
    "plan.unaccepted": _unaccepted_plans,
}


def _history(engine: Engine, event_type: str, start: datetime, end: datetime) -> list[Event]:
    """Events of one type between start (inclusive) and end (exclusive), oldest first."""
    read = HISTORY.get(event_type)
    rows = read(engine, event_type, start, end) if read else []
    return [Event(eid, event_type, g, at, data, source="simulate") for eid, g, at, data in rows if at is not None]


def _copy(source: Engine, scratch: Engine, table: str, select_sql: str, params: list[Any] | None = None) -> int:
    if not source.table_exists(table.split(" ")[0]):
        return 0
    data = source.arrow(select_sql, params)
    if table == fields.GOLDEN:   # placeholders sealed with the scratch's own key, as delivery opens them
        data = fields.seal_golden(data, open_keyring_from(None, scratch))
    return scratch.append(table, data)


def _scratch(source: Engine, golden_ids: list[str] | None) -> DuckDBEngine:
    scratch = DuckDBEngine(":memory:")
    migrate(scratch)
    ids_filter = "" if golden_ids is None else " WHERE golden_id IN (SELECT unnest(?::VARCHAR[]))"
    params = None if golden_ids is None else [golden_ids]
    _copy(source, scratch, "identity.patient",
          "SELECT golden_id, CASE WHEN mobile IS NOT NULL THEN 'masked' END AS mobile, "
          "CASE WHEN wechat_unionid IS NOT NULL THEN 'masked' END AS wechat_unionid, "
          "CASE WHEN wechat_openid IS NOT NULL THEN 'masked' END AS wechat_openid, home_clinic_id, member_count, "
          f"sources, updated_at FROM identity.patient{ids_filter}", params)
    _copy(source, scratch, "std.clinic", "SELECT clinic_id, name, district FROM std.clinic")
    for table in ("profile.tag_value", "profile.tier", "profile.lifecycle", "profile.value_score",
                  "ops.automation_tag"):
        _copy(source, scratch, table, f"SELECT * FROM {table}{ids_filter}", params)
    subjects = "" if golden_ids is None else " WHERE subject IN (SELECT unnest(?::VARCHAR[]))"
    _copy(source, scratch, "privacy.consent_event", f"SELECT * FROM privacy.consent_event{subjects}", params)
    # App reachability: patients seen in the app (history or live events).
    app_users = source.rows(
        "SELECT DISTINCT c.golden_id FROM std.event e JOIN identity.cluster c ON c.source = 'wechat' "
        "AND c.source_patient_key = e.unionid WHERE e.platform = 'app'")
    if source.table_exists("ops.rt_event"):
        app_users += source.rows("SELECT DISTINCT golden_id FROM ops.rt_event WHERE type = 'app.action'")
    wanted = set(golden_ids) if golden_ids is not None else None
    users = sorted({g for (g,) in app_users if wanted is None or g in wanted})
    if users and scratch.table_exists("ops.rt_event"):
        scratch.execute(
            "INSERT INTO ops.rt_event (seq, event_id, type, golden_id, provisional, source, occurred_at, applied_at, "
            "derived) SELECT 0, 'sim-app:' || g, 'app.action', g, false, 'simulate', TIMESTAMP '2000-01-01', "
            "TIMESTAMP '2000-01-01', false FROM (SELECT unnest(?::VARCHAR[]) AS g)", [users])
    return scratch


class _ReplayFacts:
    """Today's facts, read once per patient for the whole replay; complaints are re-read
    (from the replayed consults) only for patients who have any."""

    def __init__(self, complaint_ids: set[str], inner: WarehouseFacts) -> None:
        self.inner = inner
        self.complaint_ids = complaint_ids
        self.cache: dict[str, dict[str, Any]] = {}

    def many(self, engine: Engine, golden_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        missing = [g for g in dict.fromkeys(golden_ids) if g not in self.cache]
        if missing:
            self.cache.update(self.inner.many(engine, missing, now))
        out = {g: copy.deepcopy(self.cache[g]) for g in golden_ids}
        complained = [g for g in out if g in self.complaint_ids]
        if complained:
            for g in complained:
                out[g]["complaint"] = {"open": False, "last_at": None, "count": 0}
            self.inner._complaints(engine, complained, out, now)
        return out


def _next_due(scratch: Engine) -> datetime | None:
    return scratch.scalar(
        "SELECT min(t) FROM (SELECT min(due_at) AS t FROM ops.timer WHERE state = 'pending' UNION ALL "
        "SELECT min(next_attempt_at) FROM ops.outbox WHERE status IN ('queued', 'sending'))")


def simulate(engine: Engine, rule_key: str, since: date, until: date | None = None, *,
             catalogue: Catalogue | None = None, policy: Policy | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Replay ``since``..``until`` (inclusive; default: the last day with data) through one rule."""
    catalogue = catalogue or load_catalogue()
    try:
        rule: Rule = catalogue.get(rule_key)
    except KeyError as exc:
        raise SimulateError(str(exc.args[0])) from exc
    policy = replace(policy or load_policy(), stale_after=None)
    rule = replace(rule, enabled=True)
    trigger = rule.trigger
    notes: list[str] = []
    if until is None:
        until = engine.scalar("SELECT max(visit_date) FROM std.visit") or since
    if until < since:
        raise SimulateError(f"--until {until} is before --since {since}")
    start, end = datetime.combine(since, time()), datetime.combine(until + timedelta(days=1), time())
    events: list[Event] = []
    if trigger.kind != "schedule":
        assert trigger.event_type
        events = _history(engine, trigger.event_type, start, end)
        if not events and trigger.event_type in ("tier.changed", "tag.changed", "segment.entered", "segment.exited",
                                                  "consent.changed", "followup.reply", "lifecycle.changed",
                                                  "churn_risk.high"):
            notes.append(f"the warehouse keeps no history of {trigger.event_type} events; nothing to replay")
    if trigger.event_type != "consult.message" and rule.purpose == "marketing":
        complaints = [e for e in _history(engine, "consult.message", start, end) if e.data.get("sentiment") == "complaint"]
        events += complaints
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    golden_ids = None if trigger.kind == "schedule" else sorted({e.golden_id for e in events})
    scratch = _scratch(engine, golden_ids)
    clock = ManualClock(start)
    complaint_ids = {e.golden_id for e in events if e.type == "consult.message" and e.data.get("sentiment") == "complaint"}
    facts = _ReplayFacts(complaint_ids, WarehouseFacts(policy.complaint_window, policy.complaint_resolved_by))
    if golden_ids:
        facts.many(scratch, golden_ids, start)  # read every patient's facts in bulk, once
    sim = Automation(Catalogue({rule.key: rule}, catalogue.templates), policy, facts=facts,
                     channels={c: LocalSink(c) for c in CHANNELS}, clock=clock)

    def run_until(moment: datetime) -> None:
        due = _next_due(scratch)
        while due is not None and due <= moment:
            clock.set(due)
            sim.tick(scratch, due)
            after = _next_due(scratch)
            report = sim.last_tick
            if after == due and not report.timers_fired and not report.dispatched:
                break  # nothing moved: avoid spinning
            due = after

    try:
        if trigger.kind == "schedule":
            day = since
            while day <= until:
                moment = datetime.combine(day, trigger.daily_at or time())
                run_until(moment)
                clock.set(moment)
                while True:
                    sim.run_schedules(scratch, moment, batch=100_000)
                    if scratch.scalar("SELECT status FROM ops.schedule_run WHERE rule_key = ? AND run_date = ?",
                                      [rule.key, day]) == "done":
                        break
                day += timedelta(days=1)
        else:
            done = 0
            for moment, group in groupby(events, key=lambda e: e.occurred_at):
                batch = list(group)
                run_until(moment)
                clock.set(moment)
                sim.on_events(scratch, batch, now=moment)
                done += len(batch)
                if progress:
                    progress(done, len(events))
        run_until(end - timedelta(microseconds=1))
        report = _report(scratch, rule, since, until, end)
    finally:
        scratch.close()
    report["events_replayed"] = len(events)
    report["notes"] = notes + [
        "facts (tags, tier, stage, value score, consent) are today's; the profile keeps no history of them",
        "caps count this rule's own simulated messages only",
    ]
    return report


def _report(scratch: Engine, rule: Rule, since: date, until: date, end: datetime) -> dict[str, Any]:
    weeks: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "triggered": 0, "started": 0, "condition_false": 0, "held_out": 0, "cooldown": 0, "would_send": 0,
        "suppressed": {}, "tasks": 0, "coupons": 0})
    for week, outcome, n in scratch.rows(
            "SELECT strftime(decided_at, '%G-W%V'), outcome, count(*) FROM ops.rule_decision "
            "WHERE action = 'trigger' GROUP BY ALL"):
        w = weeks[week]
        w["triggered"] += n
        if outcome in w:
            w[outcome] += n
    for week, n in scratch.rows(
            "SELECT strftime(coalesce(sent_at, next_attempt_at), '%G-W%V'), count(*) FROM ops.outbox "
            "WHERE status IN ('sent', 'queued', 'sending') AND coalesce(sent_at, next_attempt_at) < ? GROUP BY ALL", [end]):
        weeks[week]["would_send"] += n
    for week, reason, n in scratch.rows(
            "SELECT strftime(coalesce(updated_at, created_at), '%G-W%V'), reason_code, count(*) FROM ops.outbox "
            "WHERE status = 'suppressed' GROUP BY ALL"):
        weeks[week]["suppressed"][reason] = weeks[week]["suppressed"].get(reason, 0) + n
    for week, n in scratch.rows("SELECT strftime(created_at, '%G-W%V'), count(*) FROM ops.task GROUP BY ALL"):
        weeks[week]["tasks"] += n
    for week, n in scratch.rows("SELECT strftime(issued_at, '%G-W%V'), count(*) FROM ops.coupon GROUP BY ALL"):
        weeks[week]["coupons"] += n
    later = scratch.scalar("SELECT count(*) FROM ops.outbox WHERE status IN ('queued', 'sending') "
                           "AND next_attempt_at >= ?", [end])
    waiting = scratch.scalar("SELECT count(*) FROM ops.journey WHERE status = 'waiting'")
    rows = [{"week": k, **v} for k, v in sorted(weeks.items())]
    totals: dict[str, Any] = {"triggered": 0, "started": 0, "condition_false": 0, "held_out": 0, "cooldown": 0,
                              "would_send": 0, "suppressed": {}, "tasks": 0, "coupons": 0}
    for row in rows:
        for key, value in row.items():
            if key == "week":
                continue
            if key == "suppressed":
                for reason, n in value.items():
                    totals["suppressed"][reason] = totals["suppressed"].get(reason, 0) + n
            else:
                totals[key] += value
    return {
        "rule": rule.key, "rule_version": rule.version, "purpose": rule.purpose, "since": since.isoformat(),
        "until": until.isoformat(), "weeks": rows, "totals": totals,
        "after_window": {"messages_due_later": int(later or 0), "journeys_still_waiting": int(waiting or 0)},
    }
