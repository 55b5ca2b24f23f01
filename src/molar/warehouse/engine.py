"""Engine interface: the only way pipeline code talks to the warehouse.

Pipelines write DuckDB-dialect SQL and hand it to an engine; an engine for another
backend (Spark) transpiles and runs the same statements. Nothing outside ``warehouse/``
imports a backend client directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

LAYERS: tuple[str, ...] = ("raw", "quarantine", "std", "identity", "profile", "ops")


class WarehouseError(RuntimeError):
    """The warehouse could not do what was asked; the message says what to do."""


class Engine(ABC):
    """A SQL engine holding the warehouse layers as schemas."""

    dialect: str = "duckdb"

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement whose result is not needed."""

    @abstractmethod
    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all its rows."""

    @abstractmethod
    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    @abstractmethod
    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> int:
        """Append Arrow data to ``table`` matching columns by name; returns rows appended."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all."""

    @abstractmethod
    def close(self) -> None: ...

    # Conveniences built on the primitives above, shared by every engine.
    def insert_rows(self, into: str, rows: Sequence[Sequence[Any]], then: str = "", per_statement: int = 200) -> None:
        """``INSERT INTO {into} VALUES`` the rows, a few hundred per statement (far faster
        than one statement per row); ``then`` follows each (an ``ON CONFLICT`` clause)."""
        for start in range(0, len(rows), per_statement):
            part = rows[start:start + per_statement]
            one = "(" + ", ".join("?" * len(part[0])) + ")"
            self.execute(f"INSERT INTO {into} VALUES " + ", ".join([one] * len(part)) + (f" {then}" if then else ""),
                         [v for row in part for v in row])

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        result = self.rows(sql, params)
        return result[0][0] if result else None

    def table_exists(self, qualified_name: str) -> bool:
        schema, _, name = qualified_name.rpartition(".")
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                [schema or "main", name],
            )
        )

    def columns(self, qualified_name: str) -> list[str]:
        schema, _, name = qualified_name.rpartition(".")
        return [
            r[0]
            for r in self.rows(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema or "main", name],
            )
        ]

    def count(self, qualified_name: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {qualified_name}"))

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
