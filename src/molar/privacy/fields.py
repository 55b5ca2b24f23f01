"""Personal columns: sealed when written, opened only where a step needs them.

``std.patient`` keeps its personal columns as :mod:`molar.privacy.crypto` tokens bound to
the record (``source:source_patient_key``) and gains blind indexes (``mobile_bi``,
``id_number_bi``, ``unionid_bi``) for lookups by equality. Derived, non-identifying
columns (birth date, sex, district, registration) stay plaintext. The golden record
``identity.patient`` is sealed the same way, bound to its ``golden_id``. Other tables with
encrypted columns (free text, messages; :data:`molar.privacy.crypto.ENCRYPTED_COLUMNS`) are
bound to a record key column of their own: :func:`seal_rows` and :func:`open_rows`.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from molar.privacy import keys
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import ENCRYPTED_COLUMNS, EncryptedColumn, FieldCipher
from molar.warehouse import Engine

PATIENT = "std.patient"
PATIENT_SEALED = tuple(c.column for c in ENCRYPTED_COLUMNS if c.table == PATIENT)
# blind-index column -> (kind, plaintext column)
PATIENT_INDEXES = {"mobile_bi": ("mobile", "mobile"), "id_number_bi": ("id_number", "id_number"),
                   "unionid_bi": ("unionid", "wechat_unionid")}
GOLDEN = "identity.patient"
GOLDEN_SEALED = tuple(c.column for c in ENCRYPTED_COLUMNS if c.table == GOLDEN)
PLAIN_PATIENT = "_std_patient_plain"   # TEMP table: lives in the connection, never in the file


def sealed_columns(table: str) -> list[EncryptedColumn]:
    """The encrypted columns of a warehouse table (``schema.table``)."""
    return [c for c in ENCRYPTED_COLUMNS if c.table == table]


def cipher_for(engine: Engine, keyring: keys.Keyring | None = None) -> FieldCipher:
    return FieldCipher(keyring or keys.open_keyring_from(None, engine))


def seal_rows(table: str, rows: pa.Table, cipher: FieldCipher) -> pa.Table:
    """``rows`` (shaped like ``table``, plaintext) with the table's encrypted columns sealed,
    each value bound to its row's record key column. Blank text becomes NULL: it carries
    nothing, and readers filter it out without decrypting."""
    for col in sealed_columns(table):
        if col.column in rows.column_names:
            i = rows.column_names.index(col.column)
            values = rows[col.column].cast(pa.string())
            values = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), None, values)
            rows = rows.set_column(i, col.column, cipher.encrypt_arrow(values, table, col.column, rows[col.record_key]))
    return rows


def open_rows(table: str, rows: pa.Table, cipher: FieldCipher, key: str | None = None) -> pa.Table:
    """``rows`` read from ``table`` with its encrypted columns decrypted; ``key`` names the
    record key column when the query renamed it."""
    for col in sealed_columns(table):
        if col.column in rows.column_names:
            i = rows.column_names.index(col.column)
            rows = rows.set_column(i, col.column, cipher.decrypt_arrow(rows[col.column], table, col.column,
                                                                       rows[key or col.record_key]))
    return rows


def _record_keys(table: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(table["source"], table["source_patient_key"], ":")


def _seal(table: pa.Table, keyring: keys.Keyring, name: str, sealed: tuple[str, ...],
          record_keys: pa.Array) -> pa.Table:
    cipher, indexer = FieldCipher(keyring), BlindIndexer.from_keyring(keyring)
    for index, (kind, column) in PATIENT_INDEXES.items():
        if column in table.column_names:
            table = table.append_column(index, pa.array(indexer.column(kind, table[column]), pa.string()))
    for column in sealed:
        if column in table.column_names:
            i = table.column_names.index(column)
            table = table.set_column(i, column, cipher.encrypt_arrow(table[column], name, column, record_keys))
    return table


def seal_patients(table: pa.Table, keyring: keys.Keyring) -> pa.Table:
    """``table`` (shaped like std.patient, plaintext) with its personal columns encrypted
    and its blind-index columns filled."""
    return _seal(table, keyring, PATIENT, PATIENT_SEALED, _record_keys(table))


def seal_golden(table: pa.Table, keyring: keys.Keyring) -> pa.Table:
    """``table`` (shaped like identity.patient, plaintext) sealed like :func:`seal_patients`,
    bound to ``golden_id``."""
    return _seal(table, keyring, GOLDEN, GOLDEN_SEALED, table["golden_id"])


def read_golden(engine: Engine, columns: str = "*", where: str = "", params: list | None = None,
                keyring: keys.Keyring | None = None) -> pa.Table:
    """``SELECT <columns> FROM identity.patient <where>`` with the personal columns
    decrypted; ``columns`` are plain column names (or ``*``)."""
    table = engine.arrow(f"SELECT golden_id AS _g, {columns} FROM {GOLDEN} {where}", params)
    sealed = [c for c in GOLDEN_SEALED if c in table.column_names]
    if sealed and table.num_rows:
        cipher = FieldCipher(keyring or keys.open_keyring_from(None, engine))
        for column in sealed:
            i = table.column_names.index(column)
            table = table.set_column(i, column, cipher.decrypt_arrow(table[column], GOLDEN, column, table["_g"]))
    return table.drop_columns(["_g"])


def read_patients(engine: Engine, columns: str = "*", where: str = "", params: list | None = None,
                  keyring: keys.Keyring | None = None) -> pa.Table:
    """``SELECT source, source_patient_key, <columns> FROM std.patient <where>`` with the
    personal columns decrypted (the only way to read them)."""
    table = engine.arrow(f"SELECT source AS _s, source_patient_key AS _k, {columns} FROM {PATIENT} {where}", params)
    record_keys = pc.binary_join_element_wise(table["_s"], table["_k"], ":")
    sealed = [c for c in PATIENT_SEALED if c in table.column_names]
    if sealed and table.num_rows:
        cipher = FieldCipher(keyring or keys.open_keyring_from(None, engine))
        for column in sealed:
            i = table.column_names.index(column)
            table = table.set_column(i, column, cipher.decrypt_arrow(table[column], PATIENT, column, record_keys))
    return table.drop_columns(["_s", "_k"])


def open_patients(engine: Engine, keyring: keys.Keyring | None = None) -> str:
    """Decrypt std.patient into the TEMP table :data:`PLAIN_PATIENT` (same columns) and return
    its name; :func:`close_patients` drops it."""
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {PLAIN_PATIENT} AS SELECT * FROM {PATIENT} LIMIT 0")
    engine.append(PLAIN_PATIENT, read_patients(engine, keyring=keyring))
    return PLAIN_PATIENT


def close_patients(engine: Engine) -> None:
    engine.execute(f"DROP TABLE IF EXISTS {PLAIN_PATIENT}")
