"""`molar synth`: write a synthetic dental chain's exports and ground truth to a folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from molar.ui.console import console, progress_bar
from molar.ui.options import fail, failing_on

synth_app = typer.Typer(help="Synthetic dental chain with ground truth (the demo data).", no_args_is_help=True)


def generate_with_progress(out: Path, patients: int, clinics: int, seed: int, end_date: date) -> dict:
    from molar.synth import SynthConfig, generate

    with failing_on(ValueError):
        config = SynthConfig(out_dir=out, patients=patients, clinics=clinics, seed=seed, end_date=end_date)
    with progress_bar() as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(f"generate {stage}", total=total)
            progress.update(tasks[stage], completed=done, total=total)

        return generate(config, progress=on_progress).manifest


@synth_app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Argument(help="Folder to write sources/ (the exports) and truth/ into.")],
    patients: Annotated[int, typer.Option("--patients", "-n", help="Distinct people.", min=10)] = 20_000,
    clinics: Annotated[int, typer.Option("--clinics", "-k", help="Clinics in the chain.", min=1, max=99)] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives byte-identical files.")] = 7,
    end_date: Annotated[str, typer.Option("--end-date", help="Export date, last day of history (YYYY-MM-DD).")] = "2026-10-31",
) -> None:
    """Generate the exports of a synthetic dental chain, with ground truth kept apart."""
    try:
        end = date.fromisoformat(end_date)
    except ValueError as exc:
        raise fail(f"--end-date {end_date!r} is not a date; write it as YYYY-MM-DD") from exc
    manifest = generate_with_progress(out, patients, clinics, seed, end)
    for name, info in sorted(manifest.get("files", {}).items()):
        console.print(f"{info.get('rows', 0):>12,}  {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
