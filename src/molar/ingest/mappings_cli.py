"""`molar mappings suggest|check|describe`: write and check a source mapping before loading."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ingest.mapping import MappingError, load_mappings
from molar.ingest.run import ingest_paths
from molar.ingest.suggest import render, suggest_file
from molar.model import CONTRACTS
from molar.sources import FileRejected
from molar.ui.console import console
from molar.ui.options import AsOfOpt, fail, settings_from
from molar.warehouse import open_warehouse

mappings_app = typer.Typer(help="Write and check source mappings (how a system's files map onto Molar's tables).",
                           no_args_is_help=True)


@mappings_app.command("suggest")
def suggest(
    files: Annotated[list[Path], typer.Argument(help="Export files of one source system (CSV, XLSX).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder to write <source>.yaml into (default: print it).")] = None,
    source: Annotated[str, typer.Option("--source", "-s", help="Name of the source system (letters, digits, _).")] = "my_system",
) -> None:
    """Propose a mapping from headers and a sample of rows; unmapped headers and values are listed."""
    if not source.isidentifier():
        raise fail(f"--source {source!r} must be a simple name (letters, digits, _)")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"not found: {', '.join(missing)}")
    try:
        text = render(source, [suggest_file(f) for f in files])
    except FileRejected as exc:
        raise fail(exc.message_en) from exc
    if out is None:
        typer.echo(text)
        return
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{source}.yaml"
    target.write_text(text, encoding="utf-8")
    console.print(f"wrote {target}: check the lines marked CHECK, then `molar mappings check {out} <files>`")


@mappings_app.command("check")
def check(
    folder: Annotated[Path, typer.Argument(help="Folder of mapping YAML files to check.")],
    files: Annotated[list[Path] | None, typer.Argument(help="Export files to preview as they would load.")] = None,
    rows: Annotated[int, typer.Option("--rows", help="Rows to preview per table.")] = 5,
    as_of: AsOfOpt = None,
) -> None:
    """Validate every option and code of the mappings; load the files into a scratch warehouse and
    show the first rows of each table and what would be quarantined. Nothing is written to yours."""
    if not folder.is_dir():
        raise fail(f"mapping folder not found: {folder}")
    try:
        mappings = load_mappings([folder])
    except MappingError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{folder}: {len(mappings)} mapping(s) valid: {', '.join(sorted(mappings))}")
    if not files:
        return
    today = settings_from(None, as_of).today
    preview(mappings, files, today, rows)


def preview(mappings, files: list[Path], today: date, rows: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = open_warehouse(path=Path(scratch) / "check.duckdb")
        try:
            results = ingest_paths(engine, files, today=today, mappings=mappings)
            for r in results:
                console.print(f"[bold]{Path(r.file).name}[/]: {r.status}, {r.rows_read:,} read = {r.rows_loaded:,} loaded + "
                              f"{r.rows_quarantined:,} quarantined, {r.rows_ignored:,} ignored"
                              + (f" — {r.message_en}" if r.message_en else ""))
                for t in r.targets:
                    sample = engine.arrow(
                        f"SELECT * EXCLUDE (_load_id) FROM std.{t.table} WHERE _load_id = ? ORDER BY _row_number LIMIT ?",
                        [r.load_id, rows],
                    )
                    table = Table(title=f"std.{t.table} (first {rows})")
                    for name in sample.column_names:
                        table.add_column(name)
                    for row in sample.to_pylist():
                        table.add_row(*("" if v is None else str(v) for v in row.values()))
                    console.print(table)
                issues = engine.rows(
                    "SELECT severity, code, count(*), any_value(reason_en) FROM quarantine.issue WHERE load_id = ? "
                    "GROUP BY ALL ORDER BY 1, 3 DESC", [r.load_id],
                )
                for severity, code, n, reason in issues:
                    console.print(f"  {severity} {code} ×{n}: {reason}", markup=False)
        finally:
            engine.close()


@mappings_app.command("describe")
def describe(table: Annotated[str, typer.Argument(help=f"Canonical table: {', '.join(CONTRACTS)}.")]) -> None:
    """Columns of a canonical table: type, required, key, allowed codes."""
    if table not in CONTRACTS:
        raise fail(f"no table {table!r}; tables: {', '.join(CONTRACTS)}")
    contract = CONTRACTS[table]
    console.print(f"[bold]{table}[/]: {contract.description} Key: {', '.join(contract.key)}.")
    out = Table()
    for col in ("column", "type", "required", "description", "allowed codes"):
        out.add_column(col, overflow="fold")
    for c in contract.columns:
        needed = "key" if c.name in contract.key else ("yes" if c.required else "")
        out.add_row(c.name, c.type, needed, c.description, ", ".join(c.allowed or ()))
    console.print(out)


def register(app: typer.Typer) -> None:
    app.add_typer(mappings_app, name="mappings")
