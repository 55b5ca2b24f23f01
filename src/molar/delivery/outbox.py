"""The outbox: messages waiting to leave, and the dispatcher that sends them.

Exactly-once per idempotency key, honestly stated: delivery to the gateway is
*at least once* — a message is marked ``sent`` only after the gateway answered 2xx, and a
crash between that answer and our commit leaves it ``sending``; after ``lease`` it is sent
again with the same ``Idempotency-Key`` header, which the gateway uses to drop the
duplicate. At least once to the gateway + an idempotency key the gateway honours =
effectively once to the patient. The outbox row itself is unique per key
(``ops.outbox.idempotency_key UNIQUE``), so deciding twice never queues twice.

The rendered text and the payload (template variables: names, dates) are stored encrypted
(:mod:`molar.privacy.fields`, bound to the message ID) and decrypted only when a message is
read: right before it is sent, or for a role allowed to see it (``molar outbox list``).

Dispatch steps per message (each its own transaction unless the caller holds one):
1. gate (consent and complaint re-checked, quiet hours) → suppressed / deferred, or
2. mark ``sending`` (attempts + 1, next_attempt_at = now + lease) and commit,
3. send (HTTP, outside any transaction we own),
4. ``sent`` on 2xx; otherwise back to ``queued`` with exponential backoff, or ``failed``
   after ``max_attempts`` (or at once when the gateway refuses with a 4xx).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from molar.delivery.address import resolve_address
from molar.delivery.channels import Channel, DeliveryRequest
from molar.delivery.query import select_where
from molar.privacy import fields
from molar.warehouse import Engine

STATUSES: tuple[str, ...] = ("queued", "sending", "sent", "failed", "suppressed")
OUTBOX = "ops.outbox"
_COLUMNS = ("message_id", "idempotency_key", "rule_key", "golden_id", "occurrence", "step", "channel",
            "purpose", "template", "language", "rendered_text", "payload", "status", "attempts",
            "next_attempt_at", "last_error", "reason_code", "created_at", "sent_at", "updated_at")
_SEALED = tuple(_COLUMNS.index(c.column) for c in fields.sealed_columns(OUTBOX))


@dataclass(frozen=True)
class DispatchPolicy:
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    batch: int = 50
    timeout: timedelta = timedelta(seconds=5)
    lease: timedelta = timedelta(minutes=2)
    budget: timedelta = timedelta(seconds=2)  # stop starting new sends after this long in one call

    def backoff_after(self, attempts: int) -> timedelta:
        """Delay after ``attempts`` failed tries: backoff × 2^(attempts-1), at most backoff_max."""
        return min(self.backoff * (2 ** max(attempts - 1, 0)), self.backoff_max)


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    idempotency_key: str
    rule_key: str | None
    golden_id: str
    occurrence: str | None
    step: str | None
    channel: str
    purpose: str
    template: str | None
    language: str | None
    rendered_text: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    reason_code: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> OutboxMessage:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["payload"] = json.loads(values["payload"] or "{}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _COLUMNS}


@dataclass(frozen=True)
class GateDecision:
    """What the gate says just before sending: send, defer (until) or suppress."""

    outcome: str
    until: datetime | None = None
    code: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DispatchResult:
    message: OutboxMessage
    outcome: str          # sent | retry | failed | suppressed | deferred
    attempts: int
    error: str | None = None
    next_attempt_at: datetime | None = None
    code: str | None = None


Gate = Callable[[Engine, OutboxMessage, datetime], GateDecision]
Recorder = Callable[[Engine, DispatchResult, datetime], None]


def message_id_for(idempotency_key: str) -> str:
    return "M" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:20]


def enqueue(engine: Engine, *, idempotency_key: str, golden_id: str, channel: str, purpose: str,
            text: str | None, now: datetime, send_at: datetime | None = None, template: str | None = None,
            language: str | None = None, payload: Mapping[str, Any] | None = None,
            rule_key: str | None = None, occurrence: str | None = None, step: str | None = None,
            status: str = "queued", reason_code: str | None = None, last_error: str | None = None) -> tuple[str, bool]:
    """Add a message (``queued``, or ``suppressed`` to keep a visible record of a refusal).

    Returns (message_id, created); a key already in the outbox is left as it is.
    """
    if status not in ("queued", "suppressed"):
        raise ValueError("enqueue: status is queued or suppressed")
    message_id = message_id_for(idempotency_key)
    before = engine.scalar("SELECT count(*) FROM ops.outbox WHERE idempotency_key = ?", [idempotency_key])
    if before:
        return message_id, False
    row = [message_id, idempotency_key, rule_key, golden_id, occurrence, step, channel, purpose, template,
           language, text, json.dumps(dict(payload or {}), ensure_ascii=False, default=str), status, 0,
           (send_at or now) if status == "queued" else None, last_error, reason_code, now, None, now]
    cipher = fields.cipher_for(engine)
    for i in _SEALED:
        row[i] = cipher.encrypt(row[i], OUTBOX, _COLUMNS[i], message_id)
    engine.execute(
        f"INSERT INTO ops.outbox ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        "ON CONFLICT DO NOTHING", row)
    return message_id, True


def _messages(engine: Engine, rows: list[tuple[Any, ...]]) -> list[OutboxMessage]:
    """Outbox rows (in ``_COLUMNS`` order) as messages, text and payload decrypted."""
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    cipher = fields.cipher_for(engine)
    for i in _SEALED:
        columns[i] = cipher.decrypt_column(columns[i], OUTBOX, _COLUMNS[i], columns[0])
    return [OutboxMessage.from_row(row) for row in zip(*columns, strict=True)]


def get_message(engine: Engine, message_id: str) -> OutboxMessage | None:
    rows = engine.rows(f"SELECT {', '.join(_COLUMNS)} FROM ops.outbox WHERE message_id = ?", [message_id])
    return _messages(engine, rows)[0] if rows else None


def list_messages(engine: Engine, *, status: str | None = None, golden_id: str | None = None,
                  rule_key: str | None = None, limit: int = 100) -> list[OutboxMessage]:
    rows = select_where(engine, "ops.outbox", _COLUMNS,
                        {"status": status, "golden_id": golden_id, "rule_key": rule_key},
                        "created_at DESC, message_id", limit)
    return _messages(engine, rows)


def _update(engine: Engine, message_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    engine.execute(f"UPDATE ops.outbox SET {sets} WHERE message_id = ?", [*values.values(), message_id])


def dispatch(engine: Engine, channels: Mapping[str, Channel], now: datetime, *,
             policy: DispatchPolicy | None = None, gate: Gate | None = None,
             record: Recorder | None = None, limit: int | None = None,
             paused: dict[str, datetime] | None = None) -> list[DispatchResult]:
    """Send the messages that are due at ``now``; returns what happened to each.

    The caller's thread does the HTTP, so one call is bounded: at most ``policy.batch``
    messages, no new send after ``policy.budget``, and a channel whose gateway just failed
    (network error, 408/425/429/5xx) is paused until ``now + policy.backoff`` — pass the same
    ``paused`` dict on every call to carry that across calls. Skipped messages stay due.
    """
    policy = policy or DispatchPolicy()
    paused = paused if paused is not None else {}
    due = engine.rows(
        f"SELECT {', '.join(_COLUMNS)} FROM ops.outbox WHERE status IN ('queued', 'sending') "
        "AND next_attempt_at <= ? ORDER BY next_attempt_at, message_id LIMIT ?",
        [now, limit or policy.batch],
    )
    results = []
    started = time.monotonic()
    for message in _messages(engine, due):
        if paused.get(message.channel, now) > now:
            continue
        if time.monotonic() - started > policy.budget.total_seconds():
            break
        result = _dispatch_one(engine, message, channels, now, policy, gate, record)
        if result is not None:
            results.append(result)
            if result.outcome == "retry" or (result.outcome == "failed" and result.code == "max_attempts"):
                paused[message.channel] = now + policy.backoff
    return results


def _finish(engine: Engine, result: DispatchResult, now: datetime, record: Recorder | None) -> DispatchResult:
    if record is not None:
        record(engine, result, now)
    return result


def _dispatch_one(engine: Engine, message: OutboxMessage, channels: Mapping[str, Channel], now: datetime,
                  policy: DispatchPolicy, gate: Gate | None, record: Recorder | None) -> DispatchResult | None:
    with engine.transaction():
        current = get_message(engine, message.message_id)
        if current is None or current.status not in ("queued", "sending") or \
                (current.next_attempt_at and current.next_attempt_at > now):
            return None  # someone else took it
        message = current
        decision = gate(engine, message, now) if gate else GateDecision("send")
        if decision.outcome == "suppress":
            _update(engine, message.message_id, status="suppressed", reason_code=decision.code,
                    last_error=decision.reason, next_attempt_at=None, updated_at=now)
            return _finish(engine, DispatchResult(message, "suppressed", message.attempts, decision.reason,
                                                  None, decision.code), now, record)
        if decision.outcome == "defer" and decision.until and decision.until > now:
            _update(engine, message.message_id, status="queued", next_attempt_at=decision.until,
                    reason_code=decision.code, updated_at=now)
            return _finish(engine, DispatchResult(message, "deferred", message.attempts, decision.reason,
                                                  decision.until, decision.code), now, record)
        channel = channels.get(message.channel)
        address = resolve_address(engine, message.channel, message.golden_id)
        if channel is None or address is None:
            error = (f"no channel adapter configured for {message.channel}" if channel is None else
                     f"no {message.channel} address for {message.golden_id} at send time")
            _update(engine, message.message_id, status="failed", last_error=error, next_attempt_at=None,
                    attempts=message.attempts + 1, updated_at=now)
            return _finish(engine, DispatchResult(message, "failed", message.attempts + 1, error,
                                                  code="no_channel" if channel is None else "no_address"),
                           now, record)
        attempts = message.attempts + 1
        _update(engine, message.message_id, status="sending", attempts=attempts,
                next_attempt_at=now + policy.lease, updated_at=now)
    request = DeliveryRequest(
        message_id=message.message_id, idempotency_key=message.idempotency_key, channel=message.channel,
        purpose=message.purpose, golden_id=message.golden_id, to=address, text=message.rendered_text or "",
        template=message.template, language=message.language, payload=message.payload, attempt=attempts,
        sent_at=now,
    )
    outcome = channel.send(request, engine)
    with engine.transaction():
        if outcome.ok:
            _update(engine, message.message_id, status="sent", sent_at=now, last_error=None,
                    next_attempt_at=None, updated_at=now)
            return _finish(engine, DispatchResult(message, "sent", attempts), now, record)
        if outcome.retryable and attempts < policy.max_attempts:
            retry_at = now + policy.backoff_after(attempts)
            _update(engine, message.message_id, status="queued", last_error=outcome.error,
                    next_attempt_at=retry_at, updated_at=now)
            return _finish(engine, DispatchResult(message, "retry", attempts, outcome.error, retry_at), now, record)
        error = outcome.error if not outcome.retryable else \
            f"gave up after {attempts} attempts; last error: {outcome.error}"
        _update(engine, message.message_id, status="failed", last_error=error, next_attempt_at=None, updated_at=now)
        return _finish(engine, DispatchResult(message, "failed", attempts, error,
                                              code="refused" if not outcome.retryable else "max_attempts"),
                       now, record)
