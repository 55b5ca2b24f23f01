"""SQL that turns one load's raw rows into canonical rows plus their problems.

Pure DuckDB-dialect SQL built from the mapping and the standardisers, so the same
statements can be transpiled for another engine. Four parts, in the order they run:

1. ``column_sql``: each canonical column's value, problem and raw text (per distinct raw
   value where standardising is costly), with Excel damage recognised first;
2. ``lookups.lookup_sql``: clinic and doctor names resolved to IDs;
3. ``_row_checks``: required fields and cross-field warnings;
4. ``_resolved_sql``: every issue of a row in one list, the error flag, duplicate keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from molar.ingest.kinds import kind_of, standardiser_for
from molar.ingest.lookups import lookup_sql
from molar.ingest.mapping import ColumnMap, TableMap
from molar.ingest.problems import EXCEL_DAMAGE, IGNORABLE, error_codes
from molar.ingest.standardise import Standardiser, id_birth_date_sql, id_sex_sql
from molar.ingest.standardise.dates import EXCEL_SERIAL
from molar.ingest.standardise.sql import re_matches, trim_ws
from molar.model import Column
from molar.sources import PART, PROBLEM, PROBLEM_DETAIL, ROW_NUMBER

# A number Excel showed in scientific notation (3.30108E+17, 1.89E+10): its digits are gone.
_SCIENTIFIC = r"^[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+$"
# An 18-digit ID Excel stored as a number: 15 significant digits, then 000.
_FIFTEEN_DIGITS = r"^[0-9]{15}000$"
_IDENTIFIER_SUFFIXES = ("_id", "_key", "_no", "openid", "unionid")


@dataclass(frozen=True)
class StageSQL:
    distinct: tuple[str, ...]  # one parameter each (the load ID): per-column value tables
    stage: str  # one parameter: the load ID; creates _stage's rows
    lookups: tuple[str, ...]  # statements run after the stage, before resolving
    resolved: str
    # (field label, code, message_en, message_zh): reasons completed with the column's
    # settings, e.g. the allowed values of a code column or the latest allowed date.
    messages: tuple[tuple[str, str, str, str], ...] = ()


@dataclass
class _Issue:
    label: str  # the header (or column) named in the reason
    raw: str  # column of _stage holding the raw text
    problem: str  # column holding the problem code
    soft: str = "FALSE"  # SQL: TRUE when the problem only drops the value (row still loads)


@dataclass
class _Parts:
    items: list[str] = field(default_factory=list)
    distinct: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    messages: list[tuple[str, str, str, str]] = field(default_factory=list)
    issues: list[_Issue] = field(default_factory=list)


def literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_identifier(column: Column) -> bool:
    return column.type == "text" and column.name.endswith(_IDENTIFIER_SUFFIXES)


def _value_and_problem(kind: str, cm: ColumnMap, column: Column, k: str, v: str, p: str, serial: bool) -> tuple[str, str]:
    """SQL for the value and problem of raw text ``k``, around the standardiser's own
    value ``v`` and problem ``p`` (short column names where possible: they are repeated).

    Excel damage is named as such (the value cannot be recovered, the file must be
    re-exported), and unknown codes may become the `other` code.
    """
    value, problem = v, p
    t = trim_ws(f"CAST({k} AS VARCHAR)")
    damage = []
    if kind in ("id_number", "mobile") or (kind == "text" and _is_identifier(column)):
        damage.append((re_matches(t, _SCIENTIFIC), "'excel_scientific'"))
    if kind == "id_number":
        damage.append((f"{p} = 'id_bad_checksum' AND {re_matches(t, _FIFTEEN_DIGITS)}", "'excel_digits_lost'"))
    if serial:
        damage.append((f"{v} IS NOT NULL AND {re_matches(t, EXCEL_SERIAL)}", "'excel_serial_date'"))
    if cm.other:
        value = f"coalesce({v}, CASE WHEN {p} = 'code_unknown' THEN {literal(cm.other)} END)"
        damage.append((f"{p} = 'code_unknown'", "'code_kept_as_other'"))
    if damage:
        whens = " ".join(f"WHEN {cond} THEN {code}" for cond, code in damage)
        problem = f"CASE {whens} ELSE {p} END"
        lost = [cond for cond, code in damage if code.strip("'") in EXCEL_DAMAGE]
        if lost:
            value = f"CASE WHEN {' OR '.join(lost)} THEN NULL ELSE {value} END"
    return value, problem


def _default(parts_value: str, parts_problem: str, cm: ColumnMap, std: Standardiser, sql_type: str) -> str:
    if cm.default is None:
        return parts_value
    fallback = f"CAST({std.value_sql(literal(cm.default))} AS {sql_type})"
    return f"coalesce({parts_value}, CASE WHEN {parts_problem} IS NULL THEN {fallback} END)"


def _derived(cm: ColumnMap, column: Column) -> str:
    """A key the source does not have: a hash of the chosen headers, and/or the number of
    the row among rows with the same values of the `occurrence` headers (file order)."""
    parts = []
    if cm.derive:
        trimmed = [trim_ws(f"r.{ident(h)}") for h in cm.derive]
        blank = " OR ".join(f"coalesce({t}, '') = ''" for t in trimmed)
        parts.append(f"CASE WHEN {blank} THEN NULL ELSE substr(md5(concat_ws(chr(31), {', '.join(trimmed)})), 1, 16) END")
    if cm.occurrence:
        over = ", ".join(trim_ws(f"r.{ident(h)}") for h in cm.occurrence)
        # Rows that are not records (broken, repeated exports) do not take a number.
        parts.append(f"row_number() OVER (PARTITION BY r.{PROBLEM} IS NULL, {over} ORDER BY r.{ROW_NUMBER}, r.{PART})")
    value = " || '-' || ".join(parts) if len(parts) > 1 else parts[0]
    return f"CAST({value} AS {column.sql_type})"


def _unstandardised(cm: ColumnMap | None, column: Column, present: set[str]) -> str | None:
    """Value SQL of a column that needs no standardiser (absent, fixed or derived), else None."""
    if cm is None or any(h not in present for h in cm.headers):
        return f"CAST(NULL AS {column.sql_type})"
    if cm.const is not None:
        return f"CAST({literal(cm.const)} AS {column.sql_type})"
    if cm.header is None:
        return _derived(cm, column)
    return None


def _soft(cm: ColumnMap | None, column: Column, key: tuple[str, ...]) -> str:
    """SQL: TRUE when the column's problem only drops its value (the row still loads)."""
    if cm and cm.on_error == "null_with_warning":
        return "TRUE"
    if column.required or column.name in key:
        return "FALSE"
    # A value Excel destroyed is not the row's fault: the row loads without it.
    return f"_p_{column.name} IN ({', '.join(literal(c) for c in EXCEL_DAMAGE)})"


