"""Fast track: which returning patients to offer an opened slot first, and why.

The queue for a slot (clinic, department, start) holds the patients whose recall in that
department (:mod:`molar.operations.recall`) is due by the slot's day + ``due_within`` at that
clinic, not already booked and not opted out. Each gets a priority from five parts, each
0–1 and weighted (``FastTrackConfig``), explained in words:

- **visits**: visits in the last 24 months, 6 or more = 1;
- **health**: the profile's health risk (RFM-Health, ``profile.value_score.health_risk``);
- **tier**: strategic 1, growth 0.75, maintain 0.5, potential 0.25 (``profile.tier``);
- **churn**: the churn model's risk (``profile.churn_risk``);
- **overdue**: days overdue on the slot's day over the recall interval, at most 1.

priority = 100 × Σ weight × part. :func:`send_offers` hands the top patients to the
automation engine as ``slot.offered`` events (rule ``fasttrack_slot_offer``), so consent,
caps and quiet hours apply as to every message; nothing here writes the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from molar.model.codes import DEPARTMENT_NAMES, DEPARTMENTS
from molar.model.events import Event
from molar.operations.recall import RecallCatalogue, RecallError, recalls
from molar.operations.series import data_end
from molar.warehouse import Engine

OFFER_RULE = "fasttrack_slot_offer"
TIER_PARTS = {"strategic": 1.0, "growth": 0.75, "maintain": 0.5, "potential": 0.25}
TIER_WORDS = {"strategic": "战略客户", "growth": "成长客户", "maintain": "维持客户", "potential": "潜力客户"}


@dataclass(frozen=True)
class FastTrackConfig:
    weights: dict[str, float] = field(default_factory=lambda: {
        "visits": 0.20, "health": 0.25, "tier": 0.15, "churn": 0.15, "overdue": 0.25})
    full_visits: int = 6          # visits in 24 months that count as a full history
    due_within: int = 30          # days after the slot's day a recall may fall due and still count


@dataclass(frozen=True)
class Slot:
    clinic_id: str
    department: str
    start: datetime

    def check(self) -> None:
        if self.department not in DEPARTMENTS:
            raise RecallError(f"department {self.department!r}: one of {', '.join(DEPARTMENTS)} / 科室不存在")


def _profile(engine: Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {g: {} for g in ids}
    queries = {
        "health": "SELECT golden_id, health_risk FROM profile.value_score WHERE golden_id IN (SELECT unnest(?))",
        "tier": "SELECT golden_id, tier FROM profile.tier WHERE golden_id IN (SELECT unnest(?))",
        "churn": "SELECT golden_id, risk FROM profile.churn_risk WHERE golden_id IN (SELECT unnest(?))",
    }
    for part, sql in queries.items():
        for g, value in engine.rows(sql, [ids]):
            out[g][part] = value
    return out


def _visits(engine: Engine, ids: list[str], day: date) -> dict[str, int]:
    rows = engine.rows(
        """SELECT k.golden_id, count(DISTINCT (v.source, v.visit_id)) FROM std.visit v
           JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
           WHERE k.golden_id IN (SELECT unnest(?)) AND v.visit_date > ? AND v.visit_date <= ?
           GROUP BY ALL""", [ids, day - timedelta(days=730), day])
    return dict(rows)


def _parts(cfg: FastTrackConfig, recall: dict[str, Any], visits: int, profile: dict[str, Any],
           slot_day: date) -> list[dict[str, Any]]:
    interval = (recall["due_on"] - recall["last_treatment_on"]).days
    late = max((slot_day - recall["due_on"]).days, 0)
    health, tier, churn = profile.get("health"), profile.get("tier"), profile.get("churn")
    name = recall["recall_name"]
    parts = [
        ("visits", min(visits / cfg.full_visits, 1.0),
         f"{visits} visits in the last 24 months ({cfg.full_visits} or more is a full history)",
         f"近24个月就诊{visits}次（{cfg.full_visits}次及以上为满分）"),
        ("health", float(health or 0.0),
         f"health risk {health:.2f} (RFM-Health)" if health is not None else "no health risk score yet",
         f"口腔健康风险 {health:.2f}" if health is not None else "暂无健康风险评分"),
        ("tier", TIER_PARTS.get(tier, 0.0), f"tier {tier}" if tier else "no tier yet",
         f"客户分层：{TIER_WORDS.get(tier, tier)}" if tier else "暂无客户分层"),
        ("churn", float(churn or 0.0),
         f"churn risk {churn:.2f}" if churn is not None else "no churn risk score yet",
         f"流失风险 {churn:.2f}" if churn is not None else "暂无流失风险评分"),
        ("overdue", min(late / interval, 1.0) if interval > 0 else 0.0,
         f"{name['en']} due {recall['due_on']}, {late} days overdue on the slot's day (interval {interval} days)"
         if late else f"{name['en']} due {recall['due_on']}, not yet overdue on the slot's day",
         f"{name['zh']}应于 {recall['due_on']} 复诊，至号源当天已逾期{late}天（间隔{interval}天）"
         if late else f"{name['zh']}应于 {recall['due_on']} 复诊，号源当天尚未逾期"),
    ]
    return [{"part": key, "value": round(value, 4), "weight": cfg.weights[key],
             "points": round(100 * cfg.weights[key] * value, 2), "en": en, "zh": zh}
            for key, value, en, zh in parts]


def queue(engine: Engine, slot: Slot, *, as_of: date | None = None, config: FastTrackConfig | None = None,
          catalogue: RecallCatalogue | None = None) -> list[dict[str, Any]]:
    """Everyone eligible for the slot, highest priority first (ties: golden ID)."""
    slot.check()
    cfg = config or FastTrackConfig()
    slot_day = slot.start.date()
    as_of = as_of or data_end(engine)
    rows = [r for r in recalls(engine, as_of=as_of, catalogue=catalogue, clinics=[slot.clinic_id],
                               due_by=slot_day + timedelta(days=cfg.due_within))
            if r["department"] == slot.department and r["status"] in ("due", "overdue")]
    if not rows:
        return []
    ids = sorted({r["golden_id"] for r in rows})
    profile, visits = _profile(engine, ids), _visits(engine, ids, as_of)
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        parts = _parts(cfg, r, visits.get(r["golden_id"], 0), profile[r["golden_id"]], slot_day)
        entry = {"golden_id": r["golden_id"], "priority": round(sum(p["points"] for p in parts), 1),
                 "recall_type": r["recall_type"], "due_on": r["due_on"], "parts": parts}
        if r["golden_id"] not in best or entry["priority"] > best[r["golden_id"]]["priority"]:
            best[r["golden_id"]] = entry
    ranked = sorted(best.values(), key=lambda e: (-e["priority"], e["golden_id"]))
    for rank, entry in enumerate(ranked, 1):
        entry["rank"] = rank
    return ranked


def offer_event_id(slot: Slot, golden_id: str) -> str:
    return f"slot-offer:{slot.clinic_id}:{slot.department}:{slot.start:%Y%m%dT%H%M}:{golden_id}"


def send_offers(engine: Engine, automation: Any, slot: Slot, offers: list[dict[str, Any]],
                now: datetime) -> list[dict[str, Any]]:
    """Hand the offers to the automation engine (one ``slot.offered`` event each, the same
    ID for the same slot and patient, so a second run sends nothing new) and return what
    its contact policy decided for each: queued, deferred (quiet hours) or suppressed, why."""
    clinic_name = engine.scalar("SELECT name FROM std.clinic WHERE clinic_id = ?", [slot.clinic_id])
    zh, en = DEPARTMENT_NAMES.get(slot.department, (slot.department, slot.department))
    events = [Event(offer_event_id(slot, o["golden_id"]), "slot.offered", o["golden_id"], now,
                    {"clinic_id": slot.clinic_id, "department": slot.department, "slot_start": slot.start,
                     "clinic_name": clinic_name, "department_zh": zh, "department_en": en,
                     "slot_text": f"{slot.start:%Y-%m-%d %H:%M}", "rank": o["rank"], "priority": o["priority"]})
              for o in offers]
    enabled = automation.enabled_rules(engine).get(OFFER_RULE, False)
    automation.on_events(engine, events, now)
    results = []
    for offer, event in zip(offers, events, strict=True):
        rows = engine.rows(
            """SELECT outcome, reason_code, reason_en, reason_zh, message_id, decided_at FROM ops.rule_decision
               WHERE rule_key = ? AND golden_id = ? AND occurrence = ? AND action IN ('trigger', 'send')
               ORDER BY (action = 'send') DESC, seq DESC LIMIT 1""", [OFFER_RULE, offer["golden_id"], event.event_id])
        if rows:
            outcome, code, reason_en, reason_zh, message_id, decided_at = rows[0]
        elif not enabled:
            outcome, code, message_id, decided_at = "not_sent", "rule_disabled", None, None
            reason_en = f"the rule {OFFER_RULE} is disabled: enable it with `molar rules enable {OFFER_RULE}`"
            reason_zh = f"规则 {OFFER_RULE} 已停用，请先启用"
        else:
            outcome, code, reason_en, reason_zh, message_id, decided_at = "not_sent", "unknown", "", "", None, None
        send_at = None
        if message_id:
            send_at = engine.scalar("SELECT next_attempt_at FROM ops.outbox WHERE message_id = ?", [message_id])
        results.append({"golden_id": offer["golden_id"], "rank": offer["rank"], "event_id": event.event_id,
                        "outcome": outcome, "reason_code": code, "reason_en": reason_en, "reason_zh": reason_zh,
                        "message_id": message_id, "send_at": send_at,
                        "earlier_run": decided_at is not None and decided_at < now})
    return results
