"""`molar serve`: the real-time server (event collector, worker, API)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from molar.ui.console import err_console
from molar.ui.options import WarehouseOpt, failing_on, settings_from


def serve_command(
    warehouse: WarehouseOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to listen on.")] = 8765,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the real-time server: event collector, worker and API (OpenAPI at /docs).

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
    with failing_on(ConfigError, WarehouseError, LogError):
        app = build_app(settings)
        app.state.realtime.start()
    runtime = app.state.realtime
    tokens = runtime.engine.scalar("SELECT count(*) FROM ops.access_token WHERE revoked_at IS NULL")
    if not len(runtime.keys) and not tokens:
        err_console.print("[yellow]warning:[/] no API tokens exist yet, so every request will be refused; "
                          "create one with `molar tokens create NAME --role ROLE` (see docs/realtime.md)")
    err_console.print(
        f"molar serve: http://{host}:{port} (API docs at /docs) · warehouse {settings.warehouse_path} · "
        f"event log {events_dir_for(settings)} at seq {runtime.log.durable_seq}"
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve(app, host, port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
