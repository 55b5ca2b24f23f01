"""The event log: append-only segment files with group commit and crash recovery.

Layout of the log directory (default ``<warehouse>.events/``)::

    LOCK                            held (flock) by the process that owns the log
    00000000000000000001.seg        segment: records with seq 1, 2, … (name = first seq)
    00000000000000052311.seg        the active segment (the last one) takes new records

A record is a 16-byte header followed by its payload (UTF-8 JSON for events)::

    u32 length of payload | u32 CRC32 of (seq, payload) | u64 seq | payload

**Group commit.** ``append_many`` / ``append_async`` only queue the payloads. One writer
thread takes everything queued, numbers the records, writes them with one ``write``,
calls ``fdatasync`` and only then resolves every waiter with its sequence numbers. While
one batch is being synced the next one queues up, so a busy log syncs a few hundred
records at a time and an idle one answers in well under a millisecond.

**Recovery.** On open, the active segment is read record by record. The first record
whose header is cut short, whose length runs past the end of the file, whose seq is not
the next number or whose CRC does not match marks a torn tail (the process died during
a write): the file is truncated there. Every acknowledged record was fully written and
synced before its acknowledgement, so the cut never reaches one. Sequence numbers
continue from the last valid record, or from the active segment's name when it is empty,
and never from lower than ``start_seq``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("molar.realtime.wal")

HEADER = struct.Struct("<IIQ")
HEADER_SIZE = HEADER.size
MAX_RECORD_BYTES = 16 * 1024 * 1024
SEGMENT_SUFFIX = ".seg"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
# The writer hands at most this many bytes to one write + fsync.
MAX_GROUP_BYTES = 8 * 1024 * 1024


class LogError(RuntimeError):
    """The event log cannot do what was asked; the message says why."""


class LogCorruptError(LogError):
    """A record in a closed segment fails its checks (not a torn tail)."""


def _crc(seq: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "little")))


def encode_record(seq: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), _crc(seq, payload), seq) + payload


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


@dataclass
class _Segment:
    first_seq: int
    path: Path


@dataclass
class _Request:
    records: Sequence[bytes]
    future: Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    afuture: asyncio.Future | None = None
    seqs: list[int] = field(default_factory=list)
    nbytes: int = 0


@dataclass(frozen=True)
class Recovery:
    """What opening the log found."""

    segments: int
    last_seq: int
    truncated_bytes: int      # bytes of a torn tail cut off the active segment
    truncated_at: int | None  # file offset of the cut


def _scan(data: bytes | memoryview, expected_seq: int) -> tuple[int, int]:
    """Walk valid records from the start; returns (valid byte length, next seq)."""
    pos, size = 0, len(data)
    while pos + HEADER_SIZE <= size:
        length, crc, seq = HEADER.unpack_from(data, pos)
        end = pos + HEADER_SIZE + length
        if seq != expected_seq or length > MAX_RECORD_BYTES or end > size:
            break
        if _crc(seq, bytes(data[pos + HEADER_SIZE:end])) != crc:
            break
        pos, expected_seq = end, expected_seq + 1
    return pos, expected_seq


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EventLog:
    """Durable append-only log of byte records numbered 1, 2, 3, …

    ``append_many(records)`` returns a :class:`concurrent.futures.Future` of the records'
    sequence numbers; ``append_async(records)`` the same as an awaitable for asyncio code.
    Either resolves only after the records are on disk (``fdatasync``).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        start_seq: int = 1,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: bool = True,
    ) -> None:
        if start_seq < 1:
            raise ValueError("start_seq must be 1 or more")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise LogError(
                f"the event log {self.directory} is in use by another Molar process; "
                "stop that `molar serve` first"
            ) from exc

        self._segments: list[_Segment] = []
        self.recovery = self._recover(start_seq)
        self._durable_seq = self._next_seq - 1

        self._queue: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._closed = False
        self._failed: BaseException | None = None
        self.stats = {"batches": 0, "records": 0, "bytes": 0, "sync_seconds": 0.0}
        self._listeners: list[Callable[[], None]] = []
        # (last seq of a write, perf_counter when it became durable), for latency figures.
        self._mark_seqs: list[int] = []
        self._mark_times: list[float] = []
        self._mark_floor = self._durable_seq
        self._writer = threading.Thread(target=self._run, name="molar-event-log", daemon=True)
        self._writer.start()

    # ------------------------------------------------------------------ recovery
    def _recover(self, start_seq: int) -> Recovery:
        for path in sorted(self.directory.glob(f"*{SEGMENT_SUFFIX}")):
            stem = path.name[: -len(SEGMENT_SUFFIX)]
            if stem.isdigit():
                self._segments.append(_Segment(int(stem), path))
        truncated, cut_at = 0, None
        if not self._segments:
            self._create_segment(start_seq)
            next_seq = start_seq
        else:
            active = self._segments[-1]
            data = active.path.read_bytes()
            valid, next_seq = _scan(data, active.first_seq)
            if valid < len(data):
                truncated, cut_at = len(data) - valid, valid
                log.warning(
                    "event log: cut a torn tail of %d bytes off %s at offset %d "
                    "(a write was interrupted; no acknowledged record is affected)",
                    truncated, active.path.name, valid,
                )
                with open(active.path, "r+b") as f:
                    f.truncate(valid)
                    f.flush()
                    os.fsync(f.fileno())
            if next_seq < start_seq:
                if next_seq == active.first_seq and valid == 0:
                    # An empty active segment below the warehouse's checkpoint: renumber.
                    active.path.unlink()
                    self._segments.pop()
                    self._create_segment(start_seq)
                    next_seq = start_seq
                else:
                    raise LogError(
                        f"the event log {self.directory} ends at seq {next_seq - 1} but the "
                        f"warehouse has applied events up to seq {start_seq - 1}; the log "
                        "belongs to another warehouse or lost records. Point the server at "
                        "the right log (events_dir) or move this directory away."
                    )
        self._next_seq = next_seq
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._active_size = os.fstat(self._fd).st_size
        return Recovery(len(self._segments), next_seq - 1, truncated, cut_at)

    def _create_segment(self, first_seq: int) -> None:
        path = self.directory / _segment_name(first_seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        if self._fsync:
            _fsync_dir(self.directory)
        self._segments.append(_Segment(first_seq, path))

    # ------------------------------------------------------------------ appending
    @property
    def durable_seq(self) -> int:
        """Highest sequence number on disk and acknowledged (0 when the log is empty)."""
        return self._durable_seq

    @property
    def first_seq(self) -> int:
        return self._segments[0].first_seq

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    def _check_open(self) -> None:
        if self._failed is not None:
            raise LogError(f"the event log stopped after a disk error: {self._failed}")
        if self._closing:
            raise LogError("the event log is closing; the server is shutting down")

    def append_many(self, records: Sequence[bytes]) -> Future:
        """Queue records; the Future resolves to their seqs once they are on disk."""
        future: Future = Future()
        if not records:
            future.set_result([])
            return future
        self._enqueue(_Request(records, future=future))
        return future

    def append(self, record: bytes) -> int:
        """Append one record and wait until it is durable; returns its seq."""
        return self.append_many([record]).result()[0]

    def append_async(self, records: Sequence[bytes]) -> asyncio.Future:
        """Like :meth:`append_many` for code running in an asyncio event loop."""
        loop = asyncio.get_running_loop()
        afuture = loop.create_future()
        if not records:
            afuture.set_result([])
            return afuture
        self._enqueue(_Request(records, loop=loop, afuture=afuture))
        return afuture

    def _enqueue(self, request: _Request) -> None:
        for r in request.records:
            if len(r) > MAX_RECORD_BYTES:
                raise LogError(f"a record of {len(r)} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")
            request.nbytes += len(r) + HEADER_SIZE
        with self._cond:
            self._check_open()
            self._queue.append(request)
            self._cond.notify()

    def _take(self) -> list[_Request] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            queue = self._queue
            taken: list[_Request] = []
            size = 0
            while queue and (not taken or size < MAX_GROUP_BYTES):
                request = queue.popleft()
                taken.append(request)
                size += request.nbytes
            return taken or None

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            try:
                self._write(batch)
            except BaseException as exc:  # disk full, I/O error: stop accepting
                log.error("event log write failed: %s", exc)
                self._failed = exc
                for request in batch:
                    self._reject(request, exc)
                with self._cond:
                    pending, self._queue = list(self._queue), deque()
                    self._closing = True
                for request in pending:
                    self._reject(request, exc)
                return
            self._resolve(batch)

    def _write(self, batch: list[_Request]) -> None:
        if self._active_size >= self.segment_bytes:
            self._rotate()
        buf = bytearray()
        seq = self._next_seq
        for request in batch:
            seqs = request.seqs
            for payload in request.records:
                buf += HEADER.pack(len(payload), _crc(seq, payload), seq)
                buf += payload
                seqs.append(seq)
                seq += 1
        view = memoryview(buf)
        written = 0
        while written < len(buf):
            written += os.write(self._fd, view[written:])
        t = time.perf_counter()
        if self._fsync:
            os.fdatasync(self._fd)
        self.stats["sync_seconds"] += time.perf_counter() - t
        self.stats["batches"] += 1
        self.stats["records"] += seq - self._next_seq
        self.stats["bytes"] += len(buf)
        self._active_size += len(buf)
        self._next_seq = seq
        now = time.perf_counter()
        if len(self._mark_seqs) >= 200_000:
            self._mark_floor = self._mark_seqs[99_999]
            del self._mark_seqs[:100_000], self._mark_times[:100_000]
        self._mark_seqs.append(seq - 1)
        self._mark_times.append(now)
        self._durable_seq = seq - 1
        for listener in self._listeners:
            listener()

    def _rotate(self) -> None:
        os.close(self._fd)
        self._create_segment(self._next_seq)
        self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        self._active_size = 0

    @staticmethod
    def _resolve(batch: list[_Request]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
        for request in batch:
            if request.future is not None:
                request.future.set_result(request.seqs)
            elif request.loop is not None:
                by_loop.setdefault(request.loop, []).append(request)
        for loop, requests in by_loop.items():
            # RuntimeError: the loop has closed; nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, requests)

    @staticmethod
    def _reject(request: _Request, exc: BaseException) -> None:
        error = LogError(f"the event log could not write to disk: {exc}")
        if request.future is not None and not request.future.done():
            request.future.set_exception(error)
        elif request.loop is not None:
            with contextlib.suppress(RuntimeError):
                request.loop.call_soon_threadsafe(_fail, request, error)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (in the writer thread; keep it quick) after each durable write."""
        self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Callable[[], None]) -> None:
        self._listeners = [c for c in self._listeners if c is not callback]

    def durable_time(self, seq: int) -> float | None:
        """``time.perf_counter()`` when record ``seq`` became durable (recent records only)."""
        if seq <= self._mark_floor:
            return None
        seqs = self._mark_seqs
        i = bisect.bisect_left(seqs, seq)
        if i >= len(seqs):
            return None
        try:
            return self._mark_times[i]
        except IndexError:
            return None

    # ------------------------------------------------------------------ reading
    def reader(self, after_seq: int = 0) -> LogReader:
        """A cursor over durable records with seq > ``after_seq``."""
        return LogReader(self, after_seq + 1)

    def read_from(self, seq: int, limit: int | None = None) -> list[tuple[int, bytes]]:
        """Durable records with seq ≥ ``seq`` (at most ``limit``), as (seq, payload)."""
        return self.reader(seq - 1).read(limit or 1 << 62)

    def segments(self) -> list[tuple[int, Path]]:
        return [(s.first_seq, s.path) for s in self._segments]

    def drop_segments_through(self, seq: int, *, older_than_seconds: float = 0.0) -> int:
        """Delete closed segments whose records all have seq ≤ ``seq``; returns how many.

        The active segment is never deleted, so numbering always survives a restart.
        """
        dropped = 0
        cutoff = time.time() - older_than_seconds
        while len(self._segments) > 1 and self._segments[1].first_seq - 1 <= seq:
            path = self._segments[0].path
            if older_than_seconds and path.stat().st_mtime > cutoff:
                break
            self._segments.pop(0)
            path.unlink(missing_ok=True)
            dropped += 1
        return dropped

    # ------------------------------------------------------------------ closing
    def close(self) -> None:
        """Write everything queued, then stop the writer and release the directory."""
        if self._closed:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        os.close(self._fd)
        self._closed = True
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _settle(requests: Iterable[_Request]) -> None:
    for request in requests:
        if request.afuture is not None and not request.afuture.done():
            request.afuture.set_result(request.seqs)


def _fail(request: _Request, error: BaseException) -> None:
    if request.afuture is not None and not request.afuture.done():
        request.afuture.set_exception(error)


class LogReader:
    """Reads durable records in order, remembering its place between calls."""

    CHUNK = 1 << 20

    def __init__(self, log_: EventLog, next_seq: int) -> None:
        self._log = log_
        self.next_seq = max(next_seq, 1)
        self._segment: _Segment | None = None
        self._offset = 0
        self._fd: int | None = None

    def _open_segment_for(self, seq: int) -> bool:
        segments = self._log._segments
        candidates = [s for s in segments if s.first_seq <= seq]
        if not candidates:
            if segments and seq < segments[0].first_seq:
                raise LogError(
                    f"records from seq {seq} were already removed from the log "
                    f"(it starts at {segments[0].first_seq})"
                )
            return False
        segment = candidates[-1]
        self._close_fd()
        self._segment, self._offset = segment, 0
        self._fd = os.open(segment.path, os.O_RDONLY)
        # Skip forward to the wanted seq.
        while True:
            head = os.pread(self._fd, HEADER_SIZE, self._offset)
            if len(head) < HEADER_SIZE:
                break
            length, _, rec_seq = HEADER.unpack(head)
            if rec_seq >= seq:
                break
            self._offset += HEADER_SIZE + length
        return True

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self, max_records: int, max_bytes: int = 32 << 20) -> list[tuple[int, bytes]]:
        """Up to ``max_records`` durable records from where the reader stands."""
        durable = self._log.durable_seq
        out: list[tuple[int, bytes]] = []
        size = 0
        while self.next_seq <= durable and len(out) < max_records and size < max_bytes:
            if self._segment is None and not self._open_segment_for(self.next_seq):
                break
            data = os.pread(self._fd, self.CHUNK, self._offset)
            pos = 0
            while (
                pos + HEADER_SIZE <= len(data)
                and self.next_seq <= durable
                and len(out) < max_records
                and size < max_bytes
            ):
                length, crc, seq = HEADER.unpack_from(data, pos)
                end = pos + HEADER_SIZE + length
                if end > len(data):
                    if pos == 0:  # one record bigger than the chunk
                        data = os.pread(self._fd, HEADER_SIZE + length, self._offset)
                        end = HEADER_SIZE + length
                        if len(data) < end:
                            break
                    else:
                        break
                payload = bytes(data[pos + HEADER_SIZE:end])
                if seq != self.next_seq or _crc(seq, payload) != crc:
                    raise LogCorruptError(
                        f"event log record seq {self.next_seq} in {self._segment.path.name} at "
                        f"offset {self._offset + pos} is damaged (found seq {seq}); restore the "
                        "segment from a backup or move it away and restart"
                    )
                out.append((seq, payload))
                size += len(payload)
                pos = end
                self.next_seq += 1
            self._offset += pos
            if pos == 0 or self._offset >= os.fstat(self._fd).st_size:
                # End of this segment: move to the next one if our next seq lives there.
                later = [s for s in self._log._segments if s.first_seq == self.next_seq]
                if later and self.next_seq <= durable:
                    self._segment = None
                    continue
                if pos == 0:
                    break
        return out

    def close(self) -> None:
        self._close_fd()
