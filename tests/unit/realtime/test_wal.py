"""The event log: numbering, group commit, segments, torn-tail recovery, kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from molar.realtime.wal import HEADER_SIZE, EventLog, LogCorruptError, LogError, encode_record


def _segments(directory):
    return sorted(directory.glob("*.seg"))


def test_append_read_and_numbering_survives_restart(tmp_path):
    with EventLog(tmp_path) as log:
        assert log.durable_seq == 0
        assert [log.append(f"r{i}".encode()) for i in range(3)] == [1, 2, 3]
        assert log.append_many([b"a", b"b"]).result() == [4, 5]
        assert log.read_from(4) == [(4, b"a"), (5, b"b")]
    with EventLog(tmp_path) as log:
        assert log.recovery.last_seq == 5 and log.recovery.truncated_bytes == 0
        assert log.append(b"c") == 6
        assert [s for s, _ in log.read_from(1)] == [1, 2, 3, 4, 5, 6]


def test_group_commit_batches_concurrent_writers(tmp_path):
    with EventLog(tmp_path) as log:
        got: list[int] = []
        lock = threading.Lock()

        def writer(n: int) -> None:
            for i in range(200):
                seqs = log.append_many([f"{n}-{i}".encode()]).result()
                with lock:
                    got.extend(seqs)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(1, 1601))
        # Waiters were resolved together: fewer fsyncs than records.
        assert log.stats["batches"] < log.stats["records"] == 1600
        payloads = {p for _, p in log.read_from(1)}
        assert len(payloads) == 1600


def test_append_async_resolves_after_sync(tmp_path):
    async def main(log):
        return await asyncio.gather(*(log.append_async([b"x", b"y"]) for _ in range(50)))

    with EventLog(tmp_path) as log:
        results = asyncio.run(main(log))
        assert sorted(s for pair in results for s in pair) == list(range(1, 101))
        assert all(b == a + 1 for a, b in results)


def test_rotation_and_reading_across_segments(tmp_path):
    with EventLog(tmp_path, segment_bytes=500) as log:
        for i in range(40):
            log.append(f"{i:03d}".encode() * 10)
        assert len(_segments(tmp_path)) >= 3
        reader = log.reader(0)
        seen = []
        while chunk := reader.read(7):
            seen.extend(chunk)
        assert [s for s, _ in seen] == list(range(1, 41))
        assert log.read_from(23)[0] == (23, b"022" * 10)
        dropped = log.drop_segments_through(20)
        assert dropped > 0 and log.first_seq <= 21
        assert log.read_from(21)[0][0] == 21
        with pytest.raises(LogError, match="already removed"):
            log.read_from(1)
    with EventLog(tmp_path, segment_bytes=500) as log:
        assert log.append(b"next") == 41


@pytest.mark.parametrize(
    "damage",
    ["half_header", "half_payload", "bad_crc", "zeros", "garbage"],
)
def test_torn_tail_is_cut_and_numbering_continues(tmp_path, damage):
    with EventLog(tmp_path) as log:
        for i in range(10):
            log.append(f"event-{i}".encode())
    seg = _segments(tmp_path)[-1]
    good_size = seg.stat().st_size
    data = seg.read_bytes()
    if damage == "half_header":
        seg.write_bytes(data + encode_record(11, b"torn")[: HEADER_SIZE // 2])
    elif damage == "half_payload":
        seg.write_bytes(data + encode_record(11, b"torn record")[:-4])
    elif damage == "bad_crc":
        # The last record (not acknowledged when the crash hit) has a flipped byte.
        seg.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
        good_size = len(data) - (HEADER_SIZE + len(b"event-9"))
    elif damage == "zeros":
        seg.write_bytes(data + b"\0" * 4096)
    elif damage == "garbage":
        seg.write_bytes(data + os.urandom(1000))

    with EventLog(tmp_path) as log:
        assert log.recovery.truncated_bytes > 0
        assert seg.stat().st_size == good_size
        expected_last = 9 if damage == "bad_crc" else 10
        assert log.durable_seq == expected_last
        assert [p for _, p in log.read_from(1)] == [f"event-{i}".encode() for i in range(expected_last)]
        assert log.append(b"after") == expected_last + 1
    with EventLog(tmp_path) as log:
        assert log.recovery.truncated_bytes == 0
        assert log.read_from(expected_last + 1) == [(expected_last + 1, b"after")]


def test_damage_inside_a_closed_segment_is_reported(tmp_path):
    with EventLog(tmp_path, segment_bytes=200) as log:
        for i in range(20):
            log.append(f"event-{i:02d}".encode() * 4)
    first = _segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[HEADER_SIZE + 2] ^= 0xFF
    first.write_bytes(bytes(data))
    with EventLog(tmp_path, segment_bytes=200) as log, pytest.raises(LogCorruptError, match="damaged"):
        log.read_from(1)


def test_start_seq_and_foreign_log(tmp_path):
    with EventLog(tmp_path / "a", start_seq=101) as log:
        assert log.append(b"x") == 101
    with pytest.raises(LogError, match="warehouse has applied events up to seq 500"):
        EventLog(tmp_path / "a", start_seq=501)
    # An empty log is simply renumbered.
    EventLog(tmp_path / "b").close()
    with EventLog(tmp_path / "b", start_seq=42) as log:
        assert log.append(b"y") == 42


def test_one_owner_per_directory(tmp_path):
    with EventLog(tmp_path), pytest.raises(LogError, match="in use by another Molar process"):
        EventLog(tmp_path)
    EventLog(tmp_path).close()


def test_closed_log_refuses_appends(tmp_path):
    log = EventLog(tmp_path)
    log.close()
    with pytest.raises(LogError, match="closing"):
        log.append(b"late")


WRITER = textwrap.dedent("""
    import sys, threading
    from molar.realtime.wal import EventLog
    log = EventLog(sys.argv[1])
    lock = threading.Lock()
    def run(n):
        i = 0
        while True:
            seqs = log.append_many([f"{n}-{i}-{j}".encode() * 20 for j in range(5)]).result()
            with lock:
                print(" ".join(map(str, seqs)), flush=True)
            i += 1
    for n in range(4):
        threading.Thread(target=run, args=(n,), daemon=True).start()
    threading.Event().wait()
""")


def test_kill_9_never_loses_an_acknowledged_record(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "log")],
                            stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    for line in proc.stdout:
        acked.extend(int(s) for s in line.split())
        if len(acked) >= 5000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked.extend(int(s) for line in proc.stdout for s in line.split())
    with EventLog(tmp_path / "log") as log:
        seqs = [s for s, _ in log.read_from(1)]
        assert seqs == list(range(1, len(seqs) + 1))
        assert set(acked) <= set(seqs)
        assert log.append(b"after") == len(seqs) + 1
