"""Data-subject rights: export everything held about a patient, erase it, keep it erased.

Where a patient's rows live is found, not listed: every base table of the warehouse is
scanned (``information_schema``) for columns that carry the patient's identifiers —
golden/provisional IDs, source records (``source`` + ``source_patient_key``), record IDs
(``unique_id``), WeChat unionids, their visits and messages — so a table added later is
covered the day it appears. Raw rows are found through the std rows they produced
(``_load_id`` + ``_row_number``) and through the source mappings' key headers (which also
finds rows that were quarantined).

Erasure deletes those rows (or, with ``keep_aggregates``, keeps visits, charges and the
like under a pseudonym with personal columns emptied), marks the golden ID ``erased`` so it
is never reused, replaces the consent history with the fact of erasure, and writes blind
indexes of the person's identifiers to ``privacy.suppression``. :func:`apply_suppression`
removes matching rows after every load and before identity resolution, so re-ingesting
old exports does not bring the person back.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from molar.config import load_settings
from molar.ingest.mapping import load_mappings
from molar.model import CONTRACTS
from molar.privacy import consent, fields, keys, sealed
from molar.privacy.audit import record as _audit
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import ENCRYPTED_COLUMNS, FieldCipher
from molar.warehouse import Engine

# Kept on erasure: bookkeeping of erasure itself, keys, and the hash-chained audit log
# (its rows name only the pseudonymous golden ID, which leads nowhere once erased).
PROVISIONAL = "ops.provisional_identity"   # live people's keys, sealed (realtime.identity_index)
NOT_ERASED = ("privacy.erasure", "privacy.suppression", "privacy.data_key", "ops.audit_log")
# Columns that name the patient in someone else's row: emptied, the row kept.
REFERENCES = ("merged_into", "referrer_unionid")
# Free-text columns (consult messages, reviews) emptied when rows are kept for aggregates.
FREE_TEXT = ("text",)

_log = logging.getLogger("molar.privacy.audit")


class RightsError(ValueError):
    """An export or erasure cannot be done; the message says why and what to do."""


# --------------------------------------------------------------------------- locating rows

_SETS = {
    "_p_ids": "id VARCHAR",                              # golden ID and provisional IDs
    "_p_records": "source VARCHAR, source_patient_key VARCHAR",
    "_p_uids": "uid VARCHAR",                            # source:source_patient_key
    "_p_unionids": "unionid VARCHAR",
}


def _fill(engine: Engine, name: str, rows: Sequence[Sequence[Any]]) -> None:
    columns = [c.split()[0] for c in _SETS[name].split(", ")]
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({_SETS[name]})")
    if rows:
        engine.append(name, pa.table({c: pa.array([str(r[i]) for r in rows], pa.string())
                                      for i, c in enumerate(columns)}))


def _load_person(engine: Engine, golden_id: str) -> None:
    """The patient's identifiers into the ``_p_*`` temp tables."""
    records = engine.rows("SELECT source, source_patient_key FROM identity.cluster WHERE golden_id = ?", [golden_id])
    provisional = engine.rows("SELECT provisional_id FROM ops.provisional_identity WHERE resolved_golden_id = ?",
                              [golden_id])
    _fill(engine, "_p_ids", [(golden_id,), *provisional])
    _fill(engine, "_p_records", records)
    _fill(engine, "_p_uids", [(f"{s}:{k}",) for s, k in records])
    # WeChat records are keyed by their unionid (as in realtime.identity_index)
    own = fields.read_patients(engine, "wechat_unionid", "WHERE (source, source_patient_key) IN "
                               "(SELECT source, source_patient_key FROM _p_records) AND wechat_unionid IS NOT NULL")
    live = fields.open_rows(PROVISIONAL, engine.arrow(
        f"SELECT provisional_id, unionid FROM {PROVISIONAL} WHERE provisional_id IN (SELECT id FROM _p_ids) "
        "AND unionid IS NOT NULL"), fields.cipher_for(engine))
    unionids = {(u,) for u in own["wechat_unionid"].to_pylist() + live["unionid"].to_pylist()} | set(engine.rows(
        "SELECT source_patient_key FROM _p_records WHERE source = 'wechat'"))
    _fill(engine, "_p_unionids", sorted(unionids))


