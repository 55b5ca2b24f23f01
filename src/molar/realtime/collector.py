"""The collector: validate inbound events, find the patient, write them to the event log.

An event is acknowledged only after its log record is on disk (group commit). A batch is
all or nothing: if any event in it has a problem, nothing is written and every problem
is reported, so the sender can fix and resend the whole batch safely.

Idempotency: the worker applies an ``event_id`` once per source system, however often it
is sent (IDs are stored as ``<source>:<event_id>``, so two systems may use the same
numbers). The collector answers a resend with the first acknowledgement
(``duplicate: true``) without writing it again, also after a restart: it remembers recent
IDs with a fingerprint of their content, seeded at start from the log records not yet
applied, and asks the warehouse (``ops.rt_event``) about the rest. A resend whose content
differs is refused (409) with the stored version.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molar.model.events import INBOUND_EVENT_TYPES
from molar.privacy import event_data
from molar.privacy.accounts import Principal
from molar.privacy.crypto import FieldCipher
from molar.realtime import records
from molar.realtime.identity_index import IdentityError, IdentityIndex
from molar.realtime.schemas import Problem, data_fields, local_now, validate_event
from molar.realtime.wal import EventLog


def stored_event_id(source: str, sent_id: str) -> str:
    """Event IDs are scoped by source system: HIS event 1001 and booking event 1001 are two
    events. Stored (ops.rt_event, Event.event_id) as ``<source>:<id>``."""
    return f"{source}:{sent_id}"


class Rejected(Exception):
    """The request cannot be accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, error: str, message: str, problems: list[Problem] | None = None,
                 *, retry_after: float | None = None, stored: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.problems = problems or []
        self.retry_after = retry_after
        self.stored = stored

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.problems:
            out["errors"] = [p.model_dump() for p in self.problems]
        if self.stored is not None:
            out["stored"] = self.stored
        return out


