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


def open_spark_warehouse(settings: Settings | None = None, path: str | Path | None = None) -> Engine:
    """The Spark engine on ``path`` (default: ``<warehouse>.spark`` beside the DuckDB file),
    with the master URL from the settings (``spark_master``, ``MOLAR_SPARK_MASTER``)."""
    from molar.warehouse.spark_engine import SparkEngine

    settings = settings or Settings()
    return SparkEngine(path or Path(settings.warehouse_path).with_suffix(".spark"), master=settings.spark_master)


__all__ = ["LAYERS", "DuckDBEngine", "Engine", "WarehouseError", "migrate", "open_spark_warehouse", "open_warehouse"]
