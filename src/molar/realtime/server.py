"""Running the real-time server: ``molar serve`` = Uvicorn + the app, one process that
owns the warehouse file.

``build_app`` is where the server's components are put together. Stages, tick hooks,
jobs and routers of the capabilities to the right of the collector (profile state
updater, automation engine, rules API) are added there.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from fastapi import FastAPI

from molar.config import Settings
from molar.realtime.app import create_app


def build_app(settings: Settings) -> FastAPI:
    """The app ``molar serve`` runs.

    Register components here, e.g.::

        return create_app(
            settings,
            stages=[profile_state.on_events, automation.on_events],
            tick_hooks=[automation.tick],
            jobs=[IntervalJob("profile", timedelta(hours=24), run_profile)],
            routers=[rules_router],
        )
    """
    return create_app(settings)


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("molar")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "info") -> None:
    """Start the app's runtime (if not started) and serve until SIGTERM/SIGINT.

    On a signal Uvicorn stops accepting connections and finishes the requests in flight;
    then the event log writes what is queued, the worker applies every durable event and
    the warehouse is closed.
    """
    _configure_logging(log_level)
    # The event loop (HTTP) and the worker share the GIL; a 1 ms switch interval (default
    # 5 ms) lets the worker take its turn between DuckDB calls sooner (under load its
    # batches commit about a quarter faster, with no loss of HTTP throughput).
    sys.setswitchinterval(0.001)
    runtime = app.state.realtime
    runtime.start()
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=30, server_header=False,
    )
    try:
        uvicorn.Server(config).run()
    finally:
        runtime.close()
