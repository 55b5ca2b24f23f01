"""Column contracts: the typed shape every layer agrees on for one canonical table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Canonical logical types and the DuckDB type each maps to.
LOGICAL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "money": "DECIMAL(12,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``unit`` says what a number measures; ``allowed`` lists the only legal values of a
    coded column; ``pii`` marks personal data that must stay in the ``std``/``pii`` layers.
    """

    name: str
    type: str
    description: str
    required: bool = False
    unit: str | None = None
    allowed: tuple[str, ...] | None = None
    pii: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type not in LOGICAL_TYPES:
            raise ValueError(
                f"column {self.name!r}: unknown type {self.type!r}; use one of "
                f"{', '.join(LOGICAL_TYPES)}"
            )
        if self.allowed is not None and self.type != "text":
            raise ValueError(f"column {self.name!r}: allowed values only apply to text columns")

    @property
    def sql_type(self) -> str:
        return LOGICAL_TYPES[self.type]


@dataclass(frozen=True)
class Contract:
    """A canonical table: its columns, its business key and what it describes."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    pii_columns: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"contract {self.name!r}: duplicated columns {sorted(duplicated)}")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"contract {self.name!r}: key columns {missing} are not columns")
        object.__setattr__(self, "pii_columns", tuple(c.name for c in self.columns if c.pii))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"contract {self.name!r} has no column {name!r}")

    def create_table_sql(self, qualified_name: str, extra: Iterable[str] = ()) -> str:
        """DDL for a table holding rows of this contract (plus bookkeeping columns)."""
        cols = [f"{c.name} {c.sql_type}" for c in self.columns]
        cols.extend(extra)
        return f"CREATE TABLE IF NOT EXISTS {qualified_name} (\n  " + ",\n  ".join(cols) + "\n)"
