"""Options and error handling shared by every CLI command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from molar.config import ConfigError, Settings, load_settings
from molar.ui.console import err_console
from molar.warehouse import Engine, WarehouseError, open_warehouse

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", "-w", help="Warehouse file (default: molar.duckdb, or MOLAR_WAREHOUSE)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON for scripts.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Treat this date (YYYY-MM-DD) as today, e.g. to load historical exports."),
]

EngineOpt = Annotated[
    str,
    typer.Option("--engine", help="Run on the embedded DuckDB warehouse (duckdb) or on Apache Spark (spark; see docs/spark.md)."),
]


def fail(message: str) -> typer.Exit:
    """Print a plain error and return the exit to raise (exit code 2)."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def settings_from(warehouse: Path | None, as_of: str | None = None) -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    if as_of:
        try:
            settings = settings.with_overrides(as_of=date.fromisoformat(as_of))
        except ValueError as exc:
            raise fail(f"--as-of {as_of!r} is not a date; write it as YYYY-MM-DD") from exc
    return settings.with_overrides(warehouse_path=warehouse)


def open_engine(settings: Settings) -> Engine:
    try:
        return open_warehouse(settings)
    except WarehouseError as exc:
        raise fail(str(exc)) from exc


@contextmanager
def warehouse_engine(warehouse: Path | None, as_of: str | None = None) -> Iterator[Engine]:
    """The warehouse a command names (or the default), opened; bad config or file end in one message."""
    with open_engine(settings_from(warehouse, as_of)) as engine:
        yield engine


@contextmanager
def failing_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn the expected errors of a step into one plain message and exit code 2."""
    try:
        yield
    except errors as exc:
        raise fail(str(exc)) from exc


def print_json(data: Any, default: Callable[[Any], Any] = str) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=default))



def require_engine(engine: str, stage: str) -> None:
    """Stop with a plain message when ``stage`` cannot run on the chosen engine yet."""
    from molar.warehouse.spark_engine import NOT_ON_SPARK

    if engine not in ("duckdb", "spark"):
        raise fail(f"--engine {engine!r} is not known; use duckdb or spark / 引擎只能是 duckdb 或 spark")
    if engine == "spark" and stage in NOT_ON_SPARK:
        raise fail(
            f"`{stage}` does not run on Spark yet: {NOT_ON_SPARK[stage]}. Run it with --engine duckdb "
            f"(the default); docs/spark.md lists what runs on Spark today. / "
            f"「{stage}」暂不支持 Spark 引擎，请使用默认的 duckdb 引擎。"
        )


def parse_day(value: str | None, option: str) -> date | None:
    """An optional YYYY-MM-DD option, or one message naming it."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise fail(f"{option} {value!r} is not a date; write it as YYYY-MM-DD") from None
