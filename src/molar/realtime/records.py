"""How an event is written in the event log: the JSON of :class:`~molar.model.events.Event`
(without ``seq``, which is the record's position) plus, for a provisional patient, the
keys they were identified by (``keys``), so that the worker can store them in
``ops.provisional_identity``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from molar.model.events import Event


def encode(
    *,
    event_id: str,
    type: str,
    golden_id: str,
    occurred_at: datetime,
    data: dict[str, Any],
    source: str,
    received_at: datetime,
    provisional: bool,
    keys: dict[str, str] | None = None,
) -> bytes:
    record: dict[str, Any] = {
        "event_id": event_id,
        "type": type,
        "golden_id": golden_id,
        "occurred_at": occurred_at.isoformat(),
        "data": data,
        "source": source,
        "received_at": received_at.isoformat(),
        "provisional": provisional,
    }
    if keys:
        record["keys"] = keys
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_event(event: Event, keys: dict[str, str] | None = None) -> bytes:
    return encode(
        event_id=event.event_id, type=event.type, golden_id=event.golden_id,
        occurred_at=event.occurred_at, data=dict(event.data), source=event.source,
        received_at=event.received_at or event.occurred_at, provisional=event.provisional,
        keys=keys,
    )


def decode(seq: int, payload: bytes) -> tuple[Event, dict[str, str] | None]:
    raw = json.loads(payload)
    keys = raw.pop("keys", None)
    raw.pop("seq", None)
    received = raw.get("received_at")
    event = Event(
        event_id=raw["event_id"],
        type=raw["type"],
        golden_id=raw["golden_id"],
        occurred_at=datetime.fromisoformat(raw["occurred_at"]),
        data=raw.get("data") or {},
        source=raw.get("source", "internal"),
        received_at=datetime.fromisoformat(received) if received else None,
        provisional=bool(raw.get("provisional", False)),
        seq=seq,
    )
    return event, keys
