"""Who is this event about? An in-memory index from patient keys to golden IDs.

Loaded at startup from ``identity.cluster`` and ``identity.link_input``:

* WeChat unionid → golden ID;
* (source, source_patient_key) → golden ID;
* mobile (E.164) → golden ID, **only when the number belongs to exactly one golden ID**.
  A number shared by a family never says who an event is about.

Unionids and mobiles are held as blind indexes (``molar.privacy.blind_index``, as
``identity.link_input`` stores them): a lookup indexes the value it is given, and the
index holds no phone number in memory or in the file.

Someone no key matches gets a provisional ID (``PV`` + 10 hex digits). Their keys are
remembered, so their next event gets the same provisional ID; the worker stores them in
``ops.provisional_identity``: unionid and mobile as blind indexes (for lookups) and as
field tokens bound to the provisional ID (for the patient 360 and the rights export), never
plaintext, also in the event log (:func:`provisional_keys`). After an identity run,
:func:`reconcile_provisional` maps provisional IDs to golden IDs by the same keys and
rewrites their events in ``ops.rt_event``; :meth:`IdentityIndex.refresh` then reloads the
index.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.privacy.keys import open_keyring_from
from molar.warehouse import Engine

PROVISIONAL_PREFIX = "PV"
PROVISIONAL_TABLE = "ops.provisional_identity"

UNIONID_SQL = """
SELECT li.unionid_bi AS unionid, any_value(c.golden_id) AS golden_id
FROM identity.link_input li JOIN identity.cluster c ON c.unique_id = li.unique_id
WHERE li.unionid_bi IS NOT NULL
GROUP BY li.unionid_bi HAVING count(DISTINCT c.golden_id) = 1
"""
SOURCE_KEY_SQL = """
SELECT source, source_patient_key, any_value(golden_id) AS golden_id
FROM identity.cluster GROUP BY source, source_patient_key HAVING count(DISTINCT golden_id) = 1
"""
# Every mobile with the number of golden IDs it belongs to (1 = usable).
MOBILE_SQL = """
SELECT li.mobile_bi AS mobile, count(DISTINCT c.golden_id) AS goldens, any_value(c.golden_id) AS golden_id
FROM identity.link_input li JOIN identity.cluster c ON c.unique_id = li.unique_id
WHERE li.mobile_bi IS NOT NULL
GROUP BY li.mobile_bi
"""


def is_provisional(patient_id: str) -> bool:
    return patient_id.startswith(PROVISIONAL_PREFIX)


def new_provisional_id() -> str:
    return PROVISIONAL_PREFIX + secrets.token_hex(5)


class IdentityError(ValueError):
    """The event cannot be attributed to anyone; ``field`` and the message say why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who an event is about. ``golden_id`` is None for a person not seen before (a new
    provisional ID is assigned by :meth:`IdentityIndex.assign_provisional`)."""

    golden_id: str | None
    provisional: bool
    keys: dict[str, str] | None = None   # for provisional IDs: the keys to remember
    matched_by: str | None = None        # golden_id | unionid | source_patient_key | mobile


def _source_key(source: str, key: str) -> str:
    return f"{source}\x1f{key}"


class _Maps:
    """One consistent snapshot of the index (swapped whole on refresh)."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.merged: dict[str, str] = {}       # retired golden ID → surviving golden ID
        self.by_unionid: dict[str, str] = {}
        self.by_source_key: dict[str, str] = {}
        self.by_mobile: dict[str, str] = {}
        self.shared_mobiles: dict[str, int] = {}   # mobile → number of golden IDs (> 1)


