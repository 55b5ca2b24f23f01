"""`molar serve`: the real-time server (event collector, worker, API, web console)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer
from rich.markup import escape

from molar.ui.console import err_console
from molar.ui.options import WarehouseOpt, fail, failing_on, settings_from

NO_CREDENTIALS = (
    "no staff users or API tokens exist yet, so nobody can sign in to the console or call the API. "
    "Create the first admin with `molar users add NAME --role admin -w {w}` "
    "(then staff users with `molar users add`, and tokens for systems with `molar tokens create NAME --role ROLE`), "
    "or configure keys under [api_keys] in molar.toml (see docs/privacy.md)"
)


def serve_command(
    warehouse: WarehouseOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8765,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
    create: Annotated[bool, typer.Option(
        "--create", help="Start even when the warehouse is missing or holds no patients (creates it).")] = False,
) -> None:
    """Run the real-time server: event collector, worker, API (OpenAPI at /docs) and the
    web console (/console).

    The server owns the warehouse while it runs; other commands that open it are refused
    ("warehouse in use") until it stops. Stop it with Ctrl-C or SIGTERM: queued events are written and applied first.
    """
    from molar.config import ConfigError
    from molar.realtime.runtime import events_dir_for
    from molar.realtime.server import serve
    from molar.realtime.wal import LogError
    from molar.serve import build_server as build_app
    from molar.warehouse import WarehouseError

    settings = settings_from(warehouse)
    path = settings.warehouse_path
    if not create and not path.exists():
        raise fail(_refusal(f"there is no warehouse at {path}", path))
    with failing_on(ConfigError, WarehouseError, LogError):
        app = build_app(settings)
        app.state.realtime.start()
    runtime = app.state.realtime
    engine = runtime.engine
    if not create and not engine.scalar(
            "SELECT (SELECT count(*) FROM std.patient) + (SELECT count(*) FROM identity.patient) "
            "+ (SELECT count(*) FROM identity.cluster)"):
        runtime.close()
        raise fail(_refusal(f"the warehouse {path} holds no patients", path))
    credentials = engine.scalar("SELECT (SELECT count(*) FROM ops.access_token WHERE revoked_at IS NULL) "
                                "+ (SELECT count(*) FROM ops.staff_user WHERE NOT disabled)")
    if not len(runtime.keys) and not credentials:
        err_console.print("[yellow]warning:[/] " + escape(NO_CREDENTIALS.format(w=path)))
    err_console.print(
        f"molar serve: http://{host}:{port}/console/ (API docs at /docs) · warehouse {path} · "
        f"event log {events_dir_for(settings)} at seq {runtime.log.durable_seq}"
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve(app, host, port, log_level=log_level)


def _refusal(what: str, path) -> str:
    return (f"{what}; not starting. Use -w to name the warehouse you built (e.g. `molar serve -w "
            f"molar-demo/molar.duckdb` after `molar demo`), load exports with `molar ingest`, or start on "
            f"an empty one on purpose with `molar serve --create -w {path}`.\n"
            f"数据仓库为空或不存在（{path}），未启动。请用 -w 指定已建好的仓库，或加 --create 新建。")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
