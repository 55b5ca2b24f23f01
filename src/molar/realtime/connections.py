"""DuckDB from several threads: one cursor (its own connection to the same database)
per thread. Only the pipeline worker writes; HTTP handler threads read."""

from __future__ import annotations

import contextlib
import threading

from molar.warehouse import DuckDBEngine


class CursorEngine(DuckDBEngine):
    """An engine on a cursor of another engine's connection (same database, own
    transactions). Everything else — ``transaction()``, ``append``, ``arrow`` — is the
    ordinary :class:`DuckDBEngine`."""

    def __init__(self, parent: DuckDBEngine) -> None:  # noqa: D107 - no new connection
        self.path = parent.path
        self.con = parent.con.cursor()
        self._depth = 0


class ThreadCursors:
    """A :class:`CursorEngine` per calling thread, all closed together."""

    def __init__(self, parent: DuckDBEngine) -> None:
        self._parent = parent
        self._local = threading.local()
        self._all: list[CursorEngine] = []
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> CursorEngine:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the warehouse is closed; the server is shutting down")
                engine = CursorEngine(self._parent)
                self._all.append(engine)
            self._local.engine = engine
        return engine

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for engine in self._all:
                with contextlib.suppress(Exception):  # shutting down; nothing to add
                    engine.close()
            self._all.clear()
