"""Molar command line. Each capability registers its own commands; `demo` runs them all."""

from __future__ import annotations

from typing import Annotated

import typer

from molar import __version__
from molar.ui.console import console
from molar.ui.options import WarehouseOpt, failing_on, open_engine, settings_from

app = typer.Typer(
    name="molar",
    help="Molar — customer data platform and CRM brain for dental clinic chains.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        console.print(f"molar {__version__}")
        raise typer.Exit()


@app.command()
def init(warehouse: WarehouseOpt = None) -> None:
    """Create the warehouse file, or bring its schema up to date."""
    from molar.privacy import keys

    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        version = engine.scalar("SELECT max(version) FROM main.schema_version")
        with failing_on(keys.KeyConfigError):
            ring = keys.open_keyring_from(settings, engine)
    console.print(f"warehouse [bold]{settings.warehouse_path}[/] ready (schema version {version})")
    if settings.master_key:
        console.print(f"master key {ring.master_id} from MOLAR_MASTER_KEY / molar.toml")
    else:
        console.print(f"master key {ring.master_id} in {keys.key_file(settings.warehouse_path)} (laptop default: "
                      "keep a copy; in production set MOLAR_MASTER_KEY) / 主密钥保存在数据仓库旁的密钥文件中")


def _register() -> None:
    from molar import demo
    from molar.automation import cli as automation_cli
    from molar.identity import cli as identity_cli
    from molar.ingest import cli as ingest_cli
    from molar.marketing import cli as marketing_cli
    from molar.operations import cli as operations_cli
    from molar.operations import fasttrack_cli, matching_cli, recall_cli, similar_cli
    from molar.predict import cli as predict_cli
    from molar.predict.postop import cli as postop_cli
    from molar.privacy import cli as privacy_cli
    from molar.privacy import data_cli as privacy_data_cli
    from molar.profile import cli as profile_cli
    from molar.profile.sentiment import cli as sentiment_cli
    from molar.realtime import cli as realtime_cli
    from molar.reports import cli as report_cli
    from molar.segments import cli as segments_cli
    from molar.synth import cli as synth_cli

    demo.register(app)
    synth_cli.register(app)
    ingest_cli.register(app)
    identity_cli.register(app)
    realtime_cli.register(app)
    profile_cli.register(app)
    sentiment_cli.register(app)
    automation_cli.register(app)
    privacy_data_cli.register(app)
    privacy_cli.register(app)
    predict_cli.register(app)
    report_cli.register(app)
    operations_cli.register(app)
    marketing_cli.register(app)
    recall_cli.register(app)
    fasttrack_cli.register(app)
    matching_cli.register(app)
    similar_cli.register(app)
    postop_cli.register(app)
    segments_cli.register(app)


_register()
