"""`molar report monthly` on a small generated chain: its figures against SQL written here,
the HTML and the printed PDF carry them, the policy refuses a role without `report.read`,
and bad input ends in one message; the scheduled run of `molar serve` writes last month's
reports once, catches up and never leaves half a file. Also the dashboard's drill-down lists
(`molar.reports.kpis.behind`) against SQL."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.config import ConfigError, Settings, load_settings
from molar.identity import resolve
from molar.ingest import ingest_paths
from molar.predict.churn.score import score_churn
from molar.privacy import audit
from molar.privacy.accounts import add_user
from molar.profile.run import compute_profile
from molar.reports import kpis
from molar.reports.monthly import build
from molar.reports.scheduled import Schedule, write_due
from molar.serve import build_server
from molar.synth import SynthConfig, generate
from molar.warehouse import open_warehouse
from molar.web.i18n import Locale

pytestmark = pytest.mark.timeout(600)
END = date(2026, 10, 31)
OCT, SEP, OCT_LAST_YEAR = date(2026, 10, 1), date(2026, 9, 1), date(2025, 10, 1)
PASSWORD = "report-test-password"
CLINIC = "C01"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A 400-person, 3-clinic chain profiled at the end of September and of October (so
    October has tier and stage changes), churn risk scored in between (so the October run
    tags key customers); an analyst, a front desk and a C01 manager."""
    folder = tmp_path_factory.mktemp("report")
    generate(SynthConfig(out_dir=folder / "data", patients=400, clinics=3, seed=11, end_date=END))
    db = folder / "molar.duckdb"
    with open_warehouse(path=db) as engine:
        ingest_paths(engine, [folder / "data" / "sources"], today=END)
        resolve(engine, now=datetime(2026, 10, 31, 12))
        compute_profile(engine, date(2026, 9, 30), sentiment=True)
        score_churn(engine, END)
        compute_profile(engine, END, sentiment=True)
        now = datetime(2026, 10, 31, 12)
        add_user(engine, "ana", PASSWORD, "analyst", now=now, by="test")
        add_user(engine, "desk", PASSWORD, "front_desk", clinics=[CLINIC], now=now, by="test")
        add_user(engine, "boss1", PASSWORD, "clinic_manager", clinics=[CLINIC], now=now, by="test")
    return db


def month_sql(engine, month: date, clinic: str | None) -> dict:
    """A month's figures by SQL written here, independently of molar.reports."""
    start = month
    end = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    at = "AND v.clinic_id = $clinic" if clinic else ""
    p = {"s": start, "e": end, **({"clinic": clinic} if clinic else {})}
    visits = engine.rows(f"SELECT count(*) FROM std.visit v WHERE v.visit_date >= $s AND v.visit_date < $e {at}", p)[0][0]
    revenue, charges = engine.rows(f"""
        SELECT coalesce(sum(ch.amount_yuan), 0), count(*) FROM std.charge ch
        LEFT JOIN std.visit v ON v.source = ch.source AND v.visit_id = ch.visit_id
        WHERE ch.charged_on >= $s AND ch.charged_on < $e {at}""", p)[0]
    new = engine.rows(f"""
        SELECT count(*) FROM (
          SELECT c.golden_id, min(v.visit_date) AS first FROM std.visit v JOIN identity.cluster c
            ON c.source = v.source AND c.source_patient_key = v.source_patient_key WHERE true {at} GROUP BY 1)
        WHERE first >= $s AND first < $e""", p)[0][0]
    at_a = "AND clinic_id = $clinic" if clinic else ""
    no_show, arrived = engine.rows(f"""
        SELECT count(*) FILTER (status = 'no_show'), count(*) FILTER (status = 'arrived') FROM std.appointment
        WHERE slot_start >= $s AND slot_start < $e {at_a}""", p)[0]
    return {"visits": visits, "revenue": float(revenue), "charges": charges, "new": new,
            "no_show_rate": no_show / (no_show + arrived) if no_show + arrived else None}