class IdentityIndex:
    """Thread-safe: lookups run in the HTTP event loop, refreshes in the worker."""

    def __init__(self, indexer: BlindIndexer) -> None:
        self._bi = indexer
        self._maps = _Maps()
        self._lock = threading.Lock()
        # Provisional people: keys → provisional ID, and resolved provisional → golden.
        self.pv_known: set[str] = set()
        self.pv_by_unionid: dict[str, str] = {}
        self.pv_by_source_key: dict[str, str] = {}
        self.pv_by_mobile: dict[str, str] = {}
        self.pv_resolved: dict[str, str] = {}
        self.loaded_at: datetime | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, engine: Engine) -> IdentityIndex:
        index = cls(BlindIndexer.from_keyring(open_keyring_from(None, engine)))
        index.refresh(engine)
        return index

    @staticmethod
    def _load_maps(engine: Engine) -> _Maps:
        maps = _Maps()
        intern: dict[str, str] = {}

        def g(value: str) -> str:  # share one string object per golden ID
            return intern.setdefault(value, value)

        maps.active = {g(r[0]) for r in engine.rows("SELECT DISTINCT golden_id FROM identity.cluster")}
        merged = dict(engine.rows(
            "SELECT golden_id, merged_into FROM identity.golden "
            "WHERE status = 'retired' AND merged_into IS NOT NULL"
        ))
        for retired in merged:
            target, hops = merged[retired], 0
            while target in merged and hops < 20:
                target, hops = merged[target], hops + 1
            if target in maps.active:
                maps.merged[retired] = g(target)
        for unionid, golden in _pairs(engine, UNIONID_SQL):
            maps.by_unionid[unionid] = g(golden)
        for source, key, golden in _triples(engine, SOURCE_KEY_SQL):
            maps.by_source_key[_source_key(source, key)] = g(golden)
        table = engine.arrow(MOBILE_SQL)
        for mobile, goldens, golden in zip(
            table["mobile"].to_pylist(), table["goldens"].to_pylist(),
            table["golden_id"].to_pylist(), strict=True,
        ):
            if goldens == 1:
                maps.by_mobile[mobile] = g(golden)
            else:
                maps.shared_mobiles[mobile] = goldens
        return maps

    def refresh(self, engine: Engine, now: datetime | None = None) -> dict[str, int]:
        """Reload from the identity tables and ``ops.provisional_identity``."""
        maps = self._load_maps(engine)
        rows = engine.rows(
            "SELECT provisional_id, unionid_bi, mobile_bi, source, source_patient_key, resolved_golden_id "
            "FROM ops.provisional_identity"
        )
        with self._lock:
            resolved = {pv: golden for pv, *_, golden in rows if golden}
            known = {pv for pv, *_ in rows if pv not in resolved}
            # Keep provisional IDs handed out but not yet stored (their events are still
            # in the log) unless the database says they are resolved.
            pv_unionid = {k: v for k, v in self.pv_by_unionid.items() if v not in resolved}
            pv_source = {k: v for k, v in self.pv_by_source_key.items() if v not in resolved}
            pv_mobile = {k: v for k, v in self.pv_by_mobile.items() if v not in resolved}
            for pv, unionid, mobile, source, key, golden in rows:
                if golden:
                    continue
                if unionid:
                    pv_unionid.setdefault(unionid, pv)
                if source and key:
                    pv_source.setdefault(_source_key(source, key), pv)
                if mobile and mobile not in maps.shared_mobiles and mobile not in maps.by_mobile:
                    pv_mobile.setdefault(mobile, pv)
            self._maps = maps
            self.pv_known = known | (self.pv_known - set(resolved))
            self.pv_by_unionid, self.pv_by_source_key, self.pv_by_mobile = pv_unionid, pv_source, pv_mobile
            self.pv_resolved = resolved
            self.loaded_at = now or datetime.now()
        return self.sizes()

    def sizes(self) -> dict[str, int]:
        m = self._maps
        return {
            "golden_ids": len(m.active),
            "unionids": len(m.by_unionid),
            "source_keys": len(m.by_source_key),
            "mobiles": len(m.by_mobile),
            "shared_mobiles": len(m.shared_mobiles),
            "provisional_open": len(self.pv_known),
            "provisional_resolved": len(self.pv_resolved),
        }

    # ------------------------------------------------------------------ lookups
    def canonical(self, patient_id: str) -> str | None:
        """The current ID for a golden or provisional ID (following merges), or None."""
        m = self._maps
        if patient_id in m.active:
            return patient_id
        if patient_id in m.merged:
            return m.merged[patient_id]
        if patient_id in self.pv_resolved:
            golden = self.pv_resolved[patient_id]
            return m.merged.get(golden, golden)
        if patient_id in self.pv_known:
            return patient_id
        return None

    def resolve(
        self,
        *,
        golden_id: str | None = None,
        unionid: str | None = None,
        mobile: str | None = None,
        source: str | None = None,
        source_patient_key: str | None = None,
    ) -> Resolution:
        """Find the patient by the strongest key given. ``mobile`` must be E.164."""
        m = self._maps
        plain_unionid, plain_mobile = unionid, mobile
        unionid, mobile = self._keys(unionid, mobile)
        if golden_id:
            current = self.canonical(golden_id)
            if current is None:
                raise IdentityError("patient.golden_id", (
                    f"{golden_id!r} is not a golden ID Molar knows (golden IDs look like "
                    "G0000000042, provisional IDs like PV3fa09c21d7); send unionid, mobile or "
                    "source_patient_key instead"))
            return Resolution(current, is_provisional(current), None, "golden_id")
        sk = _source_key(source, source_patient_key) if source and source_patient_key else None
        if unionid and (found := m.by_unionid.get(unionid)):
            return Resolution(found, False, None, "unionid")
        if sk and (found := m.by_source_key.get(sk)):
            return Resolution(found, False, None, "source_patient_key")
        shared = m.shared_mobiles.get(mobile, 0) if mobile else 0
        if mobile and not shared and (found := m.by_mobile.get(mobile)):
            return Resolution(found, False, None, "mobile")
        if not (unionid or sk or (mobile and not shared)):
            raise IdentityError("patient.mobile", (
                f"this number is shared by {shared} patients (a family phone), so it cannot say "
                "who the event is about; also send golden_id, unionid or source_patient_key"))
        keys = {"unionid": plain_unionid, "mobile": plain_mobile, "source": source if sk else None,
                "source_patient_key": source_patient_key if sk else None}
        keys = {k: v for k, v in keys.items() if v}
        existing = self._find_provisional(unionid, sk, None if shared else mobile)
        return Resolution(existing, True, keys, "provisional")

    def _keys(self, unionid: str | None, mobile: str | None) -> tuple[str | None, str | None]:
        """The blind indexes the maps are keyed by."""
        return (self._bi.unionid(unionid) if unionid else None, self._bi.mobile(mobile) if mobile else None)

    def _find_provisional(self, unionid: str | None, sk: str | None, mobile: str | None) -> str | None:
        return (
            (unionid and self.pv_by_unionid.get(unionid))
            or (sk and self.pv_by_source_key.get(sk))
            or (mobile and self.pv_by_mobile.get(mobile))
            or None
        )

    def assign_provisional(self, keys: dict[str, str]) -> str:
        """The provisional ID for these keys: the one already given to any of them, or a new one."""
        unionid, mobile = self._keys(keys.get("unionid"), keys.get("mobile"))
        source, key = keys.get("source"), keys.get("source_patient_key")
        sk = _source_key(source, key) if source and key else None
        usable_mobile = mobile if mobile and mobile not in self._maps.shared_mobiles else None
        with self._lock:
            pv = self._find_provisional(unionid, sk, usable_mobile)
            if pv is None:
                pv = new_provisional_id()
                while pv in self.pv_known or pv in self.pv_resolved:
                    pv = new_provisional_id()
            self.remember(pv, {"unionid_bi": unionid, "mobile_bi": mobile, "source": source,
                               "source_patient_key": key}, _locked=True)
        return pv

    def stored_keys(self, pv: str, keys: dict[str, str], cipher: FieldCipher) -> dict[str, str]:
        """``keys`` as the event log and ``ops.provisional_identity`` keep them."""
        return provisional_keys(pv, keys, cipher, self._bi)

    def remember(self, pv: str, keys: dict[str, Any] | None, *, _locked: bool = False) -> None:
        """Record a provisional ID's keys (also used at startup for events still in the log,
        whose keys are in the stored form of :func:`provisional_keys`)."""
        if pv in self.pv_resolved:
            return
        keys = keys or {}
        if "unionid_bi" in keys or "mobile_bi" in keys:
            unionid, mobile = keys.get("unionid_bi"), keys.get("mobile_bi")
        else:   # a record logged before keys were sealed (migration 0020)
            unionid, mobile = self._keys(keys.get("unionid"), keys.get("mobile"))

        def apply() -> None:
            self.pv_known.add(pv)
            if unionid:
                self.pv_by_unionid.setdefault(unionid, pv)
            if keys.get("source") and keys.get("source_patient_key"):
                self.pv_by_source_key.setdefault(_source_key(keys["source"], keys["source_patient_key"]), pv)
            if mobile and mobile not in self._maps.shared_mobiles and mobile not in self._maps.by_mobile:
                self.pv_by_mobile.setdefault(mobile, pv)

        if _locked:
            apply()
        else:
            with self._lock:
                apply()