def _tables(engine: Engine, schemas: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
    """Every base table of the warehouse: its columns and their types."""
    rows = engine.rows(
        "SELECT c.table_schema || '.' || c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
        "ORDER BY c.table_schema, c.table_name, c.ordinal_position")
    out: dict[str, dict[str, str]] = {}
    for table, column, dtype in rows:
        if schemas is None or table.split(".")[0] in schemas:
            out.setdefault(table, {})[column] = dtype
    return out


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _owner_condition(table: str, cols: dict[str, str], raw_headers: dict[str, list[str]]) -> str | None:
    """SQL condition for the rows of ``table`` that belong to the patient in the ``_p_*`` sets."""
    terms = []
    for col in ("golden_id", "resolved_golden_id", "provisional_id", "patient"):
        if col in cols:
            terms.append(f"{col} IN (SELECT id FROM _p_ids)")
    for col in ("golden_ids", "unique_ids"):
        if cols.get(col, "").endswith("[]"):
            pool = "(SELECT list(id) FROM _p_ids)" if col == "golden_ids" else "(SELECT list(uid) FROM _p_uids)"
            terms.append(f"list_has_any({col}, {pool})")
    if "subject" in cols:
        terms.append("subject IN (SELECT id FROM _p_ids UNION SELECT uid FROM _p_uids)")
    if "source" in cols and "source_patient_key" in cols:
        terms.append("(source, source_patient_key) IN (SELECT source, source_patient_key FROM _p_records)")
    elif "source" in cols and "visit_id" in cols and table != "std.visit":
        terms.append("(source, visit_id) IN (SELECT source, visit_id FROM _p_visits)")
    for col in ("unique_id", "unique_id_l", "unique_id_r"):
        if col in cols:
            terms.append(f"{col} IN (SELECT uid FROM _p_uids)")
    for col in ("unionid", "wechat_unionid"):
        if col in cols:
            terms.append(f"{col} IN (SELECT unionid FROM _p_unionids)")
    if "message_id" in cols and table != "ops.outbox":
        terms.append("message_id IN (SELECT message_id FROM _p_messages)")
    if table.startswith("raw.") and "_load_id" in cols:
        terms.append("(_load_id, _row_number) IN (SELECT load_id, row_number FROM _p_raw_rows)")
        terms += raw_headers.get(table, [])
    if table == "quarantine.issue":
        terms.append("(load_id, row_number) IN (SELECT load_id, row_number FROM _p_raw_rows)")
    return " OR ".join(f"({t})" for t in terms) if terms else None


def _reference_columns(cols: dict[str, str]) -> list[str]:
    return [c for c in REFERENCES if c in cols]


def _reference_condition(col: str) -> str:
    return (f"{col} IN (SELECT id FROM _p_ids)" if col == "merged_into"
            else f"{col} IN (SELECT unionid FROM _p_unionids)")


def _sealed_unionid_rows(engine: Engine, raw_table: str, header: str) -> str:
    """Condition for the rows of ``raw_table`` whose sealed ``header`` holds one of the
    person's unionids (opened here, compared in memory)."""
    rows = engine.arrow(f"SELECT _load_id, _row_number, _part, {_q(header)} FROM {raw_table} "
                        f"WHERE {_q(header)} IS NOT NULL")
    cipher = FieldCipher(keys.open_keyring_from(load_settings(), engine))
    plain = sealed.open_raw(rows, raw_table, [header], cipher)
    wanted = {u for (u,) in engine.rows("SELECT unionid FROM _p_unionids")}
    hits = [(load_id, number) for load_id, number, value in zip(
        plain["_load_id"].to_pylist(), plain["_row_number"].to_pylist(), plain[header].to_pylist(), strict=True)
        if value is not None and value.strip() in wanted]
    engine.execute("CREATE TEMP TABLE IF NOT EXISTS _p_sealed_rows (raw_table VARCHAR, load_id VARCHAR, row_number BIGINT)")
    engine.execute("DELETE FROM _p_sealed_rows WHERE raw_table = ?", [raw_table])
    if hits:
        engine.append("_p_sealed_rows", pa.table({"raw_table": [raw_table] * len(hits),
                                                  "load_id": [h[0] for h in hits], "row_number": [h[1] for h in hits]}))
    return (f"(_load_id, _row_number) IN (SELECT load_id, row_number FROM _p_sealed_rows "
            f"WHERE raw_table = '{raw_table}')")


def _raw_header_conditions(engine: Engine, tables: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Conditions on raw tables through the source mappings' key headers: these also reach
    rows that never made it to std (quarantined). Sealed headers are opened to compare."""
    out: dict[str, list[str]] = {}
    sealed_headers = sealed.sealed_columns(engine)
    for mapping in load_mappings().values():
        for file_map in mapping.files:
            cols = tables.get(file_map.raw_table)
            if not cols:
                continue
            for table_map in file_map.tables:
                key = table_map.column("source_patient_key")
                if key and key.header in cols and table_map.column("source") is None:
                    out.setdefault(file_map.raw_table, []).append(
                        f"trim({_q(key.header)}) IN (SELECT source_patient_key FROM _p_records "
                        f"WHERE source = '{file_map.source}')")
                for name in ("unionid", "wechat_unionid"):
                    col = table_map.column(name)
                    if col and col.header in sealed_headers.get(file_map.raw_table, []):
                        out.setdefault(file_map.raw_table, []).append(
                            _sealed_unionid_rows(engine, file_map.raw_table, col.header))
                    elif col and col.header in cols:
                        out.setdefault(file_map.raw_table, []).append(
                            f"trim({_q(col.header)}) IN (SELECT unionid FROM _p_unionids)")
    return out


def _prepare(engine: Engine, tables: dict[str, dict[str, str]]) -> dict[str, str]:
    """Derived sets (visits, messages, raw rows) and the owner condition of every table."""
    engine.execute("CREATE OR REPLACE TEMP TABLE _p_visits AS SELECT source, visit_id FROM std.visit "
                   "WHERE (source, source_patient_key) IN (SELECT source, source_patient_key FROM _p_records)")
    engine.execute("CREATE OR REPLACE TEMP TABLE _p_messages AS SELECT message_id FROM ops.outbox "
                   "WHERE golden_id IN (SELECT id FROM _p_ids)")
    engine.execute("CREATE OR REPLACE TEMP TABLE _p_raw_rows (load_id VARCHAR, row_number BIGINT)")
    conditions: dict[str, str] = {}
    for table, cols in tables.items():
        if table.startswith("raw."):
            continue
        condition = _owner_condition(table, cols, {})
        if condition is None:
            continue
        conditions[table] = condition
        if table.startswith("std.") and "_load_id" in cols:
            engine.execute(f"INSERT INTO _p_raw_rows SELECT _load_id, _row_number FROM {table} WHERE {condition}")
    headers = _raw_header_conditions(engine, tables)
    for table, cols in tables.items():
        if table.startswith("raw."):
            condition = _owner_condition(table, cols, headers)
            if condition:
                conditions[table] = condition
    return conditions


# --------------------------------------------------------------------------- export

def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _golden_status(engine: Engine, golden_id: str) -> str:
    status = engine.scalar("SELECT status FROM identity.golden WHERE golden_id = ?", [golden_id])
    if status is None:
        raise RightsError(f"unknown golden ID {golden_id!r}: `molar identity explain` shows a patient's ID "
                          "/ 找不到该主索引号")
    return str(status)


def export_patient(engine: Engine, golden_id: str, *, cipher: FieldCipher | None = None,
                   actor: str = "system", role: str = "system") -> dict[str, Any]:
    """Everything held about the patient, by table, as JSON-ready rows. Encrypted consent
    values (consent evidence, free text, messages, sealed raw cells and quarantined values) are
    decrypted when a cipher is given (else consent evidence is left out and the others stay tokens)."""
    status = _golden_status(engine, golden_id)
    _load_person(engine, golden_id)
    tables = _tables(engine)
    conditions = _prepare(engine, tables)
    out: dict[str, list[dict[str, Any]]] = {}
    opened = sealed.sealed_columns(engine)
    for table, condition in conditions.items():
        found = engine.arrow(f"SELECT * FROM {table} WHERE {condition}")
        if cipher is not None and table in opened:   # the person's own values, not tokens
            found = sealed.open_raw(found, table, opened[table], cipher)
        if cipher is not None and table == sealed.ISSUE and found.num_rows:
            found = found.set_column(found.column_names.index("value"), "value", pa.array(sealed.issue_values(
                found["value"].to_pylist(), found["value_sealed"].to_pylist(), sealed.issue_record_keys(found),
                cipher), pa.string()))
        rows = found.to_pylist()
        for col in _reference_columns(tables[table]):
            rows += engine.arrow(f"SELECT * FROM {table} WHERE {_reference_condition(col)} "
                                 f"AND NOT coalesce(({condition}), false)").to_pylist()
        if rows:
            out[table] = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
    if "std.patient" in out:   # the person's own record, decrypted (its tokens mean nothing to them)
        out["std.patient"] = [{k: _jsonable(v) for k, v in r.items()} for r in fields.read_patients(
            engine, "*", f"WHERE {conditions['std.patient']}").to_pylist()]
    if fields.GOLDEN in out:   # and the golden record
        out[fields.GOLDEN] = [{k: _jsonable(v) for k, v in r.items()} for r in fields.read_golden(
            engine, "*", f"WHERE {conditions[fields.GOLDEN]}").to_pylist()]
    for col in ENCRYPTED_COLUMNS:   # free text, messages, consent evidence: decrypted, or left out
        for row in out.get(col.table, []) if col.table not in (fields.PATIENT, fields.GOLDEN) else []:
            if col.record_key in row:
                token = row.pop(col.column)
                if token is not None and cipher is not None:
                    row[col.column] = cipher.decrypt(token, col.table, col.column, row[col.record_key])
    _audit(engine, actor=actor, role=role, action="patient.export", resource="privacy.export", purpose="data subject request",
           patient=golden_id, detail={"tables": {t: len(r) for t, r in out.items()}})
    return {"golden_id": golden_id, "status": status, "exported_at": datetime.now().isoformat(timespec="seconds"),
            "tables": out}


# --------------------------------------------------------------------------- erasure

def _suppression_rows(engine: Engine, indexer: BlindIndexer) -> list[tuple[str, str]]:
    """Blind indexes of every identifier of the person in ``_p_records`` / ``_p_unionids``."""
    people = fields.read_patients(
        engine, "id_number, wechat_unionid, mobile, name",
        "WHERE (source, source_patient_key) IN (SELECT source, source_patient_key FROM _p_records)")
    records = engine.arrow("SELECT source, source_patient_key FROM _p_records")
    unionids = engine.arrow("SELECT unionid FROM _p_unionids")["unionid"]
    found = [("source_key", v) for v in indexer.column("source_key", records["source"], records["source_patient_key"])]
    found += [("id_number", v) for v in indexer.column("id_number", people["id_number"])]
    found += [("unionid", v) for v in indexer.column("unionid", pa.concat_arrays(
        [people["wechat_unionid"].combine_chunks(), unionids.combine_chunks()]))]
    found += [("mobile_name", v) for v in indexer.column("mobile_name", people["mobile"], people["name"])]
    return sorted({(k, v) for k, v in found if v is not None})


def _pseudonymise_sql(table: str, cols: dict[str, str], pseudonym: str) -> str | None:
    """UPDATE that keeps a std row for aggregates but cuts it from the person, or None when
    the table is the person (std.patient) or has nothing to keep."""
    contract = CONTRACTS.get(table.removeprefix("std."))
    if not table.startswith("std.") or contract is None or table == "std.patient":
        return None
    sets = [f"{c} = NULL" for c in contract.pii_columns if c in cols]
    sets += [f"{c} = NULL" for c in FREE_TEXT if c in cols]   # may name people, phones (stored sealed: no '')
    if "source_patient_key" in cols:
        sets.append(f"source_patient_key = '{pseudonym}'")
    return f"UPDATE {table} SET {', '.join(sets)}" if sets else None


def _remove(engine: Engine, tables: dict[str, dict[str, str]], conditions: dict[str, str],
            keep_aggregates: bool, pseudonym: str) -> dict[str, int]:
    removed: dict[str, int] = {}
    for table, condition in conditions.items():
        if table in NOT_ERASED or table == "identity.golden":
            continue
        n = int(engine.scalar(f"SELECT count(*) FROM {table} WHERE {condition}"))
        if n == 0:
            continue
        update = _pseudonymise_sql(table, tables[table], pseudonym) if keep_aggregates else None
        engine.execute(f"{update} WHERE {condition}" if update else f"DELETE FROM {table} WHERE {condition}")
        removed[table] = n
    for table, cols in tables.items():
        for col in _reference_columns(cols):
            engine.execute(f"UPDATE {table} SET {col} = NULL WHERE {_reference_condition(col)}")
    return removed


def erase_patient(engine: Engine, golden_id: str, indexer: BlindIndexer, *, keep_aggregates: bool = False,
                  requested_by: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Erase the patient everywhere, in one transaction; returns the erasure record."""
    if _golden_status(engine, golden_id) == "erased":
        raise RightsError(f"{golden_id} is already erased / 该患者已被删除")
    now = now or datetime.now()
    erasure_id = f"E{now:%Y%m%d}{secrets.token_hex(4)}"
    with engine.transaction():
        _load_person(engine, golden_id)
        tables = _tables(engine)
        conditions = _prepare(engine, tables)
        suppress = _suppression_rows(engine, indexer)
        removed = _remove(engine, tables, conditions, keep_aggregates, f"erased:{erasure_id}")
        _suppress(engine, suppress, erasure_id)
        engine.execute("DELETE FROM privacy.suppression_checked")   # next check reads every load
        engine.execute("UPDATE identity.golden SET status = 'erased', members = 0, retired_at = ?, updated_at = ?, "
                       "merged_into = NULL WHERE golden_id = ?", [now, now, golden_id])
        consent.record(engine, subject=golden_id, purpose=consent.ALL_PURPOSES, channel=consent.ANY_CHANNEL,
                       granted=False, occurred_at=now, source="erasure", event_id=f"erasure:{erasure_id}",
                       recorded_at=now, actor=requested_by or "system", role="privacy")
        engine.execute("INSERT INTO privacy.erasure VALUES (?, ?, ?, ?, ?, ?)",
                       [erasure_id, golden_id, now, requested_by, keep_aggregates, json.dumps(removed)])
    _audit(engine, actor=requested_by or "system", role="privacy", action="patient.erase", resource="privacy.erasure",
           purpose="data subject request", patient=golden_id, detail={"erasure_id": erasure_id, "rows": removed})
    return {"erasure_id": erasure_id, "golden_id": golden_id, "keep_aggregates": keep_aggregates,
            "rows_removed": removed, "suppressed_identifiers": len(suppress)}


def _suppress(engine: Engine, rows: Sequence[tuple[str, str]], erasure_id: str) -> None:
    if rows:
        engine.execute("CREATE OR REPLACE TEMP TABLE _suppress_new (kind VARCHAR, blind_index VARCHAR)")
        engine.append("_suppress_new", pa.table({"kind": [k for k, _ in rows], "blind_index": [v for _, v in rows]}))
        engine.execute("INSERT INTO privacy.suppression SELECT kind, blind_index, ? FROM _suppress_new "
                       "ON CONFLICT DO NOTHING", [erasure_id])


# --------------------------------------------------------------------------- suppression

def _suppression(engine: Engine) -> dict[tuple[str, str], str]:
    return {(k, v): e for k, v, e in engine.rows("SELECT kind, blind_index, erasure_id FROM privacy.suppression")}


def _configured_indexer(engine: Engine, entries: int) -> BlindIndexer:
    try:
        return BlindIndexer.from_keyring(keys.open_keyring_from(load_settings(), engine))
    except keys.KeyConfigError as exc:
        raise RightsError(f"the warehouse holds erasures ({entries} suppressed identifiers); checking loaded "
                          f"rows against them needs this warehouse's master key: {exc}") from exc


_UNCHECKED = "(_load_id IS NULL OR _load_id NOT IN (SELECT load_id FROM privacy.suppression_checked))"


def suppressed_records(engine: Engine, indexer: BlindIndexer | None = None,
                       only_unchecked: bool = False) -> list[tuple[str, str, str]]:
    """(source, source_patient_key, erasure_id) of every std record matching the suppression
    list: by source record, ID number, unionid or mobile + name (a mobile alone is shared
    within families). ``only_unchecked``: only rows of loads not checked since the last erasure."""
    where = f"WHERE {_UNCHECKED}" if only_unchecked else ""
    suppression = _suppression(engine)
    if not suppression:
        return []
    indexer = indexer or _configured_indexer(engine, len(suppression))
    found: dict[tuple[str, str], str] = {}

    def match(pairs: list[tuple[str, str]], kind: str, values: list[str | None]) -> None:
        for pair, value in zip(pairs, values, strict=True):
            if value is not None and (kind, value) in suppression:
                found.setdefault(pair, suppression[(kind, value)])

    people = fields.read_patients(engine, "source, source_patient_key, id_number, wechat_unionid, mobile, name",
                                  where)
    pairs = list(zip(people["source"].to_pylist(), people["source_patient_key"].to_pylist(), strict=True))
    match(pairs, "id_number", indexer.column("id_number", people["id_number"]))
    match(pairs, "unionid", indexer.column("unionid", people["wechat_unionid"]))
    match(pairs, "mobile_name", indexer.column("mobile_name", people["mobile"], people["name"]))
    for table, cols in _tables(engine, ["std"]).items():
        if "source" in cols and "source_patient_key" in cols:
            records = engine.arrow(f"SELECT DISTINCT source, source_patient_key FROM {table} {where}")
            match(list(zip(records["source"].to_pylist(), records["source_patient_key"].to_pylist(), strict=True)),
                  "source_key", indexer.column("source_key", records["source"], records["source_patient_key"]))
    return sorted((s, k, e) for (s, k), e in found.items())


def _suppressed_unionids(engine: Engine, indexer: BlindIndexer,
                         suppression: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """(unionid, erasure_id) of unchecked std rows keyed by a suppressed unionid only (app
    events, telemetry)."""
    values: set[str] = set()
    for table, cols in _tables(engine, ["std"]).items():
        for col in ("unionid", "wechat_unionid"):
            if col in cols and table != fields.PATIENT:   # its records are matched by suppressed_records
                values |= {r[0] for r in engine.rows(
                    f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL AND {_UNCHECKED}")}
    ordered = sorted(values)
    return [(u, suppression[("unionid", v)]) for u, v in zip(ordered, indexer.column("unionid", ordered), strict=True)
            if ("unionid", v) in suppression]


def apply_suppression(engine: Engine, indexer: BlindIndexer | None = None) -> dict[str, int]:
    """Remove (or pseudonymise, where the erasure kept aggregates) every raw and std row of
    an erased person that a load brought back; returns rows removed per table.

    Only rows of loads not yet checked since the last erasure are read (an erasure resets
    the bookkeeping, so its first check reads everything): the cost follows the new data.
    """
    suppression = _suppression(engine)
    if not suppression:
        return {}
    indexer = indexer or _configured_indexer(engine, len(suppression))
    groups: dict[str, tuple[list, list]] = {}
    for s, k, e in suppressed_records(engine, indexer, only_unchecked=True):
        groups.setdefault(e, ([], []))[0].append((s, k))
    for u, e in _suppressed_unionids(engine, indexer, suppression):
        groups.setdefault(e, ([], []))[1].append((u,))
    if not groups:
        _mark_checked(engine)
        return {}
    keep = dict(engine.rows("SELECT erasure_id, keep_aggregates FROM privacy.erasure"))
    tables = _tables(engine, ["raw", "std", "quarantine"])
    removed: dict[str, int] = {}
    with engine.transaction():
        for erasure_id, (pairs, unionids) in sorted(groups.items()):
            _fill(engine, "_p_ids", [])
            _fill(engine, "_p_records", pairs)
            _fill(engine, "_p_uids", [(f"{s}:{k}",) for s, k in pairs])
            _fill(engine, "_p_unionids", unionids)
            conditions = _prepare(engine, tables)
            _suppress(engine, [("source_key", v) for v in indexer.column(
                "source_key", [s for s, _ in pairs], [k for _, k in pairs]) if v], erasure_id)
            for table, n in _remove(engine, tables, conditions, bool(keep.get(erasure_id)),
                                    f"erased:{erasure_id}").items():
                removed[table] = removed.get(table, 0) + n
        _mark_checked(engine)
    return removed


def _mark_checked(engine: Engine) -> None:
    engine.execute("INSERT INTO privacy.suppression_checked SELECT load_id, now() FROM ops.load "
                   "ON CONFLICT DO NOTHING")
