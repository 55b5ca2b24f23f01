"""`molar ingest` and `molar quarantine list|show|export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ingest import quarantine
from molar.ingest.loader import LoadResult
from molar.ingest.mapping import MAPPINGS_DIR, MappingError, load_mappings
from molar.ingest.run import ingest_paths
from molar.ingest.unload import find_loads, unload
from molar.privacy import audit, keys
from molar.privacy.accounts import Principal
from molar.privacy.cli import cli_access
from molar.privacy.crypto import FieldCipher
from molar.privacy.policy import load_policy
from molar.privacy.rights import apply_suppression
from molar.privacy.sealed import sealed_columns
from molar.ui.console import console, progress_bar
from molar.ui.options import (
    AsOfOpt,
    EngineOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    require_engine,
    settings_from,
    warehouse_engine,
)

quarantine_app = typer.Typer(help="Inspect and export rows that could not be loaded.", no_args_is_help=True)


def mapping_folders(extra: list[Path] | None, settings=None) -> list[Path]:
    """The shipped mappings plus the folders from molar.toml (`mapping_dirs`) and --mappings."""
    folders = [MAPPINGS_DIR, *(settings.mapping_dirs if settings else ()), *(extra or [])]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise fail(f"mapping folder not found: {', '.join(missing)}")
    return list(dict.fromkeys(folders))


def run_ingest(
    engine, paths: list[Path], today, source: str | None = None, force: bool = False, show_progress: bool = True,
    mapping_dirs: list[Path] | None = None,
) -> list[LoadResult]:
    with failing_on(MappingError):
        mappings = load_mappings(mapping_dirs)
    with progress_bar() as progress:
        overall = progress.add_task("ingest", total=None)

        def on_file(path: Path, file_map, size: int):
            progress.update(overall, description=f"ingest {path.name}")
            progress.reset(overall, total=None)
            return lambda rows: progress.advance(overall, rows)

        with failing_on(ValueError):
            results = ingest_paths(
                engine, paths, today=today, source=source, mappings=mappings,
                on_file=on_file if show_progress else None, force=force,
            )
            apply_suppression(engine)   # erased people stay erased when old exports are loaded again
            return results


def summary_table(results: list[LoadResult]) -> Table:
    table = Table(title="Ingest summary", show_lines=False)
    numbers = ("read", "loaded", "quarantined", "warned", "ignored")
    for col in ("file", "source", "status", *numbers, "top reasons"):
        table.add_column(col, justify="right" if col in numbers else "left", overflow="fold")  # never cut with …
    for r in results:
        reasons = ", ".join(f"{code} ×{n}" for code, n in list({**r.reasons, **r.warnings}.items())[:4])
        if r.status != "complete":
            reasons = r.message_en or reasons
        warned = max((t.rows_warned for t in r.targets), default=0)
        table.add_row(
            Path(r.file).name, r.source or "-", r.status, f"{r.rows_read:,}", f"{r.rows_loaded:,}",
            f"{r.rows_quarantined:,}", f"{warned:,}", f"{r.rows_ignored:,}", reasons,
        )
    return table


def other_values_lines(results: list[LoadResult]) -> list[str]:
    """Names loaded under the `other` code, with counts: candidates for the mapping's values."""
    return [
        f"{Path(r.file).name}: loaded as other: " + ", ".join(f"{v} ×{n}" for v, n in r.other_values.items())
        for r in results if r.other_values
    ]


