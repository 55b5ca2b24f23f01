"""Which standardiser a mapped column uses, with the options the load adds, and a check of
a column's options before anything is loaded."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import TYPE_CHECKING

import duckdb

from molar.ingest.standardise import Standardiser, get_standardiser
from molar.model import Column

if TYPE_CHECKING:
    from molar.ingest.mapping import ColumnMap


def default_kind(column: Column) -> str:
    by_name = {"mobile": "mobile", "id_number": "id_number", "sex": "sex", "name": "name"}
    if column.name in by_name:
        return by_name[column.name]
    if column.allowed:
        return "code"
    return {"date": "date", "timestamp": "timestamp", "money": "amount", "int": "integer",
            "float": "decimal"}.get(column.type, "text")


def kind_of(cm: ColumnMap, column: Column) -> str:
    if cm.values and not cm.standardise:
        return "code"
    return cm.standardise or ("text" if cm.lookup else default_kind(column))


def standardiser_for(cm: ColumnMap, column: Column, today: date) -> Standardiser:
    kind = kind_of(cm, column)
    options = dict(cm.options)
    if kind in ("date", "epoch"):
        options.setdefault("not_after", today)
    if kind == "timestamp":
        options.setdefault("not_after", datetime.combine(today, time(23, 59, 59)))
    if kind in ("date", "timestamp"):
        options.setdefault("excel_serial", True)  # Excel's day numbers, reported as a warning
    if kind == "code":
        options.setdefault("mapping", cm.values or {v: v for v in (cm.codes or column.allowed or ())})
    if kind in ("integer", "decimal"):
        if column.minimum is not None:
            options.setdefault("minimum", column.minimum)
        if column.maximum is not None:
            options.setdefault("maximum", column.maximum)
    return get_standardiser(kind, **options)


def check_column(cm: ColumnMap, column: Column) -> None:
    """Raise ValueError (what is wrong and how to write it) for options that would fail a load."""
    if cm.const is not None or (cm.derive and not cm.header) or (cm.occurrence and not cm.header):
        return
    tokens = cm.options.get("null_tokens")
    if tokens is not None and (not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens)):
        raise ValueError(
            f"null_tokens must be a list of texts in quotes, e.g. [\"null\", \"-\"] (YAML reads a bare "
            f"null, ~, yes or 1 as something else); got {tokens!r}"
        )
    std = standardiser_for(cm, column, date.today())
    if cm.default is not None:
        value, problem = _evaluate(std, cm.default)
        if value is None:
            raise ValueError(f"default {cm.default!r} is not a valid {column.name} ({problem or 'blank'})")


def _evaluate(std: Standardiser, text: str) -> tuple[object, str | None]:
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT {std.value_sql('k')}, {std.problem_sql('k')} FROM (SELECT CAST(? AS VARCHAR) AS k)", [text]
        ).fetchall()[0]
    finally:
        con.close()