def fingerprint(type: str, occurred_at: datetime, data: Any) -> str:
    """What makes a resend the same event: its type, time and data."""
    text = json.dumps([type, occurred_at.isoformat(), data], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A stored event by stored ID: (seq, fingerprint, {event_id, type, occurred_at, data}).
StoredEvent = tuple[int, str, dict[str, Any]]
StoredLookup = Callable[[list[str]], dict[str, StoredEvent]]


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    seq: int
    duplicate: bool = False
    patient_id: str | None = None


class Collector:
    def __init__(
        self,
        event_log: EventLog,
        index: IdentityIndex,
        cipher: FieldCipher,
        *,
        max_batch: int = 1000,
        clock: Callable[[], datetime] = local_now,
        remember_ids: int = 500_000,
        stored_lookup: StoredLookup | None = None,
    ) -> None:
        self.log = event_log
        self.index = index
        self.cipher = cipher
        self.max_batch = max_batch
        self.clock = clock
        self._recent: dict[str, StoredEvent] = {}
        self._stored_lookup = stored_lookup
        self._remember = remember_ids
        self.stats = {"accepted": 0, "duplicates": 0, "rejected_requests": 0}

    def check_size(self, count: int) -> None:
        if count > self.max_batch:
            raise Rejected(413, "batch_too_large", (
                f"a batch may hold at most {self.max_batch:,} events and this one has {count:,}; "
                "split it into smaller batches (nothing was accepted)"))
        if count == 0:
            raise Rejected(422, "empty_batch", "the batch has no events; send {\"events\": [ … ]}")

    async def accept(self, raw_events: list[Any], key: Principal) -> list[Accepted]:
        """Validate, resolve and durably log the events; all or nothing."""
        try:
            return await self._accept(raw_events, key)
        except Rejected:
            self.stats["rejected_requests"] += 1
            raise

    async def _accept(self, raw_events: list[Any], key: Principal) -> list[Accepted]:
        self.check_size(len(raw_events))
        forbidden = [
            (i, raw.get("type")) for i, raw in enumerate(raw_events)
            if isinstance(raw, dict) and raw.get("type") in INBOUND_EVENT_TYPES
            and raw["type"] not in key.types
        ]
        if forbidden:
            shown = ", ".join(f"#{i} {t}" for i, t in forbidden[:10])
            raise Rejected(403, "event_type_not_allowed", (
                f"the API key {key.name!r} (source {key.source}) may not send these events: {shown}. "
                f"It may send: {', '.join(sorted(key.types))}. Ask the Molar administrator to "
                "add the type to this key, or use the key of the system that owns these events"))

        now = self.clock()
        problems: list[Problem] = []
        valid = []
        for i, raw in enumerate(raw_events):
            event, found = validate_event(raw, i, now=now)
            problems.extend(found)
            valid.append(event)
        resolutions = []
        for i, event in enumerate(valid):
            if event is None:
                resolutions.append(None)
                continue
            p = event.patient
            try:
                resolutions.append(self.index.resolve(
                    golden_id=p.golden_id, unionid=p.unionid, mobile=p.mobile,
                    source=p.source or key.source, source_patient_key=p.source_patient_key,
                ))
            except IdentityError as exc:
                problems.append(Problem(index=i, field=exc.field, message=exc.message))
        if problems:
            problems.sort(key=lambda p: p.index)
            n = len({p.index for p in problems})
            raise Rejected(422, "invalid_events", (
                f"{len(problems)} problem(s) in {n} event(s); nothing was accepted. "
                "Fix them and send the request again"), problems)

        stored_ids = [stored_event_id(key.source, e.event_id or str(uuid.uuid4())) for e in valid]
        prints = [fingerprint(e.type, e.occurred_at, e.data) for e in valid]
        known = await self._known(stored_ids)
        conflicts = [i for i, sid in enumerate(stored_ids) if sid in known and known[sid][1] != prints[i]]
        firsts: dict[str, int] = {}
        for i, sid in enumerate(stored_ids):
            if sid in firsts and prints[firsts[sid]] != prints[i]:
                conflicts.append(i)
            firsts.setdefault(sid, i)
        if conflicts:
            shown = ", ".join(f"#{i} {valid[i].event_id}" for i in conflicts[:10])
            raise Rejected(409, "event_id_conflict", (
                f"these event IDs were already used for different content: {shown}; nothing was "
                "accepted. An event ID names one event: send a correction with a new event_id"),
                stored=[known[stored_ids[i]][2] for i in conflicts if stored_ids[i] in known])

        accepted: list[Accepted | None] = [None] * len(valid)
        payloads: list[bytes] = []
        slots: list[int] = []
        for i, (event, res, stored_id) in enumerate(zip(valid, resolutions, stored_ids, strict=True)):
            sent_id = stored_id.split(":", 1)[1]
            if stored_id in known:
                seq, _, version = known[stored_id]
                accepted[i] = Accepted(sent_id, seq, True, version["patient_id"])
                continue
            if firsts[stored_id] != i:
                continue  # filled in from the first copy below
            golden_id = res.golden_id
            keys = None
            if res.keys:
                # New or known provisional person: also remember any new keys for them.
                golden_id = self.index.assign_provisional(res.keys)
                keys = self.index.stored_keys(golden_id, res.keys, self.cipher)
            # personal values are sealed before the log: nothing in plaintext on disk
            plain, sealed = event_data.seal(self.cipher, stored_id, event.data, data_fields(event.type))
            payloads.append(records.encode(
                event_id=stored_id, type=event.type, golden_id=golden_id,
                occurred_at=event.occurred_at, data=plain, source=key.source,
                received_at=now, provisional=res.provisional, sealed=sealed, keys=keys,
            ))
            slots.append(i)
            accepted[i] = Accepted(sent_id, 0, False, golden_id)
        if payloads:
            seqs = await self.log.append_async(payloads)
            for i, seq in zip(slots, seqs, strict=True):
                a, event = accepted[i], valid[i]
                accepted[i] = Accepted(a.event_id, seq, False, a.patient_id)
                self.remember(stored_ids[i], seq, prints[i], _version(
                    a.event_id, event.type, event.occurred_at, event.data, a.patient_id))
        for i, sid in enumerate(stored_ids):
            if accepted[i] is None:
                first = accepted[firsts[sid]]
                accepted[i] = Accepted(first.event_id, first.seq, True, first.patient_id)
        dups = sum(1 for a in accepted if a.duplicate)
        self.stats["accepted"] += len(accepted) - dups
        self.stats["duplicates"] += dups
        return accepted  # type: ignore[return-value]

    async def _known(self, stored_ids: list[str]) -> dict[str, StoredEvent]:
        known = {sid: self._recent[sid] for sid in stored_ids if sid in self._recent}
        missing = [sid for sid in dict.fromkeys(stored_ids) if sid not in known]
        if missing and self._stored_lookup is not None:
            found = await asyncio.to_thread(self._stored_lookup, missing)
            for sid, stored in found.items():
                self.remember(sid, *stored)
            known.update(found)
        return known

    def remember(self, stored_id: str, seq: int, print_: str, version: dict[str, Any]) -> None:
        recent = self._recent
        recent[stored_id] = (seq, print_, version)
        if len(recent) > self._remember:
            for old in list(recent)[: self._remember // 10]:
                del recent[old]


def _version(event_id: str, type: str, occurred_at: datetime, data: Any, patient_id: str | None) -> dict[str, Any]:
    return {"event_id": event_id, "type": type, "occurred_at": occurred_at.isoformat(), "data": data,
            "patient_id": patient_id}


def remember_stored(collector: Collector, rows: Iterable[tuple[int, str, str, datetime, Any, str]]) -> None:
    """Seed the collector with stored events: (seq, stored_id, type, occurred_at, data, golden_id)."""
    for stored_id, stored in stored_versions(rows).items():
        collector.remember(stored_id, *stored)


def stored_versions(rows: Iterable[tuple[int, str, str, datetime, Any, str]]) -> dict[str, StoredEvent]:
    """Stored events as the collector compares them, by stored ID."""
    return {
        stored_id: (seq, fingerprint(type_, occurred_at, data),
                    _version(stored_id.split(":", 1)[1], type_, occurred_at, data, golden_id))
        for seq, stored_id, type_, occurred_at, data, golden_id in rows
    }