def totals(results: list[LoadResult]) -> dict:
    reasons: dict[str, int] = {}
    for r in results:
        for code, n in r.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    return {
        "files": len(results),
        "files_loaded": sum(r.status == "complete" for r in results),
        "files_skipped": sum(r.status == "skipped" for r in results),
        "files_rejected": sum(r.status == "rejected" for r in results),
        "rows_read": sum(r.rows_read for r in results),
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_quarantined": sum(r.rows_quarantined for r in results),
        "rows_ignored": sum(r.rows_ignored for r in results),
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to load.", exists=False)],
    source: Annotated[str | None, typer.Option("--source", "-s", help="Source system mapping to use (default: by file name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON for scripts.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Load again even if the same file content was loaded before.")] = False,
    mappings: Annotated[list[Path] | None, typer.Option("--mappings", "-m", help="Extra folder of source mappings (repeatable).")] = None,
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Load source files: standardise every row, quarantine what fails, with reasons."""
    require_engine(engine_name, "ingest")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise fail(f"not found: {', '.join(missing)}")
    settings = settings_from(warehouse, as_of)
    folders = mapping_folders(mappings, settings)
    with open_engine(settings) as engine:
        results = run_ingest(engine, paths, settings.today, source, force, show_progress=not as_json, mapping_dirs=folders)
    if as_json:
        payload = totals(results)
        payload["files"] = [r.to_dict() for r in results]
        print_json(payload)
    else:
        console.print(summary_table(results))
        t = totals(results)
        console.print(
            f"{t['rows_read']:,} rows read = {t['rows_loaded']:,} loaded + {t['rows_quarantined']:,} quarantined "
            f"({t['rows_ignored']:,} blank or totals lines ignored) "
            f"· {t['files_loaded']} files loaded, {t['files_skipped']} skipped, {t['files_rejected']} rejected"
        )
        for line in other_values_lines(results):
            console.print(line, markup=False)
    if any(r.status == "rejected" for r in results):
        raise typer.Exit(code=1)


WarningsOpt = Annotated[bool, typer.Option("--warnings", help="Warnings on rows that loaded, instead of quarantined rows.")]


def _reveal(engine, principal: Principal) -> FieldCipher | None:
    """A cipher that opens quarantined personal values, for a role the policy lets read them."""
    if not load_policy().check(principal.role, "quarantine", "values").allowed:
        return None
    return FieldCipher(keys.open_keyring_from(None, engine))


def _audit_values(engine, principal: Principal, command: str, fields: list[str], rows: int) -> None:
    if fields:
        audit.record(engine, actor=principal.name, role=principal.role, action="quarantine.values", resource=command,
                     purpose=command, fields=sorted(set(fields)), detail={"rows": rows})


@quarantine_app.command("list")
def quarantine_list(
    warehouse: WarehouseOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of reasons: en or zh.")] = "en",
    warnings: WarningsOpt = False,
) -> None:
    """Quarantined rows (or, with --warnings, doubts about loaded rows) grouped by file and reason."""
    with warehouse_engine(warehouse) as engine:
        cli_access(engine, "quarantine", "read", command="molar quarantine list")
        rows = quarantine.summary(engine, lang, "warning" if warnings else "error")
    table = Table(title="Warnings on loaded rows" if warnings else "Quarantine")
    for col in ("source", "file", "table", "reason", "rows", "example"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r))
    console.print(table)


@quarantine_app.command("show")
def quarantine_show(
    file: Annotated[str | None, typer.Option("--file", help="Only rows from files whose path contains this.")] = None,
    code: Annotated[str | None, typer.Option("--reason", help="Only this reason code.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
    lang: Annotated[str, typer.Option("--lang", help="Language of reasons: en or zh.")] = "en",
    warnings: WarningsOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Individual quarantined rows (or warnings): file, row number, field, value and reason.
    Personal values are masked unless the caller's role may read them (quarantine.values)."""
    with warehouse_engine(warehouse) as engine:
        principal = cli_access(engine, "quarantine", "read", command="molar quarantine show",
                               detail={"file": file, "reason": code, "limit": limit})
        reveal = _reveal(engine, principal)
        rows = quarantine.details(
            engine, file=file, code=code, limit=limit, lang=lang, severity="warning" if warnings else "error",
            reveal=reveal,
        )
        if reveal:
            shown = [r for r in rows if r[5] and r[3] is not None]
            _audit_values(engine, principal, "molar quarantine show", [r[2] or "line" for r in shown], len(shown))
    table = Table(title="Quarantined rows")
    for col in ("file", "row", "field", "value", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) if v is not None else "" for v in r[:5]))
    console.print(table)


@quarantine_app.command("export")
def quarantine_export(
    out: Annotated[Path, typer.Argument(help="Folder to write one CSV per source file (UTF-8 with BOM, opens in Excel).")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Write quarantined rows as they were received, plus the reasons, ready to fix and reload."""
    with warehouse_engine(warehouse) as engine:
        principal = cli_access(engine, "quarantine", "export", command="molar quarantine export")
        reveal = _reveal(engine, principal)
        written = quarantine.export(engine, out, reveal)
        if reveal:
            _audit_values(engine, principal, "molar quarantine export",
                          [c for cs in sealed_columns(engine).values() for c in cs], sum(n for _, n in written))
    for path, n in written:
        console.print(f"{n:,} rows → {path}")
    if not written:
        console.print("nothing quarantined")


def unload_command(
    file: Annotated[str | None, typer.Option("--file", help="File path or name whose loads to remove.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Remove every load of this source system.")] = None,
    load_id: Annotated[str | None, typer.Option("--load-id", help="Remove this load.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Remove loaded files from the warehouse (raw, std and quarantine rows)."""
    with warehouse_engine(warehouse) as engine:
        with failing_on(ValueError):
            load_ids = find_loads(engine, file=file, source=source, load_id=load_id)
        if not load_ids:
            raise fail("no complete load matches; see ops.load or `molar quarantine list` for what was loaded")
        with engine.transaction():
            removed = unload(engine, load_ids)
    console.print(f"unloaded {len(load_ids)} load(s): " + ", ".join(f"{t} −{n:,}" for t, n in removed.items()))
    console.print("run `molar identity resolve` and `molar profile run` again to bring identities and profiles up to date")


def register(app: typer.Typer) -> None:
    from molar.ingest import mappings_cli

    app.command()(ingest)
    app.command("unload")(unload_command)
    app.add_typer(quarantine_app, name="quarantine")
    mappings_cli.register(app)
