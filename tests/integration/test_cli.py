"""The command line as a user runs it: real processes, real files, real warehouse."""

import csv
import json
import subprocess
import sys

import duckdb

from support import CLINICS_CSV, PATIENT_HEADER


def molar(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "molar", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def test_help_lists_commands_with_one_line_help():
    out = molar("--help")
    assert out.returncode == 0
    for command in ("demo", "ingest", "quarantine", "synth", "init"):
        assert command in out.stdout


def test_ingest_json_summary_and_quarantine_export(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "clinics.csv").write_bytes(CLINICS_CSV.encode("gbk"))
    rows = (
        "P1,张伟,女,1985-03-15,13812345678,,锦江区,x,2024-01-05,锦江口腔门诊部\r\n"
        "P2,李娜,女,1985-02-30,13912345678,,锦江区,x,2024-01-05,锦江口腔门诊部\r\n"
    )
    (src / "patients.csv").write_bytes((PATIENT_HEADER + rows).encode("gbk"))
    db = tmp_path / "w.duckdb"
    out = molar("ingest", str(src), "--json", "-w", str(db), "--as-of", "2026-10-31")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows_read"] == 4
    assert summary["rows_loaded"] == 3
    assert summary["rows_quarantined"] == 1
    assert summary["reasons"] == {"date_invalid": 1}
    assert [f["status"] for f in summary["files"]] == ["complete", "complete"]

    again = json.loads(molar("ingest", str(src), "--json", "-w", str(db), "--as-of", "2026-10-31").stdout)
    assert again["files_skipped"] == 2 and again["rows_read"] == 0

    listing = molar("quarantine", "list", "-w", str(db), "--lang", "zh")
    assert "date_invalid" in listing.stdout and "patients.csv" in listing.stdout

    export_dir = tmp_path / "fix"
    assert molar("quarantine", "export", str(export_dir), "-w", str(db)).returncode == 0
    with (export_dir / "patients.quarantine.csv").open(encoding="utf-8-sig") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == 1
    assert exported[0]["row_number"] == "3" and exported[0]["出生日期"] == "1985-02-30"
    assert "1985-02-30" in exported[0]["reason_en"]


def test_bad_input_gives_plain_errors(tmp_path):
    out = molar("ingest", str(tmp_path / "missing.csv"), "-w", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2 and "not found" in out.stderr
    bad_date = molar("ingest", str(tmp_path), "--as-of", "31/10/2026", "-w", str(tmp_path / "w.duckdb"))
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    unknown_source = molar("ingest", str(tmp_path), "--source", "nope", "-w", str(tmp_path / "w.duckdb"))
    assert unknown_source.returncode == 2 and "known sources" in unknown_source.stderr
    rejected = tmp_path / "visits.csv"
    rejected.write_text("")
    out = molar("ingest", str(rejected), "-w", str(tmp_path / "w.duckdb"))
    assert out.returncode == 1 and "empty" in out.stdout


def test_demo_end_to_end_on_a_tiny_chain(tmp_path):
    out = molar("demo", "--patients", "300", "--clinics", "3", "--out", str(tmp_path / "demo"), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    ingest = summary["ingest"]
    assert ingest["files_rejected"] == 0
    assert ingest["rows_read"] == ingest["rows_loaded"] + ingest["rows_quarantined"]
    # Every kind of export reached its canonical table.
    for table in ("clinic", "doctor", "patient", "visit", "treatment", "charge", "appointment",
                  "member_card", "event", "consult", "review", "telemetry", "district_population"):
        assert summary["std_rows"][table] > 0, table
    # The generator's deliberately invalid rows were caught, not loaded.
    assert 0 < ingest["rows_quarantined"] < 0.1 * ingest["rows_read"]
    assert (tmp_path / "demo" / "molar.duckdb").exists()
    assert (tmp_path / "demo" / "data" / "truth" / "persons.parquet").exists()
    # The last day was replayed live through the collector: each of that day's visits
    # (counted from the nightly export in std) arrived as an event, none was refused.
    live = summary["realtime"]
    end = json.loads((tmp_path / "demo" / "data" / "manifest.json").read_text(encoding="utf-8"))["window"]["end"]
    with duckdb.connect(str(tmp_path / "demo" / "molar.duckdb"), read_only=True) as con:
        day_visits = {v for (v,) in con.execute(
            "SELECT DISTINCT v.visit_id FROM std.visit v JOIN std.treatment t USING (source, visit_id) "
            "WHERE v.visit_date = ?::DATE AND v.clinic_id IS NOT NULL AND v.department IS NOT NULL", [end]).fetchall()}
        replayed = {e for (e,) in con.execute(
            "SELECT event_id FROM ops.rt_event WHERE NOT derived AND event_id LIKE '%:demo-%'").fetchall()}
        replayed_visits = {e for (e,) in con.execute(
            "SELECT data->>'visit_id' FROM ops.rt_event WHERE type = 'visit.completed' AND NOT derived").fetchall()}
    assert day_visits and replayed_visits == day_visits
    assert (live["day"], live["events_rejected"], live["events_posted"]) == (end, 0, len(replayed))
    # The plaintext scan of the finished warehouse is part of the summary: every layer is sealed.
    scan = summary["plaintext_scan"]
    assert scan["columns_scanned"] > 100 and scan["patient_names"] > 250
    assert scan["columns"] == [], scan["columns"]
    # The recall list's counts (patients due within 30 days of the last day) are in the summary.
    assert set(summary["recall"]["by_status"]) == {"overdue", "due", "opted_out", "booked"}
    assert summary["recall"]["by_status"]["overdue"] + summary["recall"]["by_status"]["due"] > 0
    # Post-op follow-up: the surgeries and complications of the nursing export, as the file has them.
    cases = (tmp_path / "demo/data/sources/followup/postop_cases.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert summary["postop"]["surgeries"] == len(cases) > 0
    assert summary["postop"]["complications_30d"] == sum(1 for line in cases if line.split(",")[11])
    # It ends with the command that opens the console, and its demo login works.
    warehouse = tmp_path / "demo" / "molar.duckdb"
    assert summary["console"]["command"] == f"molar serve -w {warehouse}"
    from molar.privacy.accounts import check_password
    from molar.warehouse import open_warehouse

    with open_warehouse(path=warehouse) as engine:
        principal = check_password(engine, summary["console"]["user"], summary["console"]["password"])
    assert principal is not None and principal.role == "clinic_manager" and principal.clinics is None
    # Run again into the same folder: it starts from scratch, the first run's live event log
    # included (replayed into the new warehouse, its events would not open, and the day would
    # run twice).
    again = molar("demo", "--patients", "300", "--clinics", "3", "--out", str(tmp_path / "demo"), "--json")
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        failed = con.execute("SELECT count(*) FROM ops.rt_failure").fetchall()[0][0]
        events = con.execute("SELECT count(*) FROM ops.rt_event WHERE NOT derived").fetchall()[0][0]
    assert (failed, events) == (0, live["events_posted"])