def provisional_keys(pv: str, keys: dict[str, Any], cipher: FieldCipher, indexer: BlindIndexer) -> dict[str, str]:
    """A provisional person's keys without plaintext: unionid and mobile as blind indexes
    (``*_bi``) and tokens bound to ``pv``; source and source key as they are. Keys already
    in this form are returned as they are."""
    if "unionid_bi" in keys or "mobile_bi" in keys or not (keys.get("unionid") or keys.get("mobile")):
        return dict(keys)
    out = {k: keys[k] for k in ("source", "source_patient_key") if keys.get(k)}
    for kind, column in (("unionid", "unionid"), ("mobile", "mobile")):
        value = keys.get(column)
        if value:
            out[f"{column}_bi"] = indexer.column(kind, [value])[0]
            out[column] = cipher.encrypt(value, PROVISIONAL_TABLE, column, pv)
    return out


def _pairs(engine: Engine, sql: str) -> list[tuple[Any, Any]]:
    t = engine.arrow(sql)
    return list(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True))


def _triples(engine: Engine, sql: str) -> list[tuple[Any, Any, Any]]:
    t = engine.arrow(sql)
    return list(zip(t.column(0).to_pylist(), t.column(1).to_pylist(), t.column(2).to_pylist(), strict=True))


RECONCILE_SQL = f"""
WITH u AS ({UNIONID_SQL}),
s AS ({SOURCE_KEY_SQL}),
m AS (SELECT mobile, golden_id FROM ({MOBILE_SQL}) WHERE goldens = 1)
SELECT p.provisional_id,
       coalesce(u.golden_id, s.golden_id, m.golden_id) AS golden_id,
       CASE WHEN u.golden_id IS NOT NULL THEN 'unionid'
            WHEN s.golden_id IS NOT NULL THEN 'source_patient_key'
            ELSE 'mobile' END AS resolved_by
FROM ops.provisional_identity p
LEFT JOIN u ON u.unionid = p.unionid_bi
LEFT JOIN s ON s.source = p.source AND s.source_patient_key = p.source_patient_key
LEFT JOIN m ON m.mobile = p.mobile_bi
WHERE p.resolved_golden_id IS NULL
  AND coalesce(u.golden_id, s.golden_id, m.golden_id) IS NOT NULL
"""