@pytest.mark.parametrize("clinic", [None, CLINIC])
def test_report_figures_match_sql_for_the_month_the_month_before_and_a_year_before(chain, clinic):
    with open_warehouse(path=chain) as engine:
        report = build(engine, OCT, clinic)
        for overview, month in [(report.current, OCT), (report.previous, SEP), (report.last_year, OCT_LAST_YEAR)]:
            want = month_sql(engine, month, clinic)
            assert want["visits"] > 0, month
            assert overview.scope.month == month
            assert (overview.visits, overview.new_patients, overview.charges) == (want["visits"], want["new"],
                                                                                  want["charges"])
            assert overview.revenue_yuan == pytest.approx(want["revenue"])
            assert overview.no_show_rate == pytest.approx(want["no_show_rate"])
        moves = engine.rows("""
            SELECT from_tier, to_tier, count(*) FROM profile.tier_event e
            WHERE occurred_on BETWEEN DATE '2026-10-01' AND DATE '2026-10-31' AND from_tier <> to_tier
              AND ($c IS NULL OR golden_id IN (SELECT golden_id FROM identity.patient WHERE home_clinic_id = $c))
            GROUP BY 1, 2""", {"c": clinic})
        home = "golden_id IN (SELECT golden_id FROM identity.patient WHERE $c IS NULL OR home_clinic_id = $c)"
        bands = dict(engine.rows(f"SELECT band, count(*) FROM profile.churn_risk WHERE {home} GROUP BY 1", {"c": clinic}))
        key = engine.rows(f"""SELECT count(*) FROM profile.tag_value
                              WHERE tag_key = 'key_customer' AND value = 'true' AND {home}""", {"c": clinic})[0][0]
    assert report.moves.tiers == {(a, b): n for a, b, n in moves}
    assert sum(report.moves.tiers.values()) > 0 and sum(report.moves.stages.values()) > 0
    assert report.moves.risk_bands == bands and sum(bands.values()) > 0
    assert report.moves.key_customers == key > 0
    assert report.moves.risk_as_of == END


