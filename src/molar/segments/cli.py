"""`molar segments list|size|preview|export|refresh`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from molar.ui.console import console
from molar.ui.options import (
    AsOfOpt,
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    settings_from,
)

segments_app = typer.Typer(help="Segments: named groups of patients by tags, scores, tier, stage and visits; "
                                "their size, members (masked by role) and entries and exits for the rules.",
                           no_args_is_help=True)
KeyArg = Annotated[str, typer.Argument(help="Segment key, e.g. lapsed_cleaning (see `molar segments list`).")]


@contextmanager
def _opened(warehouse, as_of) -> Iterator[tuple]:
    from molar.segments.catalogue import CatalogueError, load_catalogue

    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        with failing_on(CatalogueError):
            found = load_catalogue(engine)
        yield settings, engine, found


def _pick(found: dict, key: str):
    if key not in found:
        raise fail(f"no segment {key!r}; segments: {', '.join(found)} / 没有该分群")
    return found[key]


@segments_app.command("list")
def list_command(warehouse: WarehouseOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Every segment with its version, size today and definition in words."""
    from molar.segments.members import members_of

    with _opened(warehouse, as_of) as (settings, engine, found):
        sizes = members_of(engine, list(found.values()), settings.today)
        rows = [{"key": s.key, "version": s.version, "name_zh": s.name_zh, "name_en": s.name_en,
                 "size": len(sizes[s.key]), "definition": s.in_words("en"), "source": s.source}
                for s in found.values()]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Segments as of {settings.today}")
    for column in ("key", "version", "name", "size", "definition"):
        table.add_column(column, justify="right" if column in ("version", "size") else "left")
    for r in rows:
        table.add_row(r["key"], str(r["version"]), f"{r['name_zh']}\n{r['name_en']}", f"{r['size']:,}",
                      escape(r["definition"]))   # "[strategic, growth]" is not Rich markup
    console.print(table)


@segments_app.command("size")
def size_command(key: KeyArg, warehouse: WarehouseOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """How many patients are in the segment today."""
    from molar.segments.members import members

    with _opened(warehouse, as_of) as (settings, engine, found):
        segment = _pick(found, key)
        size = len(members(engine, segment, settings.today))
    if as_json:
        print_json({"key": key, "version": segment.version, "as_of": settings.today, "size": size})
        return
    console.print(f"{segment.name_zh} / {segment.name_en} (v{segment.version}): [bold]{size:,}[/] patients "
                  f"as of {settings.today}")


@segments_app.command("preview")
def preview_command(key: KeyArg, limit: Annotated[int, typer.Option("--limit", min=1, max=200,
                                                                    help="How many members to show.")] = 20,
                    warehouse: WarehouseOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """The first members, with name and mobile as your role may see them (audited)."""
    from molar.privacy.cli import cli_access, cli_principal
    from molar.segments.members import members
    from molar.segments.people import people, visible

    with _opened(warehouse, as_of) as (settings, engine, found):
        principal = cli_principal(engine, "segment", "read", bootstrap=True)
        segment = _pick(found, key)
        ids = visible(engine, principal, members(engine, segment, settings.today))
        rows, view = people(engine, principal, ids[:limit])
        cli_access(engine, "segment", "read", command="molar segments preview", fields=sorted(view.shown),
                   detail={"segment": key, "version": segment.version, "size": len(ids), "masked": sorted(view.masked),
                           "patients": [r["golden_id"] for r in rows]}, principal=principal)
    if as_json:
        print_json({"key": key, "size": len(ids), "members": rows})
        return
    table = Table(title=f"{segment.name_zh} / {segment.name_en}: first {len(rows)} of {len(ids):,}")
    for column in ("patient", "clinic", "name", "mobile"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["golden_id"], r["home_clinic_id"] or "", escape(r["name"] or "—"), r["mobile"] or "—")
    console.print(table)


@segments_app.command("export")
def export_command(key: KeyArg, out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
                   warehouse: WarehouseOpt = None, as_of: AsOfOpt = None) -> None:
    """Every member to a CSV file (UTF-8), at your role's field levels; the export is audited
    with its row count."""
    from molar.privacy.cli import cli_access, cli_principal
    from molar.segments.members import members
    from molar.segments.people import people, visible, write_csv

    with _opened(warehouse, as_of) as (settings, engine, found):
        principal = cli_principal(engine, "segment", "export", bootstrap=True)
        if out.suffix.lower() != ".csv":
            raise fail(f"--out {out}: name a .csv file / 请指定 .csv 文件")
        segment = _pick(found, key)
        rows, view = people(engine, principal, visible(engine, principal, members(engine, segment, settings.today)))
        try:
            with out.open("w", encoding="utf-8-sig", newline="") as handle:
                written = write_csv(handle, rows)
        except OSError as exc:
            raise fail(f"cannot write {out}: {exc.strerror} / 无法写入文件") from exc
        cli_access(engine, "segment", "export", command="molar segments export", fields=sorted(view.shown),
                   detail={"segment": key, "version": segment.version, "rows": written, "file": out.name,
                           "masked": sorted(view.masked)}, principal=principal)
    console.print(f"wrote {written:,} members of {key} to {out}")


@segments_app.command("refresh")
def refresh_command(keys: Annotated[list[str] | None, typer.Argument(help="Segment keys (default: every segment).")] = None,
                    warehouse: WarehouseOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Store today's members and hand every entry and exit to the rules as segment.entered /
    segment.exited events (a segment's first refresh only stores its members)."""
    from molar.automation.runtime import Automation
    from molar.segments.members import refresh

    with _opened(warehouse, as_of) as (settings, engine, found):
        chosen = [_pick(found, k) for k in keys] if keys else list(found.values())
        with failing_on(ValueError):   # a rule or policy file in error names file and line
            automation = Automation.from_settings(settings)
        with engine.transaction():
            events, summary = refresh(engine, chosen, settings.today, automation.clock())
            automation.on_events(engine, events)
    if as_json:
        print_json([s.__dict__ for s in summary])
        return
    table = Table(title=f"Segments refreshed as of {settings.today}")
    for column in ("segment", "version", "members", "entered", "exited"):
        table.add_column(column, justify="left" if column == "segment" else "right")
    for s in summary:
        table.add_row(s.key, str(s.version), f"{s.members:,}", "first refresh" if s.first else f"{s.entered:,}",
                      "" if s.first else f"{s.exited:,}")
    console.print(table)
    console.print(f"{len(events):,} segment.entered / segment.exited events handed to the rules")


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")
