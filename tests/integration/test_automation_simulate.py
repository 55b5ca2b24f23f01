"""`simulate` replays a small crafted warehouse through a rule: expected weekly counts, and
the warehouse itself is never written."""

import json
import subprocess
import sys
from datetime import date

from molar.automation import is_held_out, load_catalogue
from molar.automation.simulate import simulate
from molar.warehouse import DuckDBEngine, open_warehouse

CAT = load_catalogue()
RULE = CAT.get("cleaning_oral_care_article")
IDS = [f"G{i:010d}" for i in range(1, 400)]
A, B, C, D = [g for g in IDS if not is_held_out(RULE, g)][:4]
HELD = next(g for g in IDS if is_held_out(RULE, g))


def crafted(path):
    engine = open_warehouse(path=path)
    for i, g in enumerate([A, B, C, D, HELD]):
        engine.execute("INSERT INTO identity.cluster VALUES (?, 'his', ?, ?, 'run1')", [f"his:P{i}", f"P{i}", g])
        engine.execute("INSERT INTO identity.patient (golden_id, mobile, member_count, sources, updated_at) "
                       "VALUES (?, ?, 1, ['his'], TIMESTAMP '2026-01-01')", [g, None if g == D else f"+861380000000{i}"])
    engine.execute("INSERT INTO identity.cluster VALUES ('wechat:u1', 'wechat', 'u1', ?, 'run1')", [A])
    visits = [  # (visit, patient, day, department, items)
        ("V1", "P0", "2026-09-07", "periodontics", ["CHK", "CLN"]),   # A: started
        ("V2", "P1", "2026-09-07", "general", ["FILL"]),              # B: not a cleaning
        ("V3", "P4", "2026-09-08", "periodontics", ["CLN"]),          # HELD: held out
        ("V4", "P2", "2026-09-09", "paediatrics", ["CLN"]),           # C: condition false
        ("V5", "P0", "2026-09-14", "periodontics", ["CLN"]),          # A again: cooldown
        ("V6", "P3", "2026-09-15", "periodontics", ["CLN"]),          # D: no address → suppressed
        ("V7", "P1", "2026-10-20", "periodontics", ["CLN"]),          # B: after the window
    ]
    for vid, key, day, dept, items in visits:
        engine.execute("INSERT INTO std.visit (source, visit_id, source_patient_key, clinic_id, department, visit_date) "
                       "VALUES ('his', ?, ?, 'C01', ?, ?)", [vid, key, dept, day])
        for n, code in enumerate(items, 1):
            engine.execute("INSERT INTO std.treatment (source, visit_id, line_no, item_code, quantity) "
                           "VALUES ('his', ?, ?, ?, 1)", [vid, n, code])
    for day, plaque in (("2026-09-01", 1.7), ("2026-09-02", 1.9), ("2026-09-03", 2.1), ("2026-09-04", 1.0)):
        engine.execute("INSERT INTO std.telemetry (device_id, unionid, measured_on, plaque_index) VALUES ('D1', 'u1', ?, ?)",
                       [day, plaque])
    return engine


def test_weekly_counts_on_a_crafted_warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    crafted(path).close()
    engine = DuckDBEngine(path, read_only=True)  # simulate only reads
    report = simulate(engine, RULE.key, date(2026, 9, 1), date(2026, 9, 30), catalogue=CAT)
    weeks = {w["week"]: w for w in report["weeks"]}
    assert report["events_replayed"] == 6
    assert (weeks["2026-W37"]["triggered"], weeks["2026-W37"]["started"], weeks["2026-W37"]["held_out"],
            weeks["2026-W37"]["condition_false"]) == (3, 1, 1, 1)
    assert (weeks["2026-W38"]["triggered"], weeks["2026-W38"]["cooldown"], weeks["2026-W38"]["started"],
            weeks["2026-W38"]["would_send"]) == (2, 1, 1, 1)
    assert weeks["2026-W39"]["suppressed"] == {"not_reachable": 1}
    assert report["totals"]["would_send"] == 1 and report["totals"]["triggered"] == 5
    plaque = simulate(engine, "plaque_nurse_follow_up", date(2026, 9, 1), date(2026, 9, 30), catalogue=CAT)
    assert plaque["events_replayed"] == 4 and plaque["totals"]["tasks"] == 1
    assert [w["week"] for w in plaque["weeks"]] == ["2026-W36"]
    engine.close()

    engine = open_warehouse(path=path)
    for table in ("ops.outbox", "ops.journey", "ops.rule_decision", "ops.timer", "ops.task"):
        assert engine.count(table) == 0, table
    engine.close()


def test_cli_simulate_why_and_lists(tmp_path):
    path = tmp_path / "w.duckdb"
    crafted(path).close()

    from typer.testing import CliRunner

    from molar.cli import app

    runner = CliRunner()

    def molar(*args):  # the Typer app in-process (a subprocess per command costs seconds of imports)
        out = runner.invoke(app, [*args, "-w", str(path)])
        assert out.exit_code == 0, (out.output, out.exception)
        return out.stdout

    report = json.loads(molar("rules", "simulate", RULE.key, "--since", "2026-09-01", "--until", "2026-09-30", "--json"))
    assert report["totals"]["triggered"] == 5
    assert "2026-W38" in molar("rules", "simulate", RULE.key, "--since", "2026-09-01", "--until", "2026-09-30")
    assert json.loads(molar("rules", "disable", "decline_winback", "--by", "ops", "--json"))["enabled"] is False
    listed = json.loads(molar("rules", "list", "--json"))["rules"]
    assert {r["key"]: r["enabled"] for r in listed}["decline_winback"] is False
    why = json.loads(molar("rules", "why", A, RULE.key, "--json"))
    assert why["sentences"][0]["code"] == "never_triggered"
    assert "该规则从未对" in molar("rules", "why", A, RULE.key, "--lang", "zh")
    assert json.loads(molar("outbox", "list", "--status", "queued", "--json")) == {"messages": []}
    assert json.loads(molar("tasks", "list", "--json")) == {"tasks": []}


def test_cli_validate_reports_file_and_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("key: x\nname: {zh: 甲, en: X}\npurpose: care\ntrigger: {event: {type: nope}}\n"
                                       "steps: [{wait: 1d}]\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "molar", "rules", "validate", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert "bad.yaml:4" in out.stderr and "unknown event type 'nope'" in out.stderr
    from typer.testing import CliRunner

    from molar.cli import app
    from unit.automation.autolib import SHIPPED_RULE_FILES

    ok = CliRunner().invoke(app, ["rules", "validate"])
    assert ok.exit_code == 0 and f"{len(SHIPPED_RULE_FILES)} rules" in ok.stdout