def column_sql(table_map: TableMap, present: set[str], today: date, rows: str) -> _Parts:
    out = _Parts()
    for column in table_map.contract.columns:
        cm = table_map.column(column.name)
        name = column.name
        value = _unstandardised(cm, column, present)
        if value is None:
            _mapped_column(out, rows, cm, column, today)  # type: ignore[arg-type]
        else:
            derived = cm is not None and cm.const is None and all(h in present for h in cm.headers)
            headers = cm.headers if derived else []  # type: ignore[union-attr]
            raw = f"concat_ws('|', {', '.join('r.' + ident(h) for h in headers)})" if headers else "CAST(NULL AS VARCHAR)"
            out.items += [f"{value} AS {name}", f"CAST(NULL AS VARCHAR) AS _p_{name}", f"{raw} AS _raw_{name}"]
        label = ", ".join(cm.headers) if cm and cm.headers else name
        out.issues.append(_Issue(label, f"_raw_{name}", f"_p_{name}", _soft(cm, column, table_map.contract.key)))
    return out


def _mapped_column(out: _Parts, rows: str, cm: ColumnMap, column: Column, today: date) -> None:
    raw = "r." + ident(cm.header)  # type: ignore[arg-type]
    std = standardiser_for(cm, column, today)
    kind = kind_of(cm, column)
    value_type = "VARCHAR" if cm.lookup else column.sql_type
    out.messages.extend((cm.header, code, p.message_en, p.message_zh) for code, p in std.problems().items())  # type: ignore[misc]
    name = column.name
    serial = bool(getattr(std, "excel_serial", False))
    if std.name == "text":
        value, problem = _value_and_problem(
            kind, cm, column, raw, f"({std.value_sql(raw)})", f"({std.problem_sql(raw)})", serial
        )
        out.items.append(f"CAST({_default(value, problem, cm, std, value_type)} AS {value_type}) AS {name}")
        out.items.append(f"{problem} AS _p_{name}")
    else:
        # Standardise each distinct raw value once (dates, codes, phones repeat a lot),
        # then join the results back to the rows.
        table = f"_d_{name}"
        value, problem = _value_and_problem(kind, cm, column, "k", "v0", "p0", serial)
        out.distinct.append(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT k, "
            f"CAST({value} AS {value_type}) AS v, {problem} AS p FROM ("
            f"SELECT k, {std.value_sql('k')} AS v0, {std.problem_sql('k')} AS p0 "
            f"FROM (SELECT DISTINCT {ident(cm.header)} AS k FROM {rows} "  # type: ignore[arg-type]
            f"WHERE _load_id = ? AND {ident(cm.header)} IS NOT NULL))"  # type: ignore[arg-type]
        )
        out.joins.append(f"LEFT JOIN {table} ON {table}.k = {raw}")
        out.items.append(f"{_default(f'{table}.v', f'{table}.p', cm, std, value_type)} AS {name}")
        out.items.append(f"{table}.p AS _p_{name}")
    out.items.append(f"{raw} AS _raw_{name}")


