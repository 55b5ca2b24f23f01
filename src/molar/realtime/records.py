"""How an event is written in the event log: the JSON of :class:`~molar.model.events.Event`
(without ``seq``, which is the record's position) with its personal data fields in the
token ``sealed`` (:mod:`molar.privacy.event_data`), plus, for a provisional patient, the
keys they were identified by (``keys``, blind indexes and tokens), so that the worker can
store them in ``ops.provisional_identity``. No plaintext personal value is written to the log.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from molar.model.events import Event
from molar.privacy import event_data
from molar.privacy.crypto import FieldCipher


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
    sealed: str | None = None,
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
    if sealed:
        record["sealed"] = sealed
    if keys:
        record["keys"] = keys
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_event(event: Event, cipher: FieldCipher, keys: dict[str, str] | None = None) -> bytes:
    """The log record of ``event`` (its personal data fields sealed)."""
    plain, sealed = event_data.seal(cipher, event.event_id, event.data)
    return encode(
        event_id=event.event_id, type=event.type, golden_id=event.golden_id,
        occurred_at=event.occurred_at, data=plain, source=event.source,
        received_at=event.received_at or event.occurred_at, provisional=event.provisional,
        sealed=sealed, keys=keys,
    )


def decode(seq: int, payload: bytes, cipher: FieldCipher | None = None) -> tuple[Event, dict[str, str] | None]:
    """The event of a log record; with a ``cipher`` its personal data fields are opened
    (in memory only), else ``data`` holds the impersonal fields alone."""
    raw = json.loads(payload)
    keys = raw.pop("keys", None)
    raw.pop("seq", None)
    received = raw.get("received_at")
    event = Event(
        event_id=raw["event_id"],
        type=raw["type"],
        golden_id=raw["golden_id"],
        occurred_at=datetime.fromisoformat(raw["occurred_at"]),
        data=event_data.opened(cipher, raw["event_id"], raw.get("data") or {}, raw.get("sealed"),
                               personal_only=True) if cipher else raw.get("data") or {},
        source=raw.get("source", "internal"),
        received_at=datetime.fromisoformat(received) if received else None,
        provisional=bool(raw.get("provisional", False)),
        seq=seq,
    )
    return event, keys