def reconcile_provisional(engine: Engine, now: datetime | None = None) -> int:
    """Map open provisional IDs to golden IDs by their keys; rewrite their events.

    Uses the same rules as the live lookup (unionid, then source key, then a mobile that
    belongs to one golden ID only). The mapping stays in ``ops.provisional_identity``
    (``resolved_golden_id``, ``resolved_at``, ``resolved_by``). Returns how many
    provisional IDs were resolved.
    """
    return len(reconcile_mapping(engine, now))


def reconcile_mapping(engine: Engine, now: datetime | None = None) -> dict[str, str]:
    """Like :func:`reconcile_provisional`, returning {provisional ID: golden ID}."""
    from molar.realtime.schemas import local_now

    now = now or local_now()
    with engine.transaction():
        found = engine.arrow(RECONCILE_SQL)
        if found.num_rows == 0:
            return {}
        found = found.append_column("resolved_at", pa.array([now] * found.num_rows, pa.timestamp("us")))
        view = "_molar_reconcile"
        engine.register(view, found)
        try:
            engine.execute(f"""
                UPDATE ops.provisional_identity AS p
                SET resolved_golden_id = r.golden_id, resolved_at = r.resolved_at,
                    resolved_by = r.resolved_by
                FROM {view} AS r WHERE p.provisional_id = r.provisional_id
            """)
            engine.execute(f"""
                UPDATE ops.rt_event AS e SET golden_id = r.golden_id, provisional = false
                FROM {view} AS r WHERE e.golden_id = r.provisional_id
            """)
        finally:
            engine.unregister(view)
    return dict(zip(found["provisional_id"].to_pylist(), found["golden_id"].to_pylist(), strict=True))
