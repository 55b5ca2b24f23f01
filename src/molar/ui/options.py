"""Options and error handling shared by every CLI command."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from molar.config import ConfigError, Settings, load_settings
from molar.ui.console import err_console
from molar.warehouse import Engine, WarehouseError, open_warehouse

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", "-w", help="Warehouse file (default: molar.duckdb, or MOLAR_WAREHOUSE)."),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Treat this date (YYYY-MM-DD) as today, e.g. to load historical exports."),
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
