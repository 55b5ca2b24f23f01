"""The collector: validate inbound events, find the patient, write them to the event log.

An event is acknowledged only after its log record is on disk (group commit). A batch is
all or nothing: if any event in it has a problem, nothing is written and every problem
is reported, so the sender can fix and resend the whole batch safely.

Idempotency: the worker applies an ``event_id`` once per source system, however often it
is sent (IDs are stored as ``<source>:<event_id>``, so two systems may use the same
numbers). The collector also remembers recent IDs, so a quick resend is answered with
the first acknowledgement (``duplicate: true``) without writing it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from molar.model.events import INBOUND_EVENT_TYPES
from molar.realtime import records
from molar.realtime.auth import ApiKey
from molar.realtime.identity_index import IdentityError, IdentityIndex
from molar.realtime.schemas import Problem, local_now, validate_event
from molar.realtime.wal import EventLog


def stored_event_id(source: str, sent_id: str) -> str:
    """Event IDs are scoped by source system: HIS event 1001 and booking event 1001 are two
    events. Stored (ops.rt_event, Event.event_id) as ``<source>:<id>``."""
    return f"{source}:{sent_id}"


class Rejected(Exception):
    """The request cannot be accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, error: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.problems:
            out["errors"] = [p.model_dump() for p in self.problems]
        return out


@dataclass(frozen=True, slots=True)
class Accepted:
    event_id: str
    seq: int
    duplicate: bool = False


class Collector:
    def __init__(
        self,
        event_log: EventLog,
        index: IdentityIndex,
        *,
        max_batch: int = 1000,
        clock: Callable[[], datetime] = local_now,
        remember_ids: int = 500_000,
    ) -> None:
        self.log = event_log
        self.index = index
        self.max_batch = max_batch
        self.clock = clock
        self._recent: dict[str, int] = {}
        self._remember = remember_ids
        self.stats = {"accepted": 0, "duplicates": 0, "rejected_requests": 0}

    def check_size(self, count: int) -> None:
        if count > self.max_batch:
            raise Rejected(413, "batch_too_large", (
                f"a batch may hold at most {self.max_batch:,} events and this one has {count:,}; "
                "split it into smaller batches (nothing was accepted)"))
        if count == 0:
            raise Rejected(422, "empty_batch", "the batch has no events; send {\"events\": [ … ]}")

    async def accept(self, raw_events: list[Any], key: ApiKey) -> list[Accepted]:
        """Validate, resolve and durably log the events; all or nothing."""
        try:
            return await self._accept(raw_events, key)
        except Rejected:
            self.stats["rejected_requests"] += 1
            raise

    async def _accept(self, raw_events: list[Any], key: ApiKey) -> list[Accepted]:
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

        accepted: list[Accepted | None] = [None] * len(valid)
        payloads: list[bytes] = []
        slots: list[int] = []
        first_in_request: dict[str, int] = {}
        for i, (event, res) in enumerate(zip(valid, resolutions, strict=True)):
            sent_id = event.event_id or str(uuid.uuid4())
            stored_id = stored_event_id(key.source, sent_id)
            if stored_id in self._recent:
                accepted[i] = Accepted(sent_id, self._recent[stored_id], True)
                continue
            if stored_id in first_in_request:
                continue  # filled in from the first copy below
            first_in_request[stored_id] = i
            golden_id = res.golden_id
            keys = res.keys if res.provisional else None
            if res.keys:
                # New or known provisional person: also remember any new keys for them.
                golden_id = self.index.assign_provisional(res.keys)
            payloads.append(records.encode(
                event_id=stored_id, type=event.type, golden_id=golden_id,
                occurred_at=event.occurred_at, data=event.data, source=key.source,
                received_at=now, provisional=res.provisional, keys=keys,
            ))
            slots.append(i)
            accepted[i] = Accepted(sent_id, 0)
        if payloads:
            seqs = await self.log.append_async(payloads)
            for i, seq in zip(slots, seqs, strict=True):
                sent_id = accepted[i].event_id
                accepted[i] = Accepted(sent_id, seq)
                self._remember_id(stored_event_id(key.source, sent_id), seq)
        for i, event in enumerate(valid):
            if accepted[i] is None:
                first = accepted[first_in_request[stored_event_id(key.source, event.event_id)]]
                accepted[i] = Accepted(event.event_id, first.seq, True)
        dups = sum(1 for a in accepted if a.duplicate)
        self.stats["accepted"] += len(accepted) - dups
        self.stats["duplicates"] += dups
        return accepted  # type: ignore[return-value]

    def _remember_id(self, event_id: str, seq: int) -> None:
        recent = self._recent
        recent[event_id] = seq
        if len(recent) > self._remember:
            for old in list(recent)[: self._remember // 10]:
                del recent[old]
