"""SQL that turns one load's raw rows into canonical rows plus their problems.

Pure DuckDB-dialect SQL built from the mapping and the standardisers, so the same
statements can be transpiled for another engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from molar.ingest.mapping import ColumnMap, FileMap, TableMap
from molar.ingest.problems import error_codes
from molar.ingest.standardise import get_standardiser, id_birth_date_sql, id_sex_sql
from molar.model import Column
from molar.sources import PART, PROBLEM, PROBLEM_DETAIL, ROW_NUMBER


@dataclass(frozen=True)
class StageSQL:
    distinct: tuple[str, ...]  # one parameter each (the load ID): per-column value tables
    stage: str  # one parameter: the load ID; creates _stage's rows
    lookups: tuple[str, ...]  # statements run after the stage, before resolving
    resolved: str
    # (field label, code, message_en, message_zh): reasons completed with the column's
    # settings, e.g. the allowed values of a code column or the latest allowed date.
    messages: tuple[tuple[str, str, str, str], ...] = ()


# Clinic names differ between systems ("摩乐口腔玉林诊所", "玉林店", "摩乐口腔(玉林店)"):
# compare them without brackets and generic words; a short form matches the clinic
# whose name ends with it, when exactly one does.
_CLINIC_NOISE = "[()（）\\s]|口腔|诊所|门诊部|分店|店|医院"


def _clinic_key(expr: str) -> str:
    return f"regexp_replace({expr}, '{_CLINIC_NOISE}', '', 'g')"


CLINIC_LOOKUP = f"""
CREATE OR REPLACE TEMP TABLE _lk_clinic AS
WITH wanted AS (SELECT DISTINCT clinic_id AS k FROM _stage WHERE clinic_id IS NOT NULL),
clinics AS (SELECT clinic_id AS v, name, {_clinic_key('name')} AS ck FROM std.clinic),
exact AS (
    SELECT w.k, min(c.v) AS v FROM wanted w JOIN clinics c ON w.k = c.name OR w.k = c.v GROUP BY w.k
),
fuzzy AS (
    SELECT w.k, CASE WHEN count(DISTINCT c.v) = 1 THEN min(c.v) END AS v
    FROM wanted w JOIN clinics c
      ON length({_clinic_key('w.k')}) >= 2 AND ends_with(c.ck, {_clinic_key('w.k')})
    GROUP BY w.k
)
SELECT w.k, coalesce(exact.v, fuzzy.v) AS v
FROM wanted w LEFT JOIN exact USING (k) LEFT JOIN fuzzy USING (k)
"""


def literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def default_kind(column: Column) -> str:
    by_name = {"mobile": "mobile", "id_number": "id_number", "sex": "sex", "name": "name"}
    if column.name in by_name:
        return by_name[column.name]
    if column.allowed:
        return "code"
    return {"date": "date", "timestamp": "timestamp", "money": "amount", "int": "integer",
            "float": "decimal"}.get(column.type, "text")


def _standardiser(cm: ColumnMap, column: Column, today: date):
    if cm.values and not cm.standardise:
        kind = "code"
    else:
        kind = cm.standardise or ("text" if cm.lookup else default_kind(column))
    options = dict(cm.options)
    if kind == "date":
        options.setdefault("not_after", today)
    if kind == "epoch":
        options.setdefault("not_after", today)
    if kind == "timestamp":
        options.setdefault("not_after", datetime.combine(today, time(23, 59, 59)))
    if kind == "code":
        mapping = cm.values or {v: v for v in column.allowed or ()}
        options.setdefault("mapping", mapping)
    if kind in ("integer", "decimal"):
        if column.minimum is not None:
            options.setdefault("minimum", column.minimum)
        if column.maximum is not None:
            options.setdefault("maximum", column.maximum)
    return get_standardiser(kind, **options)


def build_stage_sql(file_map: FileMap, table_map: TableMap, present: set[str], today: date) -> StageSQL:
    contract = table_map.contract
    items = [f"r.{ROW_NUMBER}", f"r.{PART}", f"r.{PROBLEM} AS _read_problem", f"r.{PROBLEM_DETAIL} AS _read_detail"]
    distinct: list[str] = []
    value_joins: list[str] = []
    messages: list[tuple[str, str, str, str]] = []
    issue_fields: list[tuple[str, str, str]] = []  # (field label, raw expr column, problem column)
    for column in contract.columns:
        cm = table_map.column(column.name)
        if cm is None or (cm.header and cm.header not in present):
            items.append(f"CAST(NULL AS {column.sql_type}) AS {column.name}")
            items.append(f"CAST(NULL AS VARCHAR) AS _p_{column.name}")
            items.append(f"CAST(NULL AS VARCHAR) AS _raw_{column.name}")
        elif cm.const is not None:
            items.append(f"CAST({literal(cm.const)} AS {column.sql_type}) AS {column.name}")
            items.append(f"CAST(NULL AS VARCHAR) AS _p_{column.name}")
            items.append(f"CAST(NULL AS VARCHAR) AS _raw_{column.name}")
        else:
            raw = "r." + ident(cm.header)  # type: ignore[arg-type]
            std = _standardiser(cm, column, today)
            value_type = "VARCHAR" if cm.lookup else column.sql_type
            messages.extend(
                (cm.header, code, p.message_en, p.message_zh) for code, p in std.problems().items()  # type: ignore[misc]
            )
            if std.name == "text":
                items.append(f"CAST({std.value_sql(raw)} AS {value_type}) AS {column.name}")
                items.append(f"{std.problem_sql(raw)} AS _p_{column.name}")
            else:
                # Standardise each distinct raw value once (dates, codes, phones repeat a
                # lot), then join the results back to the rows.
                table = f"_d_{column.name}"
                distinct.append(
                    f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT k, "
                    f"CAST({std.value_sql('k')} AS {value_type}) AS v, {std.problem_sql('k')} AS p "
                    f"FROM (SELECT DISTINCT {ident(cm.header)} AS k FROM {file_map.raw_table} "  # type: ignore[arg-type]
                    f"WHERE _load_id = ? AND {ident(cm.header)} IS NOT NULL)"  # type: ignore[arg-type]
                )
                value_joins.append(f"LEFT JOIN {table} ON {table}.k = {raw}")
                items.append(f"{table}.v AS {column.name}")
                items.append(f"{table}.p AS _p_{column.name}")
            items.append(f"{raw} AS _raw_{column.name}")
        label = cm.header if cm and cm.header else column.name
        issue_fields.append((label, f"_raw_{column.name}", f"_p_{column.name}"))
    stage = f"SELECT {', '.join(items)} FROM {file_map.raw_table} r {' '.join(value_joins)} WHERE r._load_id = ?"

    # Lookups of names to IDs, then required-field checks, then cross-field warnings.
    replace: list[str] = []
    lookups: list[str] = []
    joins: list[str] = []
    extra_problems: list[str] = []
    clinic = table_map.column("clinic_id")
    if clinic and clinic.lookup == "clinic":
        lookups.append(CLINIC_LOOKUP)
        joins.append("LEFT JOIN _lk_clinic lk_clinic ON lk_clinic.k = s.clinic_id")
        replace.append("lk_clinic.v AS clinic_id")
        extra_problems.append(
            "CASE WHEN s.clinic_id IS NOT NULL AND lk_clinic.v IS NULL THEN 'clinic_unknown' END AS _p_lookup_clinic_id"
        )
        issue_fields.append((clinic.header or "clinic_id", "_raw_clinic_id", "_p_lookup_clinic_id"))
    doctor = table_map.column("doctor_id")
    if doctor and doctor.lookup == "doctor":
        clinic_expr = "lk_clinic.v" if clinic and clinic.lookup == "clinic" else "s.clinic_id"
        if clinic:
            joins.append(
                "LEFT JOIN (SELECT name AS k, clinic_id AS c, min(doctor_id) AS v FROM std.doctor GROUP BY ALL) "
                f"lk_doctor ON lk_doctor.k = s.doctor_id AND lk_doctor.c = {clinic_expr}"
            )
        else:
            joins.append(
                "LEFT JOIN (SELECT name AS k, CASE WHEN count(*) = 1 THEN min(doctor_id) END AS v "
                "FROM std.doctor GROUP BY name) lk_doctor ON lk_doctor.k = s.doctor_id"
            )
        replace.append("lk_doctor.v AS doctor_id")
        extra_problems.append(
            "CASE WHEN s.doctor_id IS NOT NULL AND lk_doctor.v IS NULL THEN 'doctor_unknown' END AS _p_lookup_doctor_id"
        )
        issue_fields.append((doctor.header or "doctor_id", "_raw_doctor_id", "_p_lookup_doctor_id"))

    required = [c.name for c in contract.columns if c.required or c.name in contract.key]
    for name in required:
        extra_problems.append(
            f"CASE WHEN s._p_{name} IS NULL AND {('lk_clinic.v' if name == 'clinic_id' and clinic and clinic.lookup else 's.' + name)} IS NULL "
            f"THEN 'required_missing' END AS _p_required_{name}"
        )
        label = next((lab for lab, raw, _ in issue_fields if raw == f"_raw_{name}"), name)
        issue_fields.append((label, f"_raw_{name}", f"_p_required_{name}"))

    mapped = {c.column for c in table_map.columns}
    if "id_number" in mapped:
        if "birth_date" in mapped:
            extra_problems.append(
                f"CASE WHEN s.id_number IS NOT NULL AND s.birth_date IS NOT NULL "
                f"AND {id_birth_date_sql('s.id_number')} <> s.birth_date THEN 'id_birth_mismatch' END AS _p_id_birth"
            )
            issue_fields.append(("birth_date", "_raw_birth_date", "_p_id_birth"))
        if "sex" in mapped:
            extra_problems.append(
                f"CASE WHEN s.id_number IS NOT NULL AND s.sex IS NOT NULL "
                f"AND {id_sex_sql('s.id_number')} <> s.sex THEN 'id_sex_mismatch' END AS _p_id_sex"
            )
            issue_fields.append(("sex", "_raw_sex", "_p_id_sex"))

    replaced_cols = [r.split(" AS ")[1] for r in replace]
    select_star = f"s.* EXCLUDE ({', '.join(replaced_cols)})" if replaced_cols else "s.*"
    looked = (
        f"SELECT {', '.join([select_star, *replace, *extra_problems])} FROM _stage s {' '.join(joins)}"
    )
    structs = ", ".join(
        f"{{'field': {literal(label)}, 'value': {raw}, 'code': {problem}}}" for label, raw, problem in issue_fields
    )
    errors = "[" + ", ".join(literal(c) for c in error_codes()) + "]"
    any_problem = "coalesce(" + ", ".join(problem for _, _, problem in issue_fields) + ")"
    key = ", ".join(contract.key)
    resolved = f"""
    WITH looked AS ({looked}),
    issues AS (
        SELECT *,
            CASE WHEN _read_problem IS NOT NULL
                 THEN [{{'field': NULL::VARCHAR, 'value': _read_detail, 'code': _read_problem}}]
                 WHEN {any_problem} IS NULL THEN CAST([] AS STRUCT(field VARCHAR, value VARCHAR, code VARCHAR)[])
                 ELSE list_filter([{structs}], lambda x: x.code IS NOT NULL) END AS _field_issues
        FROM looked
    ),
    flagged AS (
        SELECT *, len(_field_issues) > 0
                  AND list_has_any(list_transform(_field_issues, lambda x: x.code), {errors}) AS _row_error
        FROM issues
    ),
    -- Ranking every row by key is costly; only keys that occur twice need it.
    repeated AS (
        SELECT {key} FROM flagged WHERE NOT _row_error GROUP BY {key} HAVING count(*) > 1
    ),
    dup_rank AS (
        SELECT {ROW_NUMBER} AS _rn, coalesce({PART}, '') AS _pt,
               row_number() OVER (PARTITION BY {key} ORDER BY {ROW_NUMBER}, {PART}) AS _key_rank
        FROM flagged SEMI JOIN repeated USING ({key}) WHERE NOT _row_error
    ),
    ranked AS (
        SELECT flagged.*, dup_rank._key_rank FROM flagged
        LEFT JOIN dup_rank ON dup_rank._rn = flagged.{ROW_NUMBER} AND dup_rank._pt = coalesce(flagged.{PART}, '')
    )
    SELECT * EXCLUDE (_field_issues, _row_error, _key_rank),
        CASE WHEN _key_rank > 1
             THEN list_append(_field_issues, {{'field': {literal(key)}, 'value': concat_ws('|', {key}), 'code': 'duplicate_key'}})
             ELSE _field_issues END AS _issues,
        _row_error OR coalesce(_key_rank > 1, false) AS _is_error,
        len(_field_issues) > 0 AS _has_warning
    FROM ranked
    """
    return StageSQL(tuple(distinct), stage, tuple(lookups), resolved, tuple(messages))
