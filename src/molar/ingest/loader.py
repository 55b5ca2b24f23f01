"""Load one source file: land it raw, standardise each target table, quarantine what fails.

A file loads inside one transaction: an interrupted load leaves nothing behind and the
next run loads it again. The rows land in a TEMP table (:data:`LANDED`, in the connection,
never in the file) where they are checked and standardised; the raw table receives them
with their personal cells sealed (:mod:`molar.privacy.sealed`). Row accounting (read = loaded + quarantined) is checked before
the commit for every canonical table the file feeds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from molar.ingest.mapping import LOOKUPS, FileMap, TableMap
from molar.ingest.problems import IGNORABLE, problem_catalogue
from molar.ingest.sqlgen import StageSQL, build_stage_sql, ident, literal
from molar.ingest.unload import unload
from molar.privacy import fields, keys, sealed
from molar.privacy.crypto import FieldCipher
from molar.sources import PART, PROBLEM, PROBLEM_DETAIL, ROW_NUMBER, FileRejected, SourceFile
from molar.warehouse import Engine

Progress = Callable[[int], None]

IGNORABLE_SQL = ", ".join(literal(c) for c in IGNORABLE)
SOFT_EN = " The row was loaded without this value."
SOFT_ZH = "该行已导入，此字段留空。"
TOTALS_LABEL = r"(本页|全部|总|合)?(合计|总计|小计|总和)[:：]?"
LANDED = "_landed"   # this load's raw rows in plaintext: TEMP, dropped before the commit
TOTALS_CELL = r"(本页|全部|总|合)?(合计|总计|小计|总和)[:：]?|[-+¥￥0-9.,，元]*|共?[0-9]+(条|行|人|笔|项|次|张)"


class AccountingError(RuntimeError):
    """Rows read did not equal rows loaded plus rows quarantined; the load was rolled back."""


@dataclass
class TargetResult:
    table: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_warned: int = 0
    rows_inserted: int = 0
    rows_replaced: int = 0
    rows_merged: int = 0  # lines rolled up into the row of an earlier line with the same key


@dataclass
class LoadResult:
    file: str
    status: str  # complete | skipped | rejected
    source: str | None = None
    entry: str | None = None
    load_id: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_ignored: int = 0  # blank lines and totals rows (合计/总计/小计): not records
    targets: list[TargetResult] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    other_values: dict[str, int] = field(default_factory=dict)  # names loaded under the `other` code
    message_en: str | None = None
    message_zh: str | None = None
    seconds: float = 0.0

    @property
    def rows_loaded(self) -> int:
        return min((t.rows_loaded for t in self.targets), default=0)

    @property
    def rows_quarantined(self) -> int:
        return max((t.rows_quarantined for t in self.targets), default=0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows_loaded"] = self.rows_loaded
        d["rows_quarantined"] = self.rows_quarantined
        return d


def _already_loaded(engine: Engine, sha256: str, file_map: FileMap) -> str | None:
    """A complete load of the same content under the same mapping (loads recorded before
    mappings were fingerprinted count as the same mapping)."""
    return engine.scalar(
        "SELECT load_id FROM ops.load WHERE file_sha256 = ? AND entry = ? AND status = 'complete' "
        "AND coalesce(mapping_sha256, ?) = ? LIMIT 1",
        [sha256, file_map.entry, file_map.fingerprint, file_map.fingerprint],
    )


def _loaded_under_other_mapping(engine: Engine, sha256: str, file_map: FileMap) -> list[str]:
    return [r for (r,) in engine.rows(
        "SELECT load_id FROM ops.load WHERE file_sha256 = ? AND entry = ? AND status = 'complete' "
        "AND mapping_sha256 <> ?",
        [sha256, file_map.entry, file_map.fingerprint],
    )]


def _record_load(
    engine: Engine, result: LoadResult, sf: SourceFile | None, started: datetime, fingerprint: str | None = None
) -> None:
    engine.execute(
        "INSERT INTO ops.load (load_id, source, entry, file_path, file_sha256, file_bytes, encoding, status, "
        "rows_read, rows_loaded, rows_quarantined, rows_warned, message_en, message_zh, started_at, finished_at, "
        "rows_ignored, mapping_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.load_id,
            result.source,
            result.entry,
            result.file,
            sf.sha256 if sf else None,
            sf.size if sf else None,
            result.encoding,
            result.status,
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            max((t.rows_warned for t in result.targets), default=0),
            result.message_en,
            result.message_zh,
            started,
            datetime.now(),
            result.rows_ignored,
            fingerprint,
        ],
    )


def reject(engine: Engine, path: Path, exc: FileRejected, file_map: FileMap | None = None, sf: SourceFile | None = None) -> LoadResult:
    """Record a file that cannot be loaded at all; nothing else is touched."""
    result = LoadResult(
        file=str(path),
        status="rejected",
        source=file_map.source if file_map else None,
        entry=file_map.entry if file_map else None,
        load_id=uuid.uuid4().hex[:16],
        encoding=sf.encoding if sf else None,
        reasons={exc.code: 1},
        message_en=exc.message_en,
        message_zh=exc.message_zh,
    )
    _record_load(engine, result, sf, datetime.now())
    return result


RAW_META = ("_load_id VARCHAR", "_row_number BIGINT", "_part VARCHAR", "_problem VARCHAR", "_problem_detail VARCHAR")


def _ensure_raw_table(engine: Engine, file_map: FileMap, headers: list[str]) -> None:
    table = file_map.raw_table
    meta = list(RAW_META)
    if not engine.table_exists(table):
        cols = [f"{ident(h)} VARCHAR" for h in headers] + meta
        engine.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
        return
    have = set(engine.columns(table))
    for h in headers:
        if h not in have:
            engine.execute(f"ALTER TABLE {table} ADD COLUMN {ident(h)} VARCHAR")


def _raw_rows(headers: list[str]) -> str:
    """The landed rows as the raw table keeps them: a row the reader could not read as a
    record has its cells (which may sit in the wrong columns) only in its problem detail."""
    cells = [ident(h) for h in headers]
    unreadable = f"{PROBLEM} IS NOT NULL AND {PROBLEM} NOT IN ({IGNORABLE_SQL}, 'duplicate_row')"
    moved = ", ".join(f"CASE WHEN {unreadable} THEN NULL ELSE {c} END AS {c}" for c in cells)
    detail = (f"CASE WHEN {unreadable} THEN concat_ws(' ', {PROBLEM_DETAIL}, to_json([{', '.join(cells)}])) "
              f"ELSE {PROBLEM_DETAIL} END AS {PROBLEM_DETAIL}")
    return f"SELECT * REPLACE ({moved}, {detail}) FROM {LANDED}"


def _mark_ignorable(engine: Engine, headers: list[str], load_id: str) -> int:
    """Rows with every cell empty (`,,,,`) and totals rows (合计/总计/小计 in a cell, the
    rest numbers, counts or blank) are not records: mark them, like blank lines, so they
    are reported as ignored and not loaded."""
    texts = [f"trim(coalesce({ident(h)}, ''))" for h in headers]
    engine.execute(
        f"UPDATE {LANDED} SET _problem = 'blank_line' "
        f"WHERE _load_id = ? AND _problem IS NULL AND {' AND '.join(f'{t} = ' + chr(39) * 2 for t in texts)}",
        [load_id],
    )
    label = " OR ".join(f"regexp_full_match({t}, '{TOTALS_LABEL}')" for t in texts)
    rest = " AND ".join(f"regexp_full_match({t}, '{TOTALS_CELL}')" for t in texts)
    engine.execute(
        f"UPDATE {LANDED} SET _problem = 'totals_row' "
        f"WHERE _load_id = ? AND _problem IS NULL AND ({label}) AND ({rest})",
        [load_id],
    )
    return engine.scalar(
        f"SELECT count(*) FROM {LANDED} WHERE _load_id = ? AND _problem IN ({IGNORABLE_SQL})", [load_id]
    )


def _check_headers(sf: SourceFile, file_map: FileMap) -> list[str]:
    """Headers present in a CSV; reject when a header for a required column is absent."""
    present = sf.headers()
    if present is None:
        return file_map.headers
    missing_required = []
    for table in file_map.tables:
        for cm in table.columns:
            if cm.header and cm.header not in present:
                col = table.contract.column(cm.column)
                if col.required or cm.column in table.contract.key:
                    missing_required.append(cm.header)
    if missing_required:
        missing = list(dict.fromkeys(missing_required))
        raise FileRejected(
            "header_missing",
            f"{sf.path.name}: required columns missing from the header row: {', '.join(missing)}; "
            f"found: {', '.join(present)}",
            f"{sf.path.name}：表头缺少必需的列：{'、'.join(missing)}；实际表头：{'、'.join(present)}",
        )
    return present


def load_file(
    engine: Engine,
    path: Path,
    file_map: FileMap,
    *,
    today: date,
    progress: Progress | None = None,
    force: bool = False,
) -> LoadResult:
    started = datetime.now()
    try:
        sf = SourceFile.open(path)
    except FileRejected as exc:
        return reject(engine, path, exc, file_map)
    previous = None if force else _already_loaded(engine, sf.sha256, file_map)
    if previous:
        return LoadResult(
            file=str(path), status="skipped", source=file_map.source, entry=file_map.entry,
            load_id=previous, encoding=sf.encoding,
            message_en=f"already loaded as {previous} (same content)",
            message_zh=f"相同内容已于批次 {previous} 导入，跳过",
        )
    try:
        headers = _check_headers(sf, file_map)
    except FileRejected as exc:
        return reject(engine, path, exc, file_map, sf)

    load_id = uuid.uuid4().hex[:16]
    result = LoadResult(str(path), "complete", file_map.source, file_map.entry, load_id, sf.encoding)
    # Created before the transaction: DuckDB 2.0 does not show rows of a large insert into
    # a TEMP table created in the same transaction.
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {LANDED} ({', '.join([*(f'{ident(h)} VARCHAR' for h in headers), *RAW_META])})")
    try:
        with engine.transaction():
            # The same file under a changed mapping replaces its earlier load (keys may differ).
            unload(engine, _loaded_under_other_mapping(engine, sf.sha256, file_map), status="replaced")
            _ensure_raw_table(engine, file_map, headers)
            for batch in sf.batches(file_map.headers):
                batch = batch.append_column("_load_id", pa.array([load_id] * batch.num_rows, pa.string()))
                result.rows_read += engine.append(LANDED, batch)
                if progress:
                    progress(batch.num_rows)
            result.rows_ignored = _mark_ignorable(engine, headers or file_map.headers, load_id)
            result.rows_read -= result.rows_ignored
            if result.rows_read == 0:
                raise FileRejected(
                    "file_no_rows",
                    f"{path.name} has a header but no data rows; nothing to load",
                    f"{path.name} 只有表头，没有数据行；没有可导入的内容",
                )
            _mark_duplicates(engine, file_map, load_id)
            cipher = FieldCipher(keys.open_keyring_from(None, engine))
            sealed.copy_sealed(engine, _raw_rows(headers), file_map.raw_table, file_map.personal_headers, cipher)
            for table_map in file_map.tables:
                _stage(engine, file_map, table_map, load_id, str(path), headers, today, cipher)
            _reject_whole_rows(file_map, engine)
            for table_map in file_map.tables:
                result.targets.append(_finish(engine, file_map, table_map, load_id, str(path)))
            result.reasons, result.warnings = ({
                code: n for code, sev, n in engine.rows(
                    "SELECT code, severity, count(DISTINCT (target_table, row_number, file_path)) FROM quarantine.issue "
                    "WHERE load_id = ? GROUP BY ALL ORDER BY 3 DESC",
                    [load_id],
                ) if sev == severity
            } for severity in ("error", "warning"))
            result.other_values = dict(engine.rows(
                "SELECT value, count(DISTINCT row_number) FROM quarantine.issue WHERE load_id = ? "
                "AND code = 'code_kept_as_other' GROUP BY value ORDER BY 2 DESC, 1",
                [load_id],
            ))
            result.seconds = (datetime.now() - started).total_seconds()
            _record_load(engine, result, sf, started, file_map.fingerprint)
    except FileRejected as exc:
        return reject(engine, path, exc, file_map, sf)
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {LANDED}")
    return result


def _staged(table_map: TableMap) -> str:
    return f"_staged_{table_map.contract.name}"


def _stage(
    engine: Engine,
    file_map: FileMap,
    table_map: TableMap,
    load_id: str,
    file_path: str,
    headers: list[str],
    today: date,
    cipher: FieldCipher,
) -> None:
    """Standardise one target table's rows into a temp table and quarantine their problems."""
    sql: StageSQL = build_stage_sql(table_map, set(headers), today, LANDED)
    _problem_texts(engine, sql)
    for statement in sql.distinct:
        engine.execute(statement, [load_id])
    engine.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS {sql.stage}", [load_id])
    for statement in sql.lookups:
        engine.execute(statement)
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {_staged(table_map)} AS {sql.resolved}")
    engine.execute("DROP TABLE _stage")
    _quarantine(engine, file_map, _staged(table_map), table_map.contract.name, load_id, file_path, cipher)


