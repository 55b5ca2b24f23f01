"""The running parts of ``molar serve`` and their order of starting and stopping.

Start: open the warehouse (this process now owns the DuckDB file; migrations run) →
read the worker's checkpoint → open the event log (recovering a torn tail) → load the
identity index (plus provisional IDs of records still waiting in the log) → start the
worker. Stop (SIGTERM/SIGINT, after the HTTP server has finished its requests): close
the log (everything queued is written) → the worker applies every durable record →
close the warehouse.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from molar.config import Settings
from molar.privacy import event_data
from molar.privacy.crypto import FieldCipher
from molar.realtime import records
from molar.realtime.auth import KeyRing, RateLimiter
from molar.realtime.collector import Collector, remember_stored, stored_versions
from molar.realtime.connections import ThreadCursors
from molar.realtime.identity_index import IdentityIndex, reconcile_mapping
from molar.realtime.pipeline import IntervalJob, Pipeline, Stage, keys_in_log_tail
from molar.realtime.schemas import local_now
from molar.realtime.wal import EventLog
from molar.warehouse import DuckDBEngine, Engine, open_warehouse

log = logging.getLogger("molar.realtime")

ReconcileHook = Callable[[Engine, dict[str, str]], None]
SIGN_IN_PER_MINUTE = 10


def events_dir_for(settings: Settings) -> Path:
    return settings.events_dir or Path(str(settings.warehouse_path) + ".events")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        stages: Sequence[Stage] = (),
        tick_hooks: Sequence[Callable[..., Any]] = (),
        jobs: Sequence[IntervalJob] = (),
        reconcile_hooks: Sequence[ReconcileHook] = (),
        clock: Callable[[], datetime] = local_now,
        tick_seconds: float = 0.1,
        read_your_writes_timeout: float = 2.0,
    ) -> None:
        self.settings = settings
        self.keys = KeyRing.from_settings(settings)   # config errors surface before startup
        self.limiter = RateLimiter(settings.api_rate_per_minute)
        self.sign_in_limiter = RateLimiter(SIGN_IN_PER_MINUTE)   # per user name: slows password guessing
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.read_your_writes_timeout = read_your_writes_timeout
        self._stages = list(stages)
        self._tick_hooks = list(tick_hooks)
        self._jobs = list(jobs)
        self.reconcile_hooks: list[ReconcileHook] = list(reconcile_hooks)
        self.engine: DuckDBEngine | None = None
        self.log: EventLog | None = None
        self.index: IdentityIndex | None = None
        self.pipeline: Pipeline | None = None
        self.collector: Collector | None = None
        self.readers: ThreadCursors | None = None
        self.started_at: float | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def started(self) -> bool:
        return self.started_at is not None

    # Registration before start (the app factory passes these to the constructor too).
    def add_stage(self, stage: Stage) -> None:
        self._check_not_started()
        self._stages.append(stage)

    def add_tick_hook(self, hook: Callable[..., Any]) -> None:
        self._check_not_started()
        self._tick_hooks.append(hook)

    def add_job(self, job: IntervalJob) -> None:
        self._check_not_started()
        self._jobs.append(job)

    def _check_not_started(self) -> None:
        if self.started:
            raise RuntimeError("register stages, tick hooks and jobs before the server starts")

    def start(self) -> None:
        """Open everything; raises WarehouseError / LogError with a message for the user."""
        with self._lock:
            if self.started:
                return
            engine = open_warehouse(self.settings)
            try:
                checkpoint = int(engine.scalar(
                    "SELECT coalesce(max(seq), 0) FROM ops.rt_checkpoint WHERE name = 'pipeline'") or 0)
                event_log = EventLog(events_dir_for(self.settings), start_seq=checkpoint + 1)
            except BaseException:
                engine.close()
                raise
            try:
                index = IdentityIndex.load(engine)
                for pv, keys in keys_in_log_tail(event_log, checkpoint):
                    index.remember(pv, keys)
                pipeline = Pipeline(
                    engine, event_log, stages=self._stages, tick_hooks=self._tick_hooks,
                    jobs=self._jobs, clock=self.clock, tick_seconds=self.tick_seconds,
                )
                pipeline.start()
            except BaseException:
                event_log.close()
                engine.close()
                raise
            self.engine, self.log, self.index, self.pipeline = engine, event_log, index, pipeline
            self.collector = Collector(
                event_log, index, pipeline.cipher, max_batch=self.settings.max_batch_events, clock=self.clock,
                stored_lookup=self._stored_events,
            )
            remember_stored(self.collector, _log_tail(event_log, checkpoint, pipeline.cipher))
            self.readers = ThreadCursors(engine)
            self.started_at = time.monotonic()
            if event_log.recovery.truncated_bytes:
                log.warning("recovered the event log: cut %d bytes of a torn tail",
                            event_log.recovery.truncated_bytes)
            log.info("event log %s at seq %d, applied %d; identity index %s",
                     event_log.directory, event_log.durable_seq, pipeline.applied_seq, index.sizes())

    def close(self) -> None:
        with self._lock:
            if self._closed or not self.started:
                self._closed = True
                return
            self._closed = True
            self.log.close()
            self.pipeline.stop()
            self.readers.close()
            self.engine.close()

    # ------------------------------------------------------------------ operations
    def _stored_events(self, stored_ids: list[str]) -> dict:
        """Inbound events already stored under these IDs (for the collector's dedup)."""
        marks = ", ".join("?" * len(stored_ids))
        rows = self.read_engine().rows(
            "SELECT seq, event_id, type, occurred_at, data, golden_id, sealed FROM ops.rt_event "
            f"WHERE event_id IN ({marks}) AND NOT derived", stored_ids)
        cipher = self.pipeline.cipher
        return stored_versions(
            (seq, eid, t, at, event_data.opened(cipher, eid, json.loads(d) if d else {}, sealed), g)
            for seq, eid, t, at, d, g, sealed in rows)

    def read_engine(self) -> Engine:
        """A read connection for the calling thread."""
        return self.readers.get()

    def wait_applied(self, timeout: float | None = None) -> tuple[bool, int]:
        """Read-your-writes: wait until everything acknowledged so far is applied."""
        target = self.log.durable_seq
        ok = self.pipeline.wait_applied(target, self.read_your_writes_timeout if timeout is None else timeout)
        return ok, target

    def refresh_identity(self, timeout: float = 600.0) -> dict[str, Any]:
        """After an identity run: apply the log, reconcile provisional IDs, reload the index.

        Runs in the worker thread (the only writer); blocks until done.
        """
        def work(engine: Engine) -> dict[str, Any]:
            self.pipeline.apply_pending()
            mapping = reconcile_mapping(engine, self.clock())
            sizes = self.index.refresh(engine, self.clock())
            for hook in self.reconcile_hooks:
                hook(engine, mapping)
            return {"provisional_resolved": len(mapping), "index": sizes}

        return self.pipeline.call(work).result(timeout)

    def health(self, stats: bool = False) -> dict[str, Any]:
        log_seq = self.log.durable_seq
        applied = self.pipeline.applied_seq
        failed = self.log.failed
        out: dict[str, Any] = {
            "status": "ok" if failed is None and self.pipeline.alive else "degraded",
            "log_seq": log_seq,
            "applied_seq": applied,
            "lag": max(log_seq - applied, 0),
            "worker_alive": self.pipeline.alive,
            "log_error": str(failed) if failed else None,
            "uptime_seconds": round(time.monotonic() - self.started_at, 1),
        }
        if stats:
            out["pipeline"] = dict(self.pipeline.stats)
            out["ack_to_applied_ms"] = self.pipeline.ack_to_applied_ms()
            out["event_log"] = {**self.log.stats, "directory": str(self.log.directory),
                                "segments": len(self.log.segments())}
            out["collector"] = dict(self.collector.stats)
            out["identity_index"] = self.index.sizes()
            out["stages"] = [name for name, _ in self.pipeline.stages]
            out["tick_hooks"] = [name for name, _ in self.pipeline.tick_hooks]
            out["jobs"] = [j.name for j in self.pipeline.jobs]
        return out


def _log_tail(event_log: EventLog, after_seq: int, cipher: FieldCipher):
    """Events in the log not applied yet: (seq, stored_id, type, occurred_at, data, golden_id)."""
    reader = event_log.reader(after_seq)
    try:
        while chunk := reader.read(10_000):
            for seq, payload in chunk:
                try:
                    event, _ = records.decode(seq, payload, cipher)
                except (ValueError, KeyError):
                    continue  # the worker sets a bad record aside
                yield seq, event.event_id, event.type, event.occurred_at, dict(event.data), event.golden_id
    finally:
        reader.close()
