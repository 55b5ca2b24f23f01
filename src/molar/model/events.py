"""Live events: the one shape every real-time component passes around.

The collector turns each accepted HTTP event into an :class:`Event` (identity resolved to
a golden ID, validated payload in ``data``); the state updater adds derived events
(``lifecycle.changed``, ``tag.changed`` …); the automation engine reacts to both.
Times are naive clinic-local timestamps (Asia/Shanghai), like the rest of the warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

# Events sources send to the collector, with the payload fields each must carry.
INBOUND_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "appointment.booked": ("appointment_id", "clinic_id", "department", "slot_start", "channel"),
    "appointment.cancelled": ("appointment_id",),
    "appointment.no_show": ("appointment_id",),
    # items: [{"item_code": "CLN", "tooth": "36", "quantity": 1}, …]
    "visit.completed": ("visit_id", "clinic_id", "department", "items"),
    "charge.paid": ("charge_id", "amount_yuan"),
    # action is one of codes.EVENT_TYPES (article_read, share, referral, coupon_used, …)
    "app.action": ("platform", "action"),
    "consult.message": ("consult_id", "channel", "text"),
    "review.posted": ("review_id", "rating"),
    "telemetry.daily": ("device_id", "measured_on", "plaque_index"),
    # channel: sms | wechat | app ; purpose: care | marketing
    "consent.changed": ("channel", "purpose", "granted"),
    # a patient's answer to a follow-up (e.g. after implant surgery): status good | concern
    "followup.reply": ("status",),
}

# Events the platform derives itself (never accepted from outside).
DERIVED_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "lifecycle.changed": ("from_stage", "to_stage"),
    "tier.changed": ("from_tier", "to_tier"),
    "tag.changed": ("tag_key", "old", "new"),
    "segment.entered": ("segment",),
    "segment.exited": ("segment",),
    # churn risk rescored into the high band from a lower one (molar.predict.churn.store)
    "churn_risk.high": ("from_band", "risk"),
    # an opened slot offered to a fast-track patient (molar.operations.fasttrack, `molar fasttrack offer --send`)
    "slot.offered": ("clinic_id", "department", "slot_start"),
    # a treatment plan still proposed N days after it was proposed (molar.marketing.plans, nightly)
    "plan.unaccepted": ("plan_id", "proposed_on"),
}

EVENT_TYPES: dict[str, tuple[str, ...]] = {**INBOUND_EVENT_TYPES, **DERIVED_EVENT_TYPES}

# Event data fields that can carry personal data (free text names people and phones), and
# the personal field of the access policy whose level they follow when shown.
PERSONAL_DATA_FIELDS: dict[str, str] = {"text": "free_text", "reason": "free_text", "diagnosis": "free_text",
                                        "referrer_unionid": "wechat"}


def impersonal(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Event data without its personal fields: what derived layers (journeys, decisions,
    replies) may keep and quote."""
    return {k: v for k, v in (data or {}).items() if k not in PERSONAL_DATA_FIELDS}


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str                 # idempotency key: the same ID is processed once
    type: str                     # a key of EVENT_TYPES
    golden_id: str                # golden ID, or a provisional ID (provisional=True)
    occurred_at: datetime         # clinic local time
    data: Mapping[str, Any] = field(default_factory=dict)
    source: str = "internal"      # api key's source system, or "internal" for derived
    received_at: datetime | None = None
    provisional: bool = False
    seq: int | None = None        # position in the event log, once stored

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}; known: {', '.join(EVENT_TYPES)}")

    def with_(self, **changes: Any) -> Event:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=_json_default, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        raw = json.loads(text)
        for key in ("occurred_at", "received_at"):
            if raw.get(key):
                raw[key] = datetime.fromisoformat(raw[key])
        return cls(**raw)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} in an event")
