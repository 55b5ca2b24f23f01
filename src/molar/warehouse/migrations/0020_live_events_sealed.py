"""Live event data and provisional identities keep no plaintext personal values.

``ops.rt_event.sealed``: the token of an event's personal data fields (free text, a
referrer's unionid, any field its type does not declare), molar.privacy.event_data.
``ops.provisional_identity``: unionid and mobile become tokens bound to the provisional ID,
with blind indexes ``unionid_bi`` / ``mobile_bi`` beside them for lookups.

Rows written before this are sealed here, which needs the warehouse's master key; a
warehouse without such rows needs none.
"""

from __future__ import annotations

import json

import pyarrow as pa

from molar.model.events import INBOUND_EVENT_TYPES, PERSONAL_DATA_FIELDS
from molar.warehouse.engine import Engine

PERSONAL = sorted(PERSONAL_DATA_FIELDS)


def migrate(engine: Engine) -> None:
    engine.execute("ALTER TABLE ops.rt_event ADD COLUMN IF NOT EXISTS sealed VARCHAR")
    engine.execute("ALTER TABLE ops.provisional_identity ADD COLUMN IF NOT EXISTS unionid_bi VARCHAR")
    engine.execute("ALTER TABLE ops.provisional_identity ADD COLUMN IF NOT EXISTS mobile_bi VARCHAR")
    events = engine.arrow("SELECT event_id, type, data FROM ops.rt_event WHERE data IS NOT NULL AND data <> '{}'")
    people = engine.arrow("SELECT provisional_id, unionid, mobile FROM ops.provisional_identity "
                          "WHERE unionid IS NOT NULL OR mobile IS NOT NULL")
    if events.num_rows == 0 and people.num_rows == 0:
        return
    # imported here: a new warehouse (no rows) needs neither the key nor these modules
    from molar.privacy import event_data, fields, keys
    from molar.privacy.blind_index import BlindIndexer
    from molar.realtime.identity_index import PROVISIONAL_TABLE
    from molar.realtime.schemas import data_fields

    keyring = keys.open_keyring_from(None, engine)
    cipher, indexer = fields.cipher_for(engine, keyring), BlindIndexer.from_keyring(keyring)
    plain, sealed, ids = [], [], []
    for event_id, type_, data in zip(*(events[c].to_pylist() for c in ("event_id", "type", "data")), strict=True):
        values = json.loads(data)
        declared = data_fields(type_) if type_ in INBOUND_EVENT_TYPES else None
        if any(k in PERSONAL_DATA_FIELDS or (declared is not None and k not in declared) for k in values):
            rest, token = event_data.seal(cipher, event_id, values, declared)
            ids.append(event_id)
            plain.append(json.dumps(rest, ensure_ascii=False, separators=(",", ":")))
            sealed.append(token)
    if ids:
        engine.register("_sealed_events", pa.table({"event_id": ids, "data": plain, "sealed": sealed}))
        engine.execute("UPDATE ops.rt_event e SET data = s.data, sealed = s.sealed FROM _sealed_events s "
                       "WHERE e.event_id = s.event_id")
        engine.unregister("_sealed_events")
    if people.num_rows:
        pv = people["provisional_id"]
        engine.register("_sealed_people", pa.table({
            "provisional_id": pv,
            "unionid_bi": pa.array(indexer.column("unionid", people["unionid"]), pa.string()),
            "mobile_bi": pa.array(indexer.column("mobile", people["mobile"]), pa.string()),
            "unionid": cipher.encrypt_arrow(people["unionid"], PROVISIONAL_TABLE, "unionid", pv),
            "mobile": cipher.encrypt_arrow(people["mobile"], PROVISIONAL_TABLE, "mobile", pv),
        }))
        engine.execute("UPDATE ops.provisional_identity p SET unionid_bi = s.unionid_bi, mobile_bi = s.mobile_bi, "
                       "unionid = s.unionid, mobile = s.mobile FROM _sealed_people s "
                       "WHERE p.provisional_id = s.provisional_id")
        engine.unregister("_sealed_people")
