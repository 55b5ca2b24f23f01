"""kill -9 during a large load, then rerun: zero duplicates, zero missing rows."""

import os
import signal
import subprocess
import sys

import duckdb

from support import CLINICS_CSV, DOCTORS_CSV

ROWS = 1_500_000


def _run(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "molar", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    )


# `molar ingest` of one file, printing the running count of rows landed after each batch.
LOAD_REPORTING_ROWS = """
import sys
from datetime import date
from pathlib import Path

from molar.ingest import ingest_paths
from molar.warehouse import open_warehouse

landed = 0

def on_file(path, file_map, size):
    def progress(rows):
        global landed
        landed += rows
        print(landed, flush=True)
    return progress

with open_warehouse(path=Path(sys.argv[1])) as engine:
    ingest_paths(engine, [Path(sys.argv[2])], today=date(2026, 10, 31), on_file=on_file)
"""


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
    args_ref = ["ingest", str(src / "clinics.csv"), str(src / "doctors.csv"), "-w", str(db), "--as-of", "2026-10-31"]
    assert _run(args_ref).wait(timeout=120) == 0

    # The load reports the rows it has landed; kill it without warning once some have,
    # however fast or slow this machine reads.
    proc = subprocess.Popen([sys.executable, "-c", LOAD_REPORTING_ROWS, str(db), str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    landed = 0
    for line in proc.stdout:   # other output (a blank line, a warning) may come first
        if line.strip().isdigit() and int(line) > 0:
            landed = int(line)
            break
    assert landed > 0, proc.stderr.read()
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