def _reject_whole_rows(file_map: FileMap, engine: Engine) -> None:
    """A row that feeds several tables (a visit line: visit, treatment, charge) is one
    record: an error for any table keeps it out of all of them."""
    if len(file_map.tables) < 2:
        return
    union = " UNION ".join(
        f"SELECT {ROW_NUMBER}, coalesce({PART}, '') AS pt FROM {_staged(t)} WHERE _is_error" for t in file_map.tables
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE _bad_rows AS {union}")
    for t in file_map.tables:
        engine.execute(
            f"UPDATE {_staged(t)} SET _is_error = true WHERE NOT _is_error "
            f"AND ({ROW_NUMBER}, coalesce({PART}, '')) IN (SELECT ({ROW_NUMBER}, pt) FROM _bad_rows)"
        )
    engine.execute("DROP TABLE _bad_rows")


def _finish(engine: Engine, file_map: FileMap, table_map: TableMap, load_id: str, file_path: str) -> TargetResult:
    """Publish the good rows of one target table and check its accounting."""
    name = table_map.contract.name
    staged = _staged(table_map)
    replaced, keys = _publish(engine, table_map, staged, load_id)
    read, loaded, quarantined, warned = engine.rows(
        f"SELECT count(*), count(*) FILTER (NOT _is_error), count(*) FILTER (_is_error), "
        f"count(*) FILTER (NOT _is_error AND _has_warning) FROM {staged}"
    )[0]
    _check_accounting(engine, file_map, name, load_id, file_path, loaded - keys)
    target = TargetResult(name, read, loaded, quarantined, warned, keys - replaced, replaced, loaded - keys)
    engine.execute(
        "INSERT INTO ops.load_target (load_id, target_table, rows_read, rows_loaded, rows_quarantined, rows_warned, "
        "rows_inserted, rows_replaced, rows_merged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, name, read, loaded, quarantined, warned, target.rows_inserted, replaced, target.rows_merged],
    )
    engine.execute(f"DROP TABLE {staged}")
    return target


def _mark_duplicates(engine: Engine, file_map: FileMap, load_id: str) -> None:
    """Rows equal to an earlier row on the file's `duplicates:` headers are a repeated export."""
    if not file_map.duplicates:
        return
    cols = ", ".join(ident(h) for h in file_map.duplicates)
    engine.execute(
        f"""
        UPDATE {LANDED} r SET _problem = 'duplicate_row', _problem_detail = CAST(d.first AS VARCHAR)
        FROM (
            SELECT {ROW_NUMBER} AS rn, coalesce({PART}, '') AS pt,
                   first({ROW_NUMBER}) OVER w AS first, row_number() OVER w AS k
            FROM {LANDED} WHERE _load_id = ? AND _problem IS NULL
            WINDOW w AS (PARTITION BY {cols} ORDER BY {ROW_NUMBER}, {PART})
        ) d
        WHERE r._load_id = ? AND r.{ROW_NUMBER} = d.rn AND coalesce(r.{PART}, '') = d.pt AND d.k > 1
        """,
        [load_id, load_id],
    )


def _problem_texts(engine: Engine, sql: StageSQL) -> None:
    """Reasons by code, and the same reasons completed with each column's settings."""
    catalogue = problem_catalogue()
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _problem_text (field VARCHAR, code VARCHAR, severity VARCHAR, en VARCHAR, zh VARCHAR)"
    )
    severity = {p.code: p.severity for p in catalogue}
    rows = [(None, p.code, p.severity, p.message_en, p.message_zh) for p in catalogue]
    specific = {(field, code): (en, zh) for field, code, en, zh in sql.messages}  # one per field and code
    rows += [(field, code, severity.get(code, "error"), en, zh) for (field, code), (en, zh) in specific.items()]
    engine.append("_problem_text", pa.table(dict(zip(
        ("field", "code", "severity", "en", "zh"), (list(col) for col in zip(*rows, strict=True)), strict=True
    ))))


