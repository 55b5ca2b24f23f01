"""The worker: the only thread of ``molar serve`` that writes to the warehouse.

It reads the event log from its checkpoint and applies records in batches. For each
batch, in **one** DuckDB transaction, it

1. inserts the events into ``ops.rt_event`` — an ``event_id`` already there is skipped
   (a resent event, or a replay after a crash), so every event is applied once;
2. stores new provisional identities in ``ops.provisional_identity``;
3. runs the stages in registration order. A stage is
   ``stage(engine, events) -> list[Event] | None``; it receives the batch's new events
   plus the events derived by the stages before it, and returns derived events, which are
   stored in ``ops.rt_event`` (``derived = true``) and passed on to the later stages;
4. stores the checkpoint (last applied seq) in ``ops.rt_checkpoint``.

A crash anywhere before the commit leaves no trace, and the batch is applied again on
restart. Besides batches the worker runs **tick hooks** every ``tick_seconds`` (each
tick in its own transaction; events they return go through every stage), **interval
jobs** (batch recomputes; each job manages its own transactions) and functions handed
to it with :meth:`Pipeline.call`.

When a batch fails, it is tried again once; if it fails again each event is applied on
its own, and an event that still fails is stored without its stages' effects and
recorded in ``ops.rt_failure`` — one bad event never stops the others.
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from molar.model.events import Event
from molar.privacy import fields, keys
from molar.privacy.blind_index import BlindIndexer
from molar.realtime import records
from molar.realtime.connections import CursorEngine
from molar.realtime.event_table import (
    CHECKPOINT,
    read_checkpoint,
    set_checkpoint,
    store_events,
    store_provisional,
    store_records,
)
from molar.realtime.schemas import local_now
from molar.realtime.wal import EventLog
from molar.warehouse import DuckDBEngine, Engine

log = logging.getLogger("molar.realtime.pipeline")

Stage = Callable[[Engine, list[Event]], "list[Event] | None"]
TickHook = Callable[[Engine, datetime], "Iterable[Event] | None"]
Clock = Callable[[], datetime]
_PROVISIONAL = b'"provisional":true'
@dataclass
class IntervalJob:
    """A function the worker runs every ``every`` (e.g. the nightly profile recompute).

    ``run(engine)`` runs in the worker thread between batches and manages its own
    transactions; events are still acknowledged while it runs, and applied after it.
    A job that never ran is due ``first_after`` after the server starts.
    """

    name: str
    every: timedelta
    run: Callable[[Engine], object]
    first_after: timedelta = timedelta(0)


class StageError(RuntimeError):
    def __init__(self, stage: str, exc: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {type(exc).__name__}: {exc}")
        self.stage = stage
        self.original = exc


def _name(fn: Callable[..., Any]) -> str:
    owner = getattr(fn, "__self__", None)
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    if owner is not None and "." not in qual:
        qual = f"{type(owner).__name__}.{qual}"
    return qual


def _tick_adapter(hook: Callable[..., Any]) -> TickHook:
    """Accept ``hook(engine, now)`` (preferred) or ``hook(engine)``."""
    try:
        params = [
            p for p in inspect.signature(hook).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return hook
    if len(params) == 1:
        return lambda engine, now: hook(engine)
    return hook


class Pipeline:
    def __init__(
        self,
        engine: DuckDBEngine,
        event_log: EventLog,
        *,
        stages: Sequence[Stage] = (),
        tick_hooks: Sequence[Callable[..., Any]] = (),
        jobs: Sequence[IntervalJob] = (),
        clock: Clock = local_now,
        batch_max: int = 5000,
        tick_seconds: float = 0.1,
        commit_interval: float = 0.04,
        log_retention: timedelta = timedelta(days=7),
        on_provisional: Callable[[str, dict[str, str] | None], None] | None = None,
    ) -> None:
        self.owner = engine
        keyring = keys.open_keyring_from(None, engine)
        self.cipher = fields.cipher_for(engine, keyring)   # opens sealed event data for the stages
        self.indexer = BlindIndexer.from_keyring(keyring)
        self.log = event_log
        self.clock = clock
        self.batch_max = batch_max
        self.tick_seconds = tick_seconds
        self.commit_interval = commit_interval
        self.log_retention = log_retention
        self.stages: list[tuple[str, Stage]] = []
        self.tick_hooks: list[tuple[str, TickHook]] = []
        self.jobs: list[IntervalJob] = []
        self._thread: threading.Thread | None = None
        for s in stages:
            self.add_stage(s)
        for h in tick_hooks:
            self.add_tick_hook(h)
        for j in jobs:
            self.add_job(j)
        self._engine: CursorEngine | None = None
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._stopping = False
        self._calls: queue.SimpleQueue[tuple[Callable[[Engine], Any], Future]] = queue.SimpleQueue()
        self._applied_cond = threading.Condition()
        self._applied_seq = read_checkpoint(engine)
        self._job_due: dict[str, datetime] = {}
        self._pending: list[tuple[int, bytes]] = []
        self._error_log_times: dict[str, float] = {}
        self.stats: dict[str, Any] = {
            "batches": 0, "events_applied": 0, "duplicates_skipped": 0, "derived": 0,
            "failures": 0, "ticks": 0, "tick_errors": 0, "last_error": None, "apply_seconds": 0.0,
        }
        self._ack_to_applied: deque[float] = deque(maxlen=100_000)
        self.event_log_listener = self._wake.set
        self.log.add_listener(self.event_log_listener)

    # ------------------------------------------------------------------ registration
    def _check_not_started(self) -> None:
        if self._thread is not None:
            raise RuntimeError("register stages, tick hooks and jobs before the server starts")

    def add_stage(self, stage: Stage, name: str | None = None) -> None:
        """Run ``stage(engine, events) -> derived events`` on every batch (in this order)."""
        self._check_not_started()
        self.stages.append((name or _name(stage), stage))

    def add_tick_hook(self, hook: Callable[..., Any], name: str | None = None) -> None:
        """Call ``hook(engine, now)`` about every ``tick_seconds``, in its own transaction."""
        self._check_not_started()
        self.tick_hooks.append((name or _name(hook), _tick_adapter(hook)))

    def add_job(self, job: IntervalJob) -> None:
        self._check_not_started()
        if any(j.name == job.name for j in self.jobs):
            raise ValueError(f"two interval jobs are named {job.name!r}")
        self.jobs.append(job)

    # ------------------------------------------------------------------ state
    @property
    def applied_seq(self) -> int:
        """Every log record with seq ≤ this is committed to the warehouse."""
        return self._applied_seq

    @property
    def lag(self) -> int:
        return max(self.log.durable_seq - self._applied_seq, 0)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_applied(self, seq: int, timeout: float) -> bool:
        """Wait until the worker has applied the log up to ``seq``; False on timeout."""
        deadline = time.monotonic() + timeout
        if self._applied_seq < seq:
            self._hurry.set()
            self._wake.set()
        with self._applied_cond:
            while self._applied_seq < seq:
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    return self._applied_seq >= seq
                self._applied_cond.wait(left)
        return True

    def ack_to_applied_ms(self) -> dict[str, float | int]:
        """Percentiles of the time from a record being durable (acknowledged) to its commit."""
        values = sorted(self._ack_to_applied)
        if not values:
            return {"events": 0}

        def pct(p: float) -> float:
            return round(values[min(int(p * len(values)), len(values) - 1)] * 1000, 2)

        return {"events": len(values), "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99),
                "max": round(values[-1] * 1000, 2)}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is not None:
            return
        self._engine = CursorEngine(self.owner)
        self.owner.execute(
            "INSERT INTO ops.rt_checkpoint (name, seq, updated_at) SELECT ?, 0, ? "
            "WHERE NOT EXISTS (SELECT 1 FROM ops.rt_checkpoint WHERE name = ?)",
            [CHECKPOINT, self.clock(), CHECKPOINT],
        )
        self._load_job_state()
        # Arrow imports pandas the first time it converts datetimes (about a second):
        # do it now rather than on the first event.
        pa.Table.from_pydict({"occurred_at": [datetime(2000, 1, 1)]},
                             schema=pa.schema([("occurred_at", pa.timestamp("us"))]))
        self._thread = threading.Thread(target=self._run, name="molar-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Apply every durable record, then stop. Close the log first so none arrive."""
        if self._thread is None:
            return
        self._stopping = True
        self._hurry.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the worker did not stop within %.0f s; %d events not applied yet "
                      "(they stay in the event log and are applied on the next start)",
                      timeout, self.lag)
        elif self._engine is not None:
            self._engine.close()
        self.log.remove_listener(self.event_log_listener)

    def call(self, fn: Callable[[Engine], Any]) -> Future:
        """Run ``fn(engine)`` in the worker thread (the writer); returns its Future."""
        future: Future = Future()
        if self._stopping or not self.alive:
            future.set_exception(RuntimeError("the worker is not running"))
            return future
        self._calls.put((fn, future))
        self._wake.set()
        return future

    def apply_pending(self) -> int:
        """In the worker thread (inside :meth:`call`): apply everything durable now."""
        applied = 0
        while True:
            batch = self._next_batch()
            if not batch:
                return applied
            self._apply_batch(batch)
            applied += len(batch)

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        self._reader = self.log.reader(self._applied_seq)
        next_tick = time.monotonic()
        next_housekeeping = time.monotonic() + 60
        while True:
            self._wake.clear()
            busy = False
            try:
                self._run_calls()
                batch = self._next_batch()
                if batch:
                    self._apply_batch(batch)
                    busy = True
                    if len(batch) < self.batch_max and not self._stopping:
                        # A commit costs far more than the rows in it: after a small
                        # batch let the next records gather for commit_interval, unless
                        # a reader is waiting for them (read-your-writes).
                        self._hurry.wait(self.commit_interval)
                        self._hurry.clear()
                now_m = time.monotonic()
                if now_m >= next_tick:
                    next_tick = now_m + self.tick_seconds
                    self._tick()
                if self.jobs:
                    self._run_due_jobs()
                if now_m >= next_housekeeping:
                    next_housekeeping = now_m + 60
                    self._housekeeping()
            except Exception as exc:  # noqa: BLE001 - the worker must keep going
                self._log_error("worker", exc)
                time.sleep(1.0)
                continue
            if self._stopping and not self._pending and self._applied_seq >= self.log.durable_seq \
                    and self._calls.empty():
                return
            if not busy:
                self._wake.wait(max(0.0, min(next_tick - time.monotonic(), self.tick_seconds)))

    def _next_batch(self) -> list[tuple[int, bytes]]:
        if not self._pending:
            self._pending = self._reader.read(self.batch_max)
        return self._pending

    def _run_calls(self) -> None:
        while True:
            try:
                fn, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(self._engine))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def _log_error(self, where: str, exc: BaseException) -> None:
        self.stats["last_error"] = f"{where}: {type(exc).__name__}: {exc}"
        key = f"{where}:{type(exc).__name__}"
        now = time.monotonic()
        if now - self._error_log_times.get(key, -1e9) > 60:
            self._error_log_times[key] = now
            log.error("%s: %s", where, "".join(traceback.format_exception(exc)).rstrip())

    # ------------------------------------------------------------------ applying
    def _apply_batch(self, batch: list[tuple[int, bytes]]) -> None:
        started = time.perf_counter()
        try:
            self._apply_batch_inner(batch)
        finally:
            self.stats["apply_seconds"] += time.perf_counter() - started

    def _apply_batch_inner(self, batch: list[tuple[int, bytes]]) -> None:
        for attempt in range(2):
            try:
                self._apply(batch)
                break
            except Exception as exc:  # noqa: BLE001
                self._log_error("batch", exc)
                if attempt == 0:
                    time.sleep(0.05)
        else:
            for record in batch:
                try:
                    self._apply([record])
                except Exception as exc:  # noqa: BLE001
                    self._apply_failed(record, exc)
        self._pending = []

    def _apply(self, batch: list[tuple[int, bytes]]) -> None:
        last_seq = batch[-1][0]
        now = self.clock()
        engine = self._engine
        with engine.transaction():
            new_seqs = store_records(engine, batch, now)
            if new_seqs and (self.stages or any(_PROVISIONAL in p for _, p in batch)):
                decoded = [records.decode(seq, p, self.cipher) for seq, p in batch if seq in new_seqs]
                store_provisional(engine, decoded, now, self.cipher, self.indexer)
                self._run_stages(engine, [e for e, _ in decoded], last_seq, now)
            set_checkpoint(engine, last_seq, now)
        self._committed(batch, len(new_seqs))

    def _committed(self, batch: list[tuple[int, bytes]], new: int) -> None:
        last_seq = batch[-1][0]
        t = time.perf_counter()
        for seq, _ in batch:
            durable_at = self.log.durable_time(seq)
            if durable_at is not None:
                self._ack_to_applied.append(t - durable_at)
        self.stats["batches"] += 1
        self.stats["events_applied"] += new
        self.stats["duplicates_skipped"] += len(batch) - new
        with self._applied_cond:
            self._applied_seq = last_seq
            self._applied_cond.notify_all()

    def _apply_failed(self, record: tuple[int, bytes], exc: BaseException) -> None:
        """Store the event without its stages' effects and record why it failed."""
        seq, payload = record
        now = self.clock()
        engine = self._engine
        stage = exc.stage if isinstance(exc, StageError) else None
        event_id = event_type = None
        try:
            event, its_keys = records.decode(seq, payload, self.cipher)
            event_id, event_type = event.event_id, event.type
            with engine.transaction():
                if store_events(engine, [event], derived=False, seq=None, now=now, cipher=self.cipher):
                    store_provisional(engine, [(event, its_keys)], now, self.cipher, self.indexer)
                self._record_failure(engine, seq, event_id, event_type, stage, exc, payload, now)
        except (ValueError, KeyError, TypeError) as bad:
            # The record itself cannot be stored (not JSON, not an event): keep it aside.
            with engine.transaction():
                self._record_failure(engine, seq, event_id, event_type, stage, bad, payload, now)
        self.stats["failures"] += 1
        log.error("event seq %d (%s) failed and was set aside in ops.rt_failure: %s", seq, event_id, exc)
        self._committed([record], 1)

    def _record_failure(self, engine: Engine, seq: int, event_id: str | None, event_type: str | None,
                        stage: str | None, exc: BaseException, payload: bytes, now: datetime) -> None:
        engine.execute(
            "INSERT INTO ops.rt_failure (seq, event_id, type, stage, error, record, failed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [seq, event_id, event_type, stage, f"{type(exc).__name__}: {exc}",
             payload.decode("utf-8", "replace"), now],
        )
        set_checkpoint(engine, seq, now)

    def _run_stages(self, engine: Engine, events: list[Event], seq: int, now: datetime) -> list[Event]:
        current = list(events)
        if not current:
            return current
        for name, stage in self.stages:
            try:
                out = stage(engine, list(current))
            except Exception as exc:  # noqa: BLE001
                raise StageError(name, exc) from exc
            if out:
                derived = [
                    e if e.received_at is not None else e.with_(received_at=now)
                    for e in out
                ]
                stored = store_events(engine, derived, derived=True, seq=seq, now=now, cipher=self.cipher)
                self.stats["derived"] += len(stored)
                current.extend(stored)
        return current

    # ------------------------------------------------------------------ ticks and jobs
    def _tick(self) -> None:
        if not self.tick_hooks:
            return
        now = self.clock()
        engine = self._engine
        self.stats["ticks"] += 1
        for name, hook in self.tick_hooks:
            try:
                with engine.transaction():
                    out = hook(engine, now)
                    if out:
                        produced = [e if e.received_at is not None else e.with_(received_at=now)
                                    for e in out]
                        new = store_events(engine, produced, derived=True, seq=self._applied_seq, now=now,
                                           cipher=self.cipher)
                        self.stats["derived"] += len(new)
                        self._run_stages(engine, new, self._applied_seq, now)
            except Exception as exc:  # noqa: BLE001
                self.stats["tick_errors"] += 1
                self._log_error(f"tick {name}", exc)

    def _load_job_state(self) -> None:
        if not self.jobs:
            return
        last = dict(self.owner.rows("SELECT name, last_started_at FROM ops.rt_job"))
        start = self.clock()
        for job in self.jobs:
            started = last.get(job.name)
            self._job_due[job.name] = started + job.every if started else start + job.first_after

    def _run_due_jobs(self) -> None:
        now = self.clock()
        for job in self.jobs:
            if now < self._job_due[job.name] or self._stopping:
                continue
            engine = self._engine
            engine.execute(
                "INSERT INTO ops.rt_job (name, last_started_at, runs) VALUES (?, ?, 0) "
                "ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at",
                [job.name, now],
            )
            status, error = "ok", None
            try:
                job.run(engine)
            except Exception as exc:  # noqa: BLE001
                status, error = "failed", f"{type(exc).__name__}: {exc}"
                self._log_error(f"job {job.name}", exc)
            finished = self.clock()
            engine.execute(
                "UPDATE ops.rt_job SET last_finished_at = ?, last_status = ?, last_error = ?, "
                "runs = runs + 1 WHERE name = ?",
                [finished, status, error, job.name],
            )
            self._job_due[job.name] = now + job.every

    def _housekeeping(self) -> None:
        seconds = self.log_retention.total_seconds()
        self.log.drop_segments_through(self._applied_seq, older_than_seconds=seconds)


def keys_in_log_tail(event_log: EventLog, after_seq: int) -> Iterable[tuple[str, dict | None]]:
    """Provisional IDs (and keys) of records not applied yet, for the identity index."""
    reader = event_log.reader(after_seq)
    try:
        while True:
            chunk = reader.read(10_000)
            if not chunk:
                return
            for seq, payload in chunk:
                try:
                    raw = json.loads(payload)
                except ValueError:
                    log.warning("event log record %d is not JSON; the worker will set it aside", seq)
                    continue
                if raw.get("provisional"):
                    yield raw["golden_id"], raw.get("keys")
    finally:
        reader.close()