def _row_checks(table_map: TableMap, parts: _Parts, resolved_clinic: bool) -> tuple[list[str], list[_Issue]]:
    """Required fields present, and the ID number agreeing with birth date and sex."""
    contract = table_map.contract
    problems: list[str] = []
    issues: list[_Issue] = []
    for name in (c.name for c in contract.columns if c.required or c.name in contract.key):
        value = "lk_clinic.v" if name == "clinic_id" and resolved_clinic else f"s.{name}"
        problems.append(f"CASE WHEN s._p_{name} IS NULL AND {value} IS NULL THEN 'required_missing' END AS _p_required_{name}")
        label = next((i.label for i in parts.issues if i.raw == f"_raw_{name}"), name)
        issues.append(_Issue(label, f"_raw_{name}", f"_p_required_{name}"))
    mapped = {c.column for c in table_map.columns}
    if "id_number" in mapped and "birth_date" in mapped:
        problems.append(
            f"CASE WHEN s.id_number IS NOT NULL AND s.birth_date IS NOT NULL "
            f"AND {id_birth_date_sql('s.id_number')} <> s.birth_date THEN 'id_birth_mismatch' END AS _p_id_birth"
        )
        issues.append(_Issue("birth_date", "_raw_birth_date", "_p_id_birth"))
    if "id_number" in mapped and "sex" in mapped:
        problems.append(
            f"CASE WHEN s.id_number IS NOT NULL AND s.sex IS NOT NULL "
            f"AND {id_sex_sql('s.id_number')} <> s.sex THEN 'id_sex_mismatch' END AS _p_id_sex"
        )
        issues.append(_Issue("sex", "_raw_sex", "_p_id_sex"))
    return problems, issues


_ISSUE_TYPE = "STRUCT(field VARCHAR, value VARCHAR, code VARCHAR, soft BOOLEAN)[]"