def _shape(value: str, lang: str) -> str:
    """SQL: what a reason says instead of a personal value: its length and kind."""
    digits, chars = ("位数字", "个字符") if lang == "zh" else (" digits", " characters")
    return (f"CASE WHEN {value} IS NULL THEN '' WHEN regexp_full_match({value}, '[0-9]+') "
            f"THEN length({value}) || '{digits}' ELSE length({value}) || '{chars}' END")


def _quarantine(engine: Engine, file_map: FileMap, staged: str, table: str, load_id: str, file_path: str,
                cipher: FieldCipher) -> None:
    """Every problem of every row, with the offending value and a readable reason. A soft
    problem (the column's policy is null_with_warning) is a warning: the row loads without
    the value. A personal value (a personal header's, or a whole unreadable line) is stored
    sealed, and its reason names the field and the value's shape instead of quoting it."""
    issues = f"SELECT {ROW_NUMBER}, _part, unnest(_issues) AS i FROM {staged}"
    soft = "u.i.soft AND coalesce(t.severity, 'error') = 'error'"
    personal = (f"(u.i.field IS NULL OR list_has_any(string_split(u.i.field, ', '), "
                f"CAST([{', '.join(literal(h) for h in file_map.personal_headers)}] AS VARCHAR[])))")

    def reason(lang: str) -> str:
        text = f"coalesce(f.{lang}, t.{lang})"
        shown = f"CASE WHEN {personal} THEN {_shape('u.i.value', lang)} ELSE coalesce(u.i.value, '') END"
        named = (f"CASE WHEN {personal} AND u.i.field IS NOT NULL AND NOT contains({text}, '{{field}}') "
                 f"THEN u.i.field || ': ' ELSE '' END")
        filled = f"replace(replace({text}, '{{value}}', {shown}), '{{field}}', coalesce(u.i.field, ''))"
        tail = literal(SOFT_ZH if lang == "zh" else SOFT_EN)
        return f"{named} || {filled} || CASE WHEN {soft} THEN {tail} ELSE '' END"

    engine.execute(f"CREATE OR REPLACE TEMP TABLE _new_issue AS SELECT * FROM {sealed.ISSUE} LIMIT 0")
    engine.execute(
        f"""
        INSERT INTO _new_issue (load_id, source, entry, target_table, file_path, row_number, field, value, code,
                                severity, reason_en, reason_zh, value_sealed)
        SELECT ?, ?, ?, ?, ? || coalesce('#' || u._part, ''), u.{ROW_NUMBER}, u.i.field, u.i.value,
               u.i.code, CASE WHEN {soft} THEN 'warning' ELSE t.severity END,
               {reason("en")}, {reason("zh")}, {personal}
        FROM ({issues}) u
        LEFT JOIN _problem_text t ON t.code = u.i.code AND t.field IS NULL
        LEFT JOIN _problem_text f ON f.code = u.i.code AND f.field = u.i.field
        """,
        [load_id, file_map.source, file_map.entry, table, file_path],
    )
    unknown = engine.scalar("SELECT string_agg(DISTINCT code, ', ') FROM _new_issue WHERE severity IS NULL")
    if unknown:
        raise RuntimeError(f"problem codes without a message: {unknown}")
    new = engine.arrow(f"SELECT *, {sealed.ISSUE_RECORD_KEY} AS _k FROM _new_issue")
    if new.num_rows:
        engine.append(sealed.ISSUE, sealed.seal_issues(new, cipher))
    engine.execute("DROP TABLE _new_issue")


