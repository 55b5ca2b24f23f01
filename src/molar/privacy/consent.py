"""The consent registry: one place that says what each patient allowed, on which channel.

Every statement a patient makes (granted or refused, per purpose and channel, with who
recorded it, when, and encrypted evidence) is appended to ``privacy.consent_event`` and
never changed. The answer for a patient, purpose and channel at a moment is the newest
statement *by event time* (``occurred_at``) that covers it; a statement that arrives late
but happened earlier never overrides a newer one. A refusal wins a tie.

A statement covers a channel when it names that channel or ``any`` (one click refuses
marketing everywhere); it covers a purpose when it names it or ``all`` (written by an
erasure). Statements attach to a golden ID, to one of its source records (``his:P001``,
recorded before identity resolution) or to a provisional ID the collector resolved to it.

``sensitive_data`` is the separate consent PIPL Art. 29 requires for processing sensitive
personal information (dental records are health data); ask it with channel ``any``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molar.privacy.audit import record as _audit
from molar.privacy.crypto import FieldCipher
from molar.warehouse import Engine

PURPOSES = ("care", "marketing", "research", "partner_sharing", "sensitive_data")
CHANNELS = ("sms", "wechat", "app", "phone", "email")
ANY_CHANNEL = "any"
ALL_PURPOSES = "all"
EVIDENCE = ("privacy.consent_event", "evidence")   # table and column of the encrypted evidence


class ConsentError(ValueError):
    """A consent statement or lookup is malformed; the message says what is allowed."""


@dataclass(frozen=True)
class Statement:
    event_id: str
    subject: str
    purpose: str
    channel: str
    granted: bool
    occurred_at: datetime
    recorded_at: datetime
    source: str | None


def subjects(engine: Engine, golden_id: str) -> list[str]:
    """Every subject a statement about this patient can be recorded under."""
    rows = engine.rows(
        "SELECT source || ':' || source_patient_key FROM identity.cluster WHERE golden_id = ? "
        "UNION SELECT provisional_id FROM ops.provisional_identity WHERE resolved_golden_id = ?",
        [golden_id, golden_id])
    return [golden_id, *sorted(r[0] for r in rows)]


def _check(purpose: str, channel: str) -> None:
    if purpose not in (*PURPOSES, ALL_PURPOSES):
        raise ConsentError(f"purpose {purpose!r}: one of {', '.join(PURPOSES)} / 用途只能是 {', '.join(PURPOSES)}")
    if channel not in (*CHANNELS, ANY_CHANNEL):
        raise ConsentError(f"channel {channel!r}: one of {', '.join(CHANNELS)} or any / 渠道只能是 "
                           f"{', '.join(CHANNELS)} 或 any")


def record(engine: Engine, *, subject: str, purpose: str, channel: str, granted: bool, occurred_at: datetime,
           source: str | None, evidence: str | None = None, cipher: FieldCipher | None = None,
           event_id: str | None = None, recorded_at: datetime | None = None,
           actor: str = "system", role: str = "system") -> str:
    """Append one statement; returns its event ID. The same event ID twice is stored once."""
    _check(purpose, channel)
    if evidence is not None and cipher is None:
        raise ConsentError("evidence is stored encrypted: pass the field cipher (needs MOLAR_MASTER_KEY)")
    event_id = event_id or f"consent-{secrets.token_hex(8)}"
    token = cipher.encrypt(evidence, *EVIDENCE, event_id) if evidence is not None and cipher else None
    engine.execute(
        "INSERT INTO privacy.consent_event VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [event_id, subject, purpose, channel, bool(granted), occurred_at, recorded_at or datetime.now(),
         source, token])
    _audit(engine, actor=actor, role=role, action="consent.change", resource="privacy.consent_event",
           purpose="consent", patient=subject, fields=("consent",),
           detail={"purpose": purpose, "channel": channel, "granted": bool(granted), "event_id": event_id})
    return event_id


def current(engine: Engine, golden_id: str, purpose: str, channel: str,
            at: datetime | None = None) -> Statement | None:
    """The statement in force for this patient, purpose and channel at ``at`` (default:
    the newest), or None when the patient never said anything that covers it."""
    _check(purpose, channel)
    subs = subjects(engine, golden_id)
    rows = engine.rows(
        f"""SELECT event_id, subject, purpose, channel, granted, occurred_at, recorded_at, source
            FROM privacy.consent_event
            WHERE subject IN ({', '.join('?' * len(subs))}) AND purpose IN (?, 'all') AND channel IN (?, 'any')
              AND (CAST(? AS TIMESTAMP) IS NULL OR occurred_at <= ?)
            ORDER BY occurred_at DESC, granted ASC, event_id DESC LIMIT 1""",
        [*subs, purpose, channel, at, at])
    return Statement(*rows[0]) if rows else None


def allows(engine: Engine, golden_id: str, purpose: str, channel: str, at: datetime | None = None,
           default: bool = False) -> bool:
    """May Molar contact / process for ``purpose`` on ``channel`` at ``at``? ``default`` when
    the patient never said (the contact policy's default, e.g. care to reachable patients)."""
    statement = current(engine, golden_id, purpose, channel, at)
    return default if statement is None else statement.granted


def consent_for(engine: Engine, policy: Any, golden_id: str, channel: str, purpose: str,
                reachable: bool, at: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """Drop-in for the automation guard: (granted, where the answer came from).

    ``policy.consent_default[purpose]`` is ``granted``, ``denied`` or ``reachable``, as in
    the contact policy.
    """
    statement = current(engine, golden_id, purpose, channel, at)
    if statement is not None:
        return statement.granted, {"from": "record", "updated_at": statement.occurred_at,
                                   "source": statement.source}
    default = policy.consent_default.get(purpose, "denied")
    granted = default == "granted" or (default == "reachable" and reachable)
    return granted, {"from": "default", "default": default}


def record_consent(engine: Engine, *, golden_id: str, channel: str, purpose: str, granted: bool,
                   changed_at: datetime, source: str | None, event_id: str) -> bool:
    """Drop-in for the automation runtime's ``consent.changed`` handling: records the event
    and returns whether it is now the statement in force for that channel and purpose."""
    record(engine, subject=golden_id, purpose=purpose, channel=channel, granted=granted,
           occurred_at=changed_at, source=source, event_id=event_id)
    statement = current(engine, golden_id, purpose, channel)
    return statement is not None and statement.event_id == event_id


def refuse_marketing(engine: Engine, subject: str, *, source: str | None, at: datetime | None = None,
                     evidence: str | None = None, cipher: FieldCipher | None = None,
                     actor: str = "system", role: str = "system") -> str:
    """One click: no personalised marketing on any channel from ``at`` (default now) on."""
    return record(engine, subject=subject, purpose="marketing", channel=ANY_CHANNEL, granted=False,
                  occurred_at=at or datetime.now(), source=source, evidence=evidence, cipher=cipher,
                  actor=actor, role=role)


def overview(engine: Engine, golden_id: str, at: datetime | None = None) -> list[dict[str, Any]]:
    """The answer for every purpose × channel (``any`` for research, partner sharing and
    sensitive data), with the statement behind it."""
    out = []
    for purpose in PURPOSES:
        channels = CHANNELS if purpose in ("care", "marketing") else (ANY_CHANNEL,)
        for channel in channels:
            s = current(engine, golden_id, purpose, channel, at)
            out.append({"purpose": purpose, "channel": channel,
                        "granted": None if s is None else s.granted,
                        "since": None if s is None else s.occurred_at,
                        "source": None if s is None else s.source,
                        "event_id": None if s is None else s.event_id})
    return out


def history(engine: Engine, golden_id: str, cipher: FieldCipher | None = None) -> list[dict[str, Any]]:
    """Every statement about the patient, oldest first; evidence decrypted when a cipher is given."""
    subs = subjects(engine, golden_id)
    rows = engine.arrow(
        f"SELECT * FROM privacy.consent_event WHERE subject IN ({', '.join('?' * len(subs))}) "
        "ORDER BY occurred_at, event_id", subs).to_pylist()
    for row in rows:
        token = row.pop("evidence")
        row["has_evidence"] = token is not None
        if cipher is not None and token is not None:
            row["evidence"] = cipher.decrypt(token, *EVIDENCE, row["event_id"])
    return rows
