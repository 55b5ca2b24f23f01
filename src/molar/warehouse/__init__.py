"""Warehouse: engine interface, the embedded DuckDB engine and versioned migrations."""

from __future__ import annotations

from pathlib import Path

from molar.config import Settings
from molar.warehouse.duckdb_engine import DuckDBEngine
from molar.warehouse.engine import LAYERS, Engine, WarehouseError
from molar.warehouse.migrations import migrate


def open_warehouse(settings: Settings | None = None, path: str | Path | None = None) -> Engine:
    """Open (creating if needed) the warehouse and bring its schema up to date."""
    settings = settings or Settings()
    engine = DuckDBEngine(
        path or settings.warehouse_path,
        threads=settings.threads,
        memory_limit=settings.memory_limit,
    )
    migrate(engine)
    return engine


__all__ = ["LAYERS", "DuckDBEngine", "Engine", "WarehouseError", "migrate", "open_warehouse"]