def _resolved_sql(looked: str, issues: list[_Issue], key: tuple[str, ...], rollup: bool) -> str:
    """Each row with its issues (`_issues`), `_is_error` (kept out of std) and
    `_has_warning`. A repeated key is an error unless the table rolls lines up."""
    structs = ", ".join(
        f"{{'field': {literal(i.label)}, 'value': {i.raw}, 'code': {i.problem}, 'soft': {i.soft}}}" for i in issues
    )
    errors = "[" + ", ".join(literal(c) for c in error_codes()) + "]"
    any_problem = "coalesce(" + ", ".join(i.problem for i in issues) + ")"
    keys = ", ".join(key)
    issues_cte = f"""
    WITH looked AS ({looked}),
    issues AS (
        SELECT *,
            CASE WHEN _read_problem IS NOT NULL
                 THEN [{{'field': NULL::VARCHAR, 'value': _read_detail, 'code': _read_problem, 'soft': false}}]
                 WHEN {any_problem} IS NULL THEN CAST([] AS {_ISSUE_TYPE})
                 ELSE list_filter([{structs}], lambda x: x.code IS NOT NULL) END AS _field_issues
        FROM looked
    ),
    flagged AS (
        SELECT *, list_has_any(list_transform(list_filter(_field_issues, lambda x: NOT x.soft), lambda x: x.code),
                               {errors}) AS _row_error
        FROM issues
    )"""
    if rollup:
        return issues_cte + """
    SELECT * EXCLUDE (_field_issues, _row_error), _field_issues AS _issues, _row_error AS _is_error,
           len(_field_issues) > 0 AS _has_warning
    FROM flagged"""
    return issues_cte + f""",
    -- Ranking every row by key is costly; only keys that occur twice need it.
    repeated AS (
        SELECT {keys} FROM flagged WHERE NOT _row_error GROUP BY {keys} HAVING count(*) > 1
    ),
    dup_rank AS (
        SELECT {ROW_NUMBER} AS _rn, coalesce({PART}, '') AS _pt,
               row_number() OVER (PARTITION BY {keys} ORDER BY {ROW_NUMBER}, {PART}) AS _key_rank
        FROM flagged SEMI JOIN repeated USING ({keys}) WHERE NOT _row_error
    ),
    ranked AS (
        SELECT flagged.*, dup_rank._key_rank FROM flagged
        LEFT JOIN dup_rank ON dup_rank._rn = flagged.{ROW_NUMBER} AND dup_rank._pt = coalesce(flagged.{PART}, '')
    )
    SELECT * EXCLUDE (_field_issues, _row_error, _key_rank),
        CASE WHEN _key_rank > 1
             THEN list_append(_field_issues, {{'field': {literal(keys)}, 'value': concat_ws('|', {keys}),
                                              'code': 'duplicate_key', 'soft': false}})
             ELSE _field_issues END AS _issues,
        _row_error OR coalesce(_key_rank > 1, false) AS _is_error,
        len(_field_issues) > 0 AS _has_warning
    FROM ranked
    """


def build_stage_sql(table_map: TableMap, present: set[str], today: date, rows: str) -> StageSQL:
    """``rows``: the table holding the load's raw rows in plaintext."""
    parts = column_sql(table_map, present, today, rows)
    meta = [f"r.{ROW_NUMBER}", f"r.{PART}", f"r.{PROBLEM} AS _read_problem", f"r.{PROBLEM_DETAIL} AS _read_detail"]
    stage = (
        f"SELECT {', '.join(meta + parts.items)} FROM {rows} r {' '.join(parts.joins)} "
        f"WHERE r._load_id = ? AND coalesce(r.{PROBLEM}, '') NOT IN ({', '.join(literal(c) for c in IGNORABLE)})"
    )
    lookups = lookup_sql(table_map)
    checks, check_issues = _row_checks(table_map, parts, "clinic_id" in lookups.replace)
    replace = [f"{expr} AS {col}" for col, expr in lookups.replace.items()]
    select_star = f"s.* EXCLUDE ({', '.join(lookups.replace)})" if replace else "s.*"
    looked = f"SELECT {', '.join([select_star, *replace, *lookups.problems, *checks])} FROM _stage s {' '.join(lookups.joins)}"
    issues = parts.issues + [_Issue(label, raw, problem) for label, raw, problem in lookups.fields] + check_issues
    resolved = _resolved_sql(looked, issues, table_map.contract.key, table_map.rollup is not None)
    return StageSQL(tuple(parts.distinct), stage, tuple(lookups.statements), resolved, tuple(parts.messages))