def run(chain: Path, *args: str, user: str | None = "ana"):
    env = {"MOLAR_USER": user or "", "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": ""}
    result = CliRunner().invoke(app, ["report", "monthly", "-w", str(chain), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def said(result) -> str:
    """The command's output as one line (Rich wraps long messages)."""
    return " ".join(result.output.split())


def test_html_report_in_english_carries_the_month_s_figures_and_is_audited(chain, tmp_path):
    out = tmp_path / "report.html"
    result = run(chain, "--month", "2026-10", "--lang", "en", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    with open_warehouse(path=chain) as engine:
        want, before = month_sql(engine, OCT, None), month_sql(engine, SEP, None)
        rows = audit.list_entries(engine, actor="ana", action="report.read")
        high = engine.rows("SELECT count(*) FROM profile.churn_risk WHERE band = 'high'")[0][0]
        department, busiest = engine.rows("""
            SELECT coalesce(department, 'unknown'), count(*) FROM std.visit
            WHERE visit_date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""")[0]
    row = re.search(r'<tr data-kpi="visits"><th>Visits</th><td class="now">([\d,]+)</td><td>([\d,]+)</td>', html)
    assert row and row.groups() == (f"{want['visits']:,}", f"{before['visits']:,}")
    revenue = re.search(r'<tr data-kpi="revenue"><th>Revenue</th><td class="now">CN¥([\d,]+)</td>', html)
    assert revenue and revenue.group(1) == f"{round(want['revenue']):,}"
    assert f"{(want['visits'] - before['visits']) / before['visits']:+.1%}" in html
    assert f"{high:,} patients are at high churn risk" in html
    assert f"The busiest department was {Locale('en').t('department.' + department)} ({busiest:,} visits)" in html
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)     # the inlined scripts aside
    assert markup.count("<script") == 1 and re.findall(r"\b(?:src|href)=", markup) == []   # nothing fetched
    assert len(rows) == 1 and rows[0]["detail"] == {"month": "2026-10", "clinic": None, "format": "html"}


def test_pdf_report_has_pages_with_the_kpi_names_and_numbers(chain, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium (.ci/run installs it)")
    out = tmp_path / "report.pdf"
    result = run(chain, "--month", "2026-10", "--out", str(out))
    assert result.exit_code == 0, result.output
    pages = pypdf.PdfReader(out).pages
    text = "\n".join(p.extract_text() for p in pages)
    with open_warehouse(path=chain) as engine:
        want = month_sql(engine, OCT, None)
    assert len(pages) >= 3
    assert "月度运营报告" in text and "2026年10月" in text
    for name in ("就诊人次", "新患者", "收入", "爽约率", "投诉数", "活跃患者"):
        assert name in text
    visits = re.search(r"就诊人次 ([\d,]+) ", text)
    assert visits and visits.group(1) == f"{want['visits']:,}"
    assert f"¥{round(want['revenue']):,}" in text
    assert f"{100 * want['no_show_rate']:.1f}%" in text
    assert f"1 / {len(pages)}" in text                 # the page footer


def test_a_role_without_report_is_refused(chain, tmp_path):
    out = tmp_path / "r.html"
    result = run(chain, "--month", "2026-10", "--out", str(out), user="desk")
    assert result.exit_code == 2
    assert "the role front_desk may not read report" in said(result)
    assert not out.exists()


def test_a_clinic_bound_manager_reports_only_on_their_clinic(chain, tmp_path):
    out = tmp_path / "r.html"
    refused = run(chain, "--month", "2026-10", "--out", str(out), "--clinic", "C02", user="boss1")
    assert refused.exit_code == 2 and "may report only on the clinics C01" in said(refused)
    assert not out.exists()
    ok = run(chain, "--month", "2026-10", "--out", str(out), "--clinic", CLINIC, user="boss1")
    assert ok.exit_code == 0, ok.output
    with open_warehouse(path=chain) as engine:
        want = month_sql(engine, OCT, CLINIC)
    assert f'<td class="now">{want["visits"]:,}</td>' in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2026-13"], "write it as YYYY-MM"),
    (["--month", "oct"], "write it as YYYY-MM"),
    (["--month", "2019-10"], "nothing to report for 2019-10"),
    (["--month", "2026-10", "--clinic", "C99"], "'C99' is not a clinic"),
    (["--month", "2026-10", "--lang", "fr"], "write zh or en"),
])
def test_bad_input_ends_in_one_message(chain, tmp_path, args, message):
    out = tmp_path / "r.html"
    result = run(chain, *args, "--out", str(out))
    assert result.exit_code == 2
    assert message in said(result)
    assert not out.exists()


def test_a_wrong_file_kind_or_folder_is_one_message(chain, tmp_path):
    for out, message in [(tmp_path / "r.docx", "must end in .pdf or .html"),
                         (tmp_path / "missing" / "r.pdf", "does not exist")]:
        result = run(chain, "--month", "2026-10", "--out", str(out))
        assert result.exit_code == 2 and message in said(result)


def test_pdf_without_chromium_is_one_message(chain, tmp_path, monkeypatch):
    monkeypatch.setenv("MOLAR_CHROMIUM", str(tmp_path / "no-chromium"))
    result = run(chain, "--month", "2026-10", "--out", str(tmp_path / "r.pdf"))
    assert result.exit_code == 2 and "printing a PDF needs chromium" in said(result)


@pytest.mark.parametrize("clinic", [None, CLINIC])
def test_drill_down_lists_the_patients_behind_each_kpi(chain, clinic):
    scope = kpis.Scope(OCT, clinic)
    at = "AND v.clinic_id = $c" if clinic else ""
    with open_warehouse(path=chain) as engine:
        overview = kpis.overview(engine, scope)

        def every(kpi: str) -> list[dict]:
            first = kpis.behind(engine, scope, kpi, limit=7)
            rows, offset = list(first.rows), 7
            while len(rows) < first.patients:
                page = kpis.behind(engine, scope, kpi, limit=7, offset=offset).rows
                assert page, kpi
                rows += page
                offset += 7
            assert len({r["golden_id"] for r in rows}) == len(rows) == first.patients   # pages do not overlap
            return rows

        linked = dict(engine.rows(f"""
            SELECT c.golden_id, count(*) FROM std.visit v JOIN identity.cluster c
              ON c.source = v.source AND c.source_patient_key = v.source_patient_key
            WHERE v.visit_date >= DATE '2026-10-01' AND v.visit_date < DATE '2026-11-01' {at} GROUP BY 1""",
            {"c": clinic} if clinic else None))
        new = {g for (g,) in engine.rows(f"""
            SELECT c.golden_id FROM std.visit v JOIN identity.cluster c
              ON c.source = v.source AND c.source_patient_key = v.source_patient_key
            WHERE true {at} GROUP BY 1 HAVING min(v.visit_date) >= DATE '2026-10-01'""",
            {"c": clinic} if clinic else None)}
        no_show = {g for (g,) in engine.rows("""
            SELECT DISTINCT c.golden_id FROM std.appointment a JOIN identity.cluster c
              ON c.source = a.source AND c.source_patient_key = a.source_patient_key
            WHERE a.status = 'no_show' AND a.slot_start >= '2026-10-01' AND a.slot_start < '2026-11-01'
              AND ($c IS NULL OR a.clinic_id = $c)""", {"c": clinic})}
        visits = every("visits")
        assert {r["golden_id"]: r["n"] for r in visits} == linked
        assert [r["n"] for r in visits] == sorted((r["n"] for r in visits), reverse=True)   # most first
        assert {r["golden_id"] for r in every("new_patients")} == new and len(new) == overview.new_patients
        assert {r["golden_id"] for r in every("no_show_rate")} == no_show
        revenue = every("revenue")
        unlinked = kpis.behind(engine, scope, "revenue", limit=1).unlinked
        assert len(revenue) > 0
        if not unlinked:
            assert sum(float(r["amount_yuan"]) for r in revenue) == pytest.approx(overview.revenue_yuan)
        assert every("average_order") == revenue


def test_drill_down_names_are_masked_by_role_and_hidden_across_clinics(chain):
    from molar.privacy.accounts import Principal
    from molar.privacy.fields import read_golden
    from molar.web.patients import named

    with open_warehouse(path=chain) as engine:
        rows = kpis.behind(engine, kpis.Scope(OCT), "active_patients", limit=60).rows
        truth = {p["golden_id"]: p for p in read_golden(engine, "golden_id, name, home_clinic_id").to_pylist()}
        manager = Principal("boss1", "clinic_manager", "session", "console", clinics=frozenset({CLINIC}))
        marketer = Principal("mark", "marketer", "session", "console")
        as_manager, view = named(engine, rows, manager)
        as_marketer, _ = named(engine, rows, marketer)
    homes = {truth[r["golden_id"]]["home_clinic_id"] for r in rows}
    assert CLINIC in homes and len(homes) > 1
    for mine, theirs in zip(as_manager, as_marketer, strict=True):
        person = truth[mine["golden_id"]]
        if person["home_clinic_id"] == CLINIC:
            assert mine["mine"] and mine["name"] == person["name"]           # clinic manager: full
        else:
            assert not mine["mine"] and mine["name"] is None                 # another clinic's patient
        assert theirs["name"] == person["name"][0] + "*" * (len(person["name"]) - 1)
    assert view.shown == {"name"}


@pytest.mark.parametrize("clinic", [None, CLINIC])
def test_drill_down_lists_the_patients_behind_each_table_row(chain, clinic):
    scope = kpis.Scope(OCT, clinic)
    home = "($c IS NULL OR golden_id IN (SELECT golden_id FROM identity.patient WHERE home_clinic_id = $c))"
    with open_warehouse(path=chain) as engine:
        overview = kpis.overview(engine, scope)
        tiers = engine.rows(f"SELECT tier, list(golden_id ORDER BY golden_id) FROM profile.tier WHERE {home} GROUP BY 1",
                            {"c": clinic})
        stages = dict(engine.rows(f"SELECT stage, count(*) FROM profile.lifecycle WHERE {home} GROUP BY 1", {"c": clinic}))
        wechat = engine.rows("""
            SELECT c.golden_id, count(*) FROM std.appointment a JOIN identity.cluster c
              ON c.source = a.source AND c.source_patient_key = a.source_patient_key
            WHERE a.channel = 'wechat' AND a.slot_start >= '2026-10-01' AND a.slot_start < '2026-11-01'
              AND ($c IS NULL OR a.clinic_id = $c) GROUP BY 1""", {"c": clinic})
        assert len(tiers) > 1 and wechat
        for tier, ids in tiers:
            found = kpis.behind(engine, scope, "tier", group=tier, limit=10_000)
            assert sorted(r["golden_id"] for r in found.rows) == ids and overview.tiers[tier] == len(ids)
        for stage, n in stages.items():
            assert kpis.behind(engine, scope, "stage", group=stage, limit=1).patients == n == overview.stages[stage]
        found = kpis.behind(engine, scope, "channel", group="wechat", limit=10_000)
        assert {r["golden_id"]: r["n"] for r in found.rows} == dict(wechat)
        assert sum(r["n"] for r in found.rows) + found.unlinked == overview.channel_mix["wechat"]


def clinics_with_october(engine) -> set[str]:
    return {r[0] for r in engine.rows("""
        SELECT DISTINCT v.clinic_id FROM std.visit v WHERE v.visit_date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'
        UNION SELECT DISTINCT v.clinic_id FROM std.charge ch JOIN std.visit v
          ON v.source = ch.source AND v.visit_id = ch.visit_id
        WHERE ch.charged_on BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'""")}


def test_the_scheduled_run_writes_last_month_once_for_the_chain_and_each_clinic(chain, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    schedule = Schedule(folder, lang="en")
    with open_warehouse(path=chain) as engine:
        want, clinics = month_sql(engine, OCT, None), clinics_with_october(engine)
        first = write_due(engine, date(2026, 11, 1), schedule)
        mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
        again = write_due(engine, date(2026, 11, 2), schedule)   # the next day: already there
        audited = audit.list_entries(engine, actor="molar serve", action="report.read")
    names = {"monthly-report-2026-10.html"} | {f"monthly-report-2026-10-{c}.html" for c in clinics}
    assert {p.name for p in first} == names == set(mtimes)
    assert again == [] and {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    html = (folder / "monthly-report-2026-10.html").read_text(encoding="utf-8")
    assert f'<tr data-kpi="visits"><th>Visits</th><td class="now">{want["visits"]:,}</td>' in html
    assert sorted(e["detail"]["file"] for e in audited) == sorted(names)


def test_the_scheduled_run_catches_up_a_missed_first_and_skips_a_month_without_data(chain, tmp_path):
    schedule = Schedule(tmp_path)
    with open_warehouse(path=chain) as engine:
        september = write_due(engine, date(2026, 10, 17), schedule)  # server was down on 1 October
        assert write_due(engine, date(2031, 3, 1), schedule) == []   # February 2031: nothing happened
    assert "monthly-report-2026-09.html" in {p.name for p in september}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in september)


def test_a_failed_write_leaves_no_file_and_is_retried(chain, tmp_path, monkeypatch):
    import molar.reports.files as files

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    schedule = Schedule(tmp_path)
    with open_warehouse(path=chain) as engine:
        with monkeypatch.context() as m:
            m.setattr(files.os, "replace", disk_full)
            with pytest.raises(OSError):
                write_due(engine, date(2026, 11, 1), schedule)
        assert list(tmp_path.iterdir()) == []                      # no report, no partial file
        assert write_due(engine, date(2026, 11, 2), schedule)     # the next day's run writes it


def test_molar_serve_writes_last_month_s_report_into_the_configured_folder(chain, tmp_path):
    db = tmp_path / "molar.duckdb"
    shutil.copy(chain, db)
    folder = tmp_path / "monthly"
    settings = Settings(warehouse_path=db, monthly_report_dir=folder)
    app = build_server(settings, clock=lambda: datetime(2026, 11, 1, 9, 0), profile_first_after=timedelta(days=3650),
                       report_first_after=timedelta(0))
    app.state.realtime.start()
    try:
        deadline = time.monotonic() + 120
        while not (folder / "monthly-report-2026-10.html").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        app.state.realtime.close()
    assert (folder / "monthly-report-2026-10.html").exists()
    with open_warehouse(path=db) as engine:
        assert engine.rows("SELECT last_status FROM ops.rt_job WHERE name = 'monthly_report'") == [("ok",)]


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("MOLAR_MONTHLY_REPORT_LANG", "fr", "monthly_report_lang='fr': write zh or en"),
    ("MOLAR_MONTHLY_REPORT_FORMAT", "docx", "monthly_report_format='docx': write html or pdf"),
])
def test_a_bad_report_setting_is_one_message(monkeypatch, setting, value, message):
    monkeypatch.setenv(setting, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()


def test_pdf_reports_without_chromium_stop_molar_serve_at_start(chain, tmp_path, monkeypatch):
    pytest.importorskip("playwright")
    monkeypatch.setenv("MOLAR_CHROMIUM", str(tmp_path / "no-chromium"))
    db = tmp_path / "molar.duckdb"
    shutil.copy(chain, db)
    settings = Settings(warehouse_path=db, monthly_report_dir=tmp_path / "m", monthly_report_format="pdf")
    with pytest.raises(ConfigError, match="printing a PDF needs chromium"):
        build_server(settings)


def targets(db: Path, command: str, *args: str, user: str):
    env = {"MOLAR_USER": user, "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": ""}
    result = CliRunner().invoke(app, ["report", "targets", command, "-w", str(db), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def chain_copy(chain, tmp_path):
    db = tmp_path / "molar.duckdb"
    shutil.copy(chain, db)
    with open_warehouse(path=db) as engine:
        add_user(engine, "root", PASSWORD, "admin", now=datetime(2026, 10, 31, 12), by="test")
    return db


def test_targets_appear_beside_the_figures_with_whether_each_was_met(chain_copy, tmp_path):
    with open_warehouse(path=chain_copy) as engine:
        want = month_sql(engine, OCT, None)
    for args in (["visits", "1", "--from", "2026-01"],                         # superseded in October
                 ["visits", str(want["visits"] + 1), "--from", "2026-10"],     # missed by one visit
                 ["revenue", f"{0.8 * want['revenue']:.0f}", "--from", "2026-10"],
                 ["revenue", "999999999", "--from", "2026-11"],                # not yet in force in October
                 ["no_show_rate", "100%", "--from", "2026-09"]):               # lower is better: met
        result = targets(chain_copy, "set", *args, user="root")
        assert result.exit_code == 0, result.output
    out = tmp_path / "r.html"
    assert run(chain_copy, "--month", "2026-10", "--lang", "en", "--out", str(out)).exit_code == 0
    html = out.read_text(encoding="utf-8")
    cells = dict(re.findall(r'<tr data-kpi="(\w+)">.*?<td class="target[^"]*">([^<]*)</td>', html, flags=re.S))
    assert cells["visits"] == f"{want['visits'] + 1:,} ✗"
    assert cells["revenue"] == f"CN¥{0.8 * want['revenue']:,.0f} ✓"
    assert cells["no_show_rate"] == "100.0% ✓"
    assert cells["new_patients"] == "–"
    assert "2 of 3 targets met (missed: Visits)." in html
    with open_warehouse(path=chain_copy) as engine:
        audited = audit.list_entries(engine, actor="root", action="report.target")
    assert len(audited) == 5 and audited[0]["detail"]["kpi"] in {"visits", "revenue", "no_show_rate"}


def test_a_clinic_manager_sets_and_lists_only_their_clinic_s_targets(chain_copy):
    assert targets(chain_copy, "set", "revenue", "500000", user="root").exit_code == 0    # the chain's
    ok = targets(chain_copy, "set", "new_patients", "30", "--clinic", CLINIC, "--from", "2026-10", user="boss1")
    assert ok.exit_code == 0, ok.output
    for args in (["revenue", "1"], ["revenue", "1", "--clinic", "C02"]):
        refused = targets(chain_copy, "set", *args, user="boss1")
        assert refused.exit_code == 2 and "may set targets only for the clinics C01" in said(refused)
    analyst = targets(chain_copy, "set", "revenue", "1", user="ana")
    assert analyst.exit_code == 2 and "may not do this" in said(analyst)
    listed = json.loads(targets(chain_copy, "list", "--json", user="boss1").output)
    assert [(t["kpi"], t["clinic"], t["from"], t["value"]) for t in listed] == [("new_patients", CLINIC, "2026-10", 30.0)]


@pytest.mark.parametrize(("args", "message"), [
    (["visitors", "10"], "'visitors' is not a KPI"),
    (["visits", "lots"], "is not a number"),
    (["no_show_rate", "150%"], "is a rate: write it as 8% or 0.08"),
    (["revenue", "--", "-5"], "must be a number of at least 0"),
    (["visits", "10", "--from", "2026-10-01"], "write it as YYYY-MM"),
    (["visits", "10", "--clinic", "C99"], "'C99' is not a clinic"),
])
def test_a_bad_target_is_one_message_and_nothing_is_stored(chain_copy, args, message):
    result = targets(chain_copy, "set", *args, user="root")
    assert result.exit_code == 2 and message in said(result)
    with open_warehouse(path=chain_copy) as engine:
        assert engine.rows("SELECT count(*) FROM ops.kpi_target") == [(0,)]
