"""Personal values of the raw and quarantine layers, stored as field tokens.

A raw row's personal cells (the headers a source mapping feeds into a ``pii`` contract
column) and its reader's problem detail (the unreadable line, quoted) are sealed with
:class:`~molar.privacy.crypto.FieldCipher`, bound to the raw table, the header and the row
(``_load_id:_row_number:_part``; an XLSX file numbers rows per sheet). Which raw columns
are sealed is recorded in ``privacy.sealed_column`` so readers never guess.

A quarantined value is sealed when its field is personal or is a whole unreadable line
(``value_sealed``), bound to ``load_id:row_number:field``.

A row the reader could not read as a record (too few or too many cells, a broken quote)
may hold a mobile in any column: its cells are kept only inside its sealed problem
detail.

Ingest works on a plaintext copy of the rows in a TEMP table (it lives in the connection,
never in the file) and writes only the sealed rows to the raw table.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from molar.privacy.crypto import ENCRYPTED_COLUMNS, EncryptedColumn, FieldCipher
from molar.warehouse import Engine

PROBLEM_DETAIL = "_problem_detail"   # the reader's quote of a line it could not read
RAW_RECORD_KEY = "_load_id || ':' || _row_number || ':' || coalesce(_part, '')"
ISSUE = "quarantine.issue"
ISSUE_RECORD_KEY = "load_id || ':' || row_number || ':' || coalesce(field, '')"
HIDDEN = "***"   # what a caller who may not read personal values sees instead of one


def _raw_keys(table: pa.Table) -> pa.Array:
    part = pc.fill_null(table["_part"].cast(pa.string()), "")
    return pc.binary_join_element_wise(table["_load_id"], table["_row_number"].cast(pa.string()), part, ":")


def register(engine: Engine, raw_table: str, headers: Sequence[str]) -> None:
    """Record that ``headers`` (and the problem detail) of ``raw_table`` are stored sealed."""
    for column in (*headers, PROBLEM_DETAIL):
        engine.execute("INSERT INTO privacy.sealed_column VALUES (?, ?) ON CONFLICT DO NOTHING", [raw_table, column])


def sealed_columns(engine: Engine, raw_table: str | None = None) -> dict[str, list[str]]:
    """Sealed columns by raw table (of one table, when given)."""
    out: dict[str, list[str]] = {}
    for table, column in engine.rows(
            "SELECT table_name, column_name FROM privacy.sealed_column WHERE ? IS NULL OR table_name = ? "
            "ORDER BY ALL", [raw_table, raw_table]):
        out.setdefault(table, []).append(column)
    return out


def every_sealed_column(engine: Engine) -> list[EncryptedColumn]:
    """Every column of the warehouse that holds tokens: the fixed ones
    (:data:`~molar.privacy.crypto.ENCRYPTED_COLUMNS`), the sealed raw columns recorded in
    ``privacy.sealed_column`` and sealed quarantined values. Key rotation walks this list."""
    raw = [EncryptedColumn(table, column, RAW_RECORD_KEY)
           for table, columns in sealed_columns(engine).items() if engine.table_exists(table) for column in columns]
    return [*ENCRYPTED_COLUMNS, *raw, EncryptedColumn(ISSUE, "value", ISSUE_RECORD_KEY, "value_sealed")]


def _apply(table: pa.Table, raw_table: str, columns: Sequence[str], cipher: FieldCipher, seal: bool) -> pa.Table:
    if table.num_rows == 0:
        return table
    keys = _raw_keys(table)
    run = cipher.encrypt_arrow if seal else cipher.decrypt_arrow
    for column in columns:
        if column in table.column_names:
            i = table.column_names.index(column)
            table = table.set_column(i, column, run(table[column].cast(pa.string()), raw_table, column, keys))
    return table


def seal_raw(table: pa.Table, raw_table: str, columns: Sequence[str], cipher: FieldCipher) -> pa.Table:
    """Raw rows (with ``_load_id``, ``_row_number``, ``_part``) with ``columns`` sealed."""
    return _apply(table, raw_table, columns, cipher, seal=True)


def open_raw(table: pa.Table, raw_table: str, columns: Sequence[str], cipher: FieldCipher) -> pa.Table:
    """The inverse of :func:`seal_raw`."""
    return _apply(table, raw_table, columns, cipher, seal=False)


def copy_sealed(engine: Engine, rows: str, raw_table: str, columns: Sequence[str], cipher: FieldCipher,
                chunk: int = 200_000) -> None:
    """Append the rows of the query ``rows`` to ``raw_table`` with ``columns`` and the
    problem detail sealed."""
    register(engine, raw_table, columns)
    sealed = [*columns, PROBLEM_DETAIL]
    for batch in engine.arrow(rows).to_batches(max_chunksize=chunk):
        engine.append(raw_table, seal_raw(pa.Table.from_batches([batch]), raw_table, sealed, cipher))


def seal_issues(table: pa.Table, cipher: FieldCipher) -> pa.Table:
    """Issue rows shaped like quarantine.issue plus ``_k`` (their record key): ``value``
    sealed where ``value_sealed``; ``_k`` dropped."""
    flag = pc.fill_null(table["value_sealed"], False)
    tokens = cipher.encrypt_arrow(pc.if_else(flag, table["value"], None), ISSUE, "value", table["_k"])
    i = table.column_names.index("value")
    return table.set_column(i, "value", pc.if_else(flag, tokens, table["value"])).drop_columns(["_k"])


def issue_record_keys(table: pa.Table) -> list[str]:
    """:data:`ISSUE_RECORD_KEY` of issue rows already read."""
    return [f"{load_id}:{number}:{field or ''}" for load_id, number, field in zip(
        table["load_id"].to_pylist(), table["row_number"].to_pylist(), table["field"].to_pylist(), strict=True)]


def issue_values(values: Sequence[str | None], sealed: Sequence[bool | None], record_keys: Sequence[str],
                 cipher: FieldCipher | None) -> list[str | None]:
    """Quarantined values as a caller sees them: sealed ones opened with ``cipher``, or
    :data:`HIDDEN` without one."""
    out = list(values)
    for i, (value, is_sealed, key) in enumerate(zip(values, sealed, record_keys, strict=True)):
        if is_sealed and value is not None:
            out[i] = cipher.decrypt(value, ISSUE, "value", key) if cipher else HIDDEN
    return out
