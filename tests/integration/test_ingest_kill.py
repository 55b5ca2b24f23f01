"""kill -9 during a large load, then rerun: zero duplicates, zero missing rows."""

import os
import signal
import subprocess
import sys
import time

import duckdb

from support import CLINICS_CSV, DOCTORS_CSV

ROWS = 1_500_000


def _run(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "molar", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    )


def _size(paths):
    return sum(p.stat().st_size for p in paths if p.exists())


def test_kill_during_load_then_rerun(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "clinics.csv").write_bytes(CLINICS_CSV.encode("gbk"))
    (src / "doctors.csv").write_bytes(DOCTORS_CSV.encode("gbk"))
    big = src / "treatments.csv"
    with big.open("w", encoding="gbk", newline="") as f:
        f.write("就诊号,序号,项目编码,诊疗项目,牙位,数量\r\n")
        for i in range(ROWS):
            f.write(f"V{i // 2:08d},{i % 2 + 1},CLN,洁牙,全口,1\r\n")
    db = tmp_path / "molar.duckdb"
    wal = tmp_path / "molar.duckdb.wal"
    args_ref = ["ingest", str(src / "clinics.csv"), str(src / "doctors.csv"), "-w", str(db), "--as-of", "2026-10-31"]
    assert _run(args_ref).wait(timeout=120) == 0

    baseline = _size([db, wal])
    proc = _run(["ingest", str(big), "-w", str(db), "--as-of", "2026-10-31"])
    deadline = time.monotonic() + 60
    # Wait until the load has visibly started writing, then kill it without warning.
    while time.monotonic() < deadline and proc.poll() is None and _size([db, wal]) < baseline + (1 << 20):
        time.sleep(0.05)
    time.sleep(0.3)
    assert proc.poll() is None, "the load finished before it could be killed; make the file bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*) FROM ops.load WHERE file_path LIKE '%treatments.csv'").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM std.treatment").fetchall() == [(0,)]
    con.close()

    rerun = _run(["ingest", str(big), "-w", str(db), "--as-of", "2026-10-31", "--json"])
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()

    con = duckdb.connect(str(db))
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT (visit_id, line_no)) FROM std.treatment"
    ).fetchall()[0]
    assert total == distinct == ROWS
    assert con.execute("SELECT count(*) FROM raw.his__treatments").fetchall() == [(ROWS,)]
    assert con.execute(
        "SELECT status, rows_read, rows_loaded FROM ops.load WHERE file_path LIKE '%treatments.csv'"
    ).fetchall() == [("complete", ROWS, ROWS)]
    con.close()