def _publish(engine: Engine, table_map: TableMap, staged: str, load_id: str) -> tuple[int, int]:
    """Good rows replace earlier rows with the same key in std. Returns (rows replaced,
    rows written). A rolled-up table writes one row per key: the sum of `sum` columns,
    the first non-empty value (in file order) of the others."""
    contract = table_map.contract
    key = ", ".join(contract.key)
    good = f"(SELECT {key} FROM {staged} WHERE NOT _is_error)"
    replaced = engine.scalar(f"SELECT count(*) FROM std.{contract.name} WHERE ({key}) IN {good}")
    if replaced:
        engine.execute(f"DELETE FROM std.{contract.name} WHERE ({key}) IN {good}")
    cols = ", ".join(contract.column_names)
    if table_map.rollup is None:
        select = f"SELECT {cols}, ? AS _load_id, {ROW_NUMBER} AS _row_number FROM {staged} WHERE NOT _is_error"
    else:
        how = table_map.rollup
        values = [  # named, because the patient path appends by column name
            c if c in contract.key
            else f"sum({c}) AS {c}" if how.get(c) == "sum"
            else f"arg_min({c}, {ROW_NUMBER}) FILTER (WHERE {c} IS NOT NULL) AS {c}"
            for c in contract.column_names
        ]
        select = (f"SELECT {', '.join(values)}, ? AS _load_id, min({ROW_NUMBER}) AS _row_number FROM {staged} "
                  f"WHERE NOT _is_error GROUP BY {key}")
    target = f"std.{contract.name}"
    if target == fields.PATIENT:   # personal columns are written encrypted only
        engine.append(fields.PATIENT, fields.seal_patients(engine.arrow(select, [load_id]),
                                                           keys.open_keyring_from(None, engine)))
    elif fields.sealed_columns(target):
        engine.append(target, fields.seal_rows(target, engine.arrow(select, [load_id]), fields.cipher_for(engine)))
    else:
        engine.execute(f"INSERT INTO std.{contract.name} ({cols}, _load_id, _row_number) {select}", [load_id])
    written = engine.scalar(f"SELECT count(*) FROM std.{contract.name} WHERE _load_id = ?", [load_id])
    return replaced, written


def _check_accounting(engine: Engine, file_map: FileMap, table: str, load_id: str, file_path: str, merged: int) -> None:
    """Every record that landed raw is in std (or merged into a row there) or in the
    quarantine — counted from those tables, not from the staging flags."""
    landed = engine.scalar(
        f"SELECT count(*) FROM {file_map.raw_table} WHERE _load_id = ? AND coalesce(_problem, '') NOT IN ({IGNORABLE_SQL})",
        [load_id],
    )
    written = engine.scalar(f"SELECT count(*) FROM std.{table} WHERE _load_id = ?", [load_id])
    quarantined = engine.scalar(
        "SELECT count(DISTINCT (row_number, file_path)) FROM quarantine.issue WHERE load_id = ? AND severity = 'error'",
        [load_id],
    )
    if landed != written + merged + quarantined:
        raise AccountingError(
            f"{file_path} → {table}: {landed} rows landed ≠ {written} in std.{table} + {merged} merged "
            f"into them + {quarantined} quarantined"
        )


__all__ = ["LOOKUPS", "AccountingError", "LoadResult", "TargetResult", "load_file", "reject"]
