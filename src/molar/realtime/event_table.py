"""The worker's writes to the warehouse: log records into ops.rt_event (first copy of an
event_id wins), derived events, provisional identities, and the applied-up-to checkpoint.

Personal values arrive sealed (the collector seals them before the event log): a record's
personal data fields are its ``sealed`` token (:mod:`molar.privacy.event_data`), a
provisional person's keys are blind indexes and tokens (``identity_index.provisional_keys``).
Derived events are sealed here the same way."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime

import pyarrow as pa

from molar.model.events import Event
from molar.privacy import event_data
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.realtime.identity_index import provisional_keys
from molar.warehouse import DuckDBEngine, Engine

log = logging.getLogger("molar.realtime.pipeline")

Stage = Callable[[Engine, list[Event]], "list[Event] | None"]
TickHook = Callable[[Engine, datetime], "Iterable[Event] | None"]
Clock = Callable[[], datetime]
CHECKPOINT = "pipeline"
_INSERT_RECORDS = """
INSERT OR IGNORE INTO ops.rt_event BY NAME
SELECT seq,
       j->>'$.event_id' AS event_id,
       j->>'$.type' AS type,
       j->>'$.golden_id' AS golden_id,
       coalesce((j->>'$.provisional')::BOOLEAN, false) AS provisional,
       coalesce(j->>'$.source', 'internal') AS source,
       (j->>'$.occurred_at')::TIMESTAMP AS occurred_at,
       (j->>'$.received_at')::TIMESTAMP AS received_at,
       ?::TIMESTAMP AS applied_at,
       false AS derived,
       coalesce(j->'$.data', '{{}}') AS data,
       j->>'$.sealed' AS sealed
FROM (SELECT seq, payload::JSON AS j FROM {view})
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY seq) = 1
RETURNING seq
"""

_RT_EVENT_SCHEMA = pa.schema([
    ("seq", pa.int64()),
    ("event_id", pa.string()),
    ("type", pa.string()),
    ("golden_id", pa.string()),
    ("provisional", pa.bool_()),
    ("source", pa.string()),
    ("occurred_at", pa.timestamp("us")),
    ("received_at", pa.timestamp("us")),
    ("applied_at", pa.timestamp("us")),
    ("derived", pa.bool_()),
    ("data", pa.string()),
    ("sealed", pa.string()),
])



def read_checkpoint(engine: Engine) -> int:
    seq = engine.scalar("SELECT seq FROM ops.rt_checkpoint WHERE name = ?", [CHECKPOINT])
    return int(seq or 0)


def store_records(engine: DuckDBEngine, batch: list[tuple[int, bytes]], now: datetime) -> set[int]:
    """Insert log records into ops.rt_event (JSON parsed by DuckDB, outside the GIL);
    returns the seqs that were new. A repeated event_id keeps its first copy."""
    table = pa.Table.from_arrays(
        [pa.array([s for s, _ in batch], pa.int64()),
         pa.array([p.decode("utf-8") for _, p in batch], pa.string())],
        names=["seq", "payload"],
    )
    view = "_molar_rt_records"
    engine.register(view, table)
    try:
        return {r[0] for r in engine.rows(_INSERT_RECORDS.format(view=view), [now])}
    finally:
        engine.unregister(view)


def store_events(engine: DuckDBEngine, events: list[Event], *, derived: bool, seq: int | None,
           now: datetime, cipher: FieldCipher) -> list[Event]:
    """Insert events not yet in ops.rt_event (personal data fields sealed); returns those
    that were new, in order."""
    if not events:
        return []
    unique: dict[str, Event] = {}
    for e in events:
        if not isinstance(e, Event):
            raise TypeError(f"a stage returned {type(e).__name__}, not an Event")
        unique.setdefault(e.event_id, e)
    batch = list(unique.values())
    split = [event_data.seal(cipher, e.event_id, e.data) for e in batch]
    table = pa.Table.from_pydict({
        "seq": [seq if (derived or e.seq is None) else e.seq for e in batch],
        "event_id": [e.event_id for e in batch],
        "type": [e.type for e in batch],
        "golden_id": [e.golden_id for e in batch],
        "provisional": [e.provisional for e in batch],
        "source": [e.source for e in batch],
        "occurred_at": [e.occurred_at for e in batch],
        "received_at": [e.received_at for e in batch],
        "applied_at": [now] * len(batch),
        "derived": [derived] * len(batch),
        "data": [json.dumps(plain, ensure_ascii=False, separators=(",", ":"), default=str)
                 for plain, _ in split],
        "sealed": [token for _, token in split],
    }, schema=_RT_EVENT_SCHEMA)
    view = "_molar_rt_batch"
    engine.register(view, table)
    try:
        inserted = {r[0] for r in engine.rows(
            f"INSERT OR IGNORE INTO ops.rt_event BY NAME SELECT * FROM {view} RETURNING event_id"
        )}
    finally:
        engine.unregister(view)
    return [e for e in batch if e.event_id in inserted]


def store_provisional(engine: Engine, decoded: list[tuple[Event, dict | None]], now: datetime,
                      cipher: FieldCipher, indexer: BlindIndexer) -> None:
    merged: dict[str, dict[str, str]] = {}
    for event, keys in decoded:
        if not event.provisional:
            continue
        row = merged.setdefault(event.golden_id, {})
        # records logged before keys were sealed carry them in plaintext
        for k, v in provisional_keys(event.golden_id, keys or {}, cipher, indexer).items():
            row.setdefault(k, v)
    if not merged:
        return
    cols = ("unionid_bi", "mobile_bi", "unionid", "mobile", "source", "source_patient_key")
    table = pa.Table.from_pydict(
        {"provisional_id": list(merged), **{c: [k.get(c) for k in merged.values()] for c in cols}},
        schema=pa.schema([("provisional_id", pa.string()), *((c, pa.string()) for c in cols)]),
    )
    view = "_molar_rt_provisional"
    engine.register(view, table)
    try:
        engine.execute(
            f"""
            INSERT INTO ops.provisional_identity
                (provisional_id, unionid_bi, mobile_bi, unionid, mobile, source, source_patient_key, created_at)
            SELECT provisional_id, unionid_bi, mobile_bi, unionid, mobile, source, source_patient_key, ?::TIMESTAMP
            FROM {view}
            ON CONFLICT (provisional_id) DO UPDATE SET
                unionid_bi = coalesce(provisional_identity.unionid_bi, excluded.unionid_bi),
                mobile_bi = coalesce(provisional_identity.mobile_bi, excluded.mobile_bi),
                unionid = coalesce(provisional_identity.unionid, excluded.unionid),
                mobile = coalesce(provisional_identity.mobile, excluded.mobile),
                source = coalesce(provisional_identity.source, excluded.source),
                source_patient_key = coalesce(provisional_identity.source_patient_key,
                                              excluded.source_patient_key)
            """,
            [now],
        )
    finally:
        engine.unregister(view)


def set_checkpoint(engine: Engine, seq: int, now: datetime) -> None:
    # The row exists (start() makes it); an UPDATE is cheaper than an upsert.
    engine.execute("UPDATE ops.rt_checkpoint SET seq = ?, updated_at = ? WHERE name = ?",
                   [seq, now, CHECKPOINT])
