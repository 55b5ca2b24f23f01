"""The filtered listing shared by the outbox and the staff-task queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from molar.warehouse import Engine


def select_where(engine: Engine, table: str, columns: Sequence[str], filters: dict[str, Any],
                 order_by: str, limit: int) -> list[tuple]:
    """Rows of ``table`` whose columns equal every non-empty filter value, ordered, limited."""
    where = [(column, value) for column, value in filters.items() if value]
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in where)
    sql += f" ORDER BY {order_by} LIMIT ?"
    return engine.rows(sql, [*(value for _, value in where), limit])
