"""The web console in a real browser: Debian's chromium driven by Playwright against a real
`molar serve` process on 127.0.0.1, over a small generated chain (built once).

Checks sign-in per role, role-aware navigation, the dashboard's KPIs against SQL written
here, masking on the patient 360 page per role, a 403 for a role without the page, and
that no page asks for anything outside the server. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from molar.delivery.tasks import create_task
from molar.identity import resolve
from molar.ingest import ingest_paths
from molar.privacy.accounts import add_user
from molar.privacy.fields import read_golden
from molar.profile.run import compute_profile
from molar.realtime.schemas import local_now
from molar.synth import SynthConfig, generate
from molar.warehouse import open_warehouse
from unit.realtime.rtsupport import free_port

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
RULES = Path(__file__).parents[2] / "src" / "molar" / "automation" / "rules"     # the shipped rule files
pytestmark = [pytest.mark.timeout(600),
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)")]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
END = date(2026, 10, 31)
PASSWORD = "browser-test-password"
CLINIC = "C01"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A 600-person, 3-clinic chain: ingested, resolved, profiled; one user per role."""
    folder = tmp_path_factory.mktemp("console")
    config = SynthConfig(out_dir=folder / "data", patients=600, clinics=3, seed=5, end_date=END)
    generate(config)
    db = folder / "molar.duckdb"
    with open_warehouse(path=db) as engine:
        ingest_paths(engine, [folder / "data" / "sources"], today=END)
        resolve(engine, now=datetime(2026, 10, 31, 12))
        compute_profile(engine, END, sentiment=True)
        now = datetime(2026, 10, 31, 12)
        for user, role, clinics in [("desk", "front_desk", [CLINIC]), ("mark", "marketer", None),
                                    ("ana", "analyst", None), ("boss", "clinic_manager", None),
                                    ("audi", "auditor", None)]:
            add_user(engine, user, PASSWORD, role, clinics=clinics, now=now, by="test")
        # A patient of the front desk's clinic with a mobile and a name.
        golden, visits = engine.rows("""
            SELECT p.golden_id, count(*) FROM identity.patient p
            JOIN identity.cluster c USING (golden_id)
            JOIN std.visit v ON v.source = c.source AND v.source_patient_key = c.source_patient_key
            WHERE p.home_clinic_id = ? AND p.mobile IS NOT NULL AND p.name IS NOT NULL
            GROUP BY ALL ORDER BY p.golden_id LIMIT 1""", [CLINIC])[0]
        person = read_golden(engine, "name, mobile", "WHERE golden_id = ?", [golden]).to_pylist()[0]
        name, mobile = person["name"], person["mobile"]   # the golden record is sealed
        # Due times against the server's clock (clinic local time now): one overdue, one due within the hour.
        clock = local_now()
        for key, due in (("browser-late", clock - timedelta(hours=3)), ("browser-soon", clock + timedelta(minutes=40))):
            create_task(engine, idempotency_key=key, kind="nurse_follow_up", golden_id=golden, due_at=due, now=now,
                        role="nurse", title_zh="术后回访", title_en="Post-op call")
        want = {**expected(engine), **segment_sizes(engine, local_now().date())}
        elsewhere = engine.scalar("SELECT min(golden_id) FROM identity.patient WHERE home_clinic_id <> ?", [CLINIC])
    return db, {"golden": golden, "name": name, "mobile": mobile, "visits": visits, "elsewhere": elsewhere}, want


def expected(engine) -> dict:
    """October 2026 by SQL written here, independently of molar.reports."""
    oct_ = "visit_date BETWEEN DATE '2026-10-01' AND DATE '2026-10-31'"
    no_show, arrived = engine.rows("""
        SELECT count(*) FILTER (status = 'no_show'), count(*) FILTER (status = 'arrived')
        FROM std.appointment WHERE slot_start >= '2026-10-01' AND slot_start < '2026-11-01'""")[0]
    return {
        "visits": engine.scalar(f"SELECT count(*) FROM std.visit WHERE {oct_}"),
        "at_clinic": engine.scalar(f"SELECT count(*) FROM std.visit WHERE {oct_} AND clinic_id = ?", [CLINIC]),
        "revenue": engine.scalar("SELECT sum(amount_yuan) FROM std.charge WHERE charged_on >= DATE '2026-10-01' "
                                 "AND charged_on < DATE '2026-11-01'"),
        "new": engine.scalar("""
            SELECT count(*) FROM (
              SELECT c.golden_id, min(v.visit_date) AS first FROM std.visit v JOIN identity.cluster c
                ON c.source = v.source AND c.source_patient_key = v.source_patient_key GROUP BY 1)
            WHERE first >= DATE '2026-10-01'"""),
        "no_show": no_show, "arrived": arrived,
        "active": engine.scalar("""
            SELECT count(DISTINCT c.golden_id) FROM std.visit v JOIN identity.cluster c
              ON c.source = v.source AND c.source_patient_key = v.source_patient_key
            WHERE v.visit_date BETWEEN DATE '2025-11-01' AND DATE '2026-10-31'"""),
    }


def segment_sizes(engine, today: date) -> dict:
    """Two segments' sizes by SQL written here, independently of molar.segments: the shipped
    lapsed_cleaning (last cleaning more than 240 days before the server's today) and a strategic
    or growth tier built in the browser."""
    return {
        "lapsed_cleaning": engine.scalar("""
            SELECT count(*) FROM (
              SELECT c.golden_id, max(v.visit_date) AS last FROM std.treatment t JOIN std.visit v USING (source, visit_id)
              JOIN identity.cluster c ON c.source = v.source AND c.source_patient_key = v.source_patient_key
              WHERE t.item_code = 'CLN' AND v.visit_date <= ? GROUP BY 1)
            WHERE ?::DATE - last > 240 AND golden_id IN (SELECT golden_id FROM identity.patient)""", [today, today]),
        "top_tiers": engine.scalar("SELECT count(*) FROM profile.tier WHERE tier IN ('strategic', 'growth') "
                                   "AND golden_id IN (SELECT golden_id FROM identity.patient)"),
    }


@pytest.fixture(scope="module")
def server(chain):
    """`molar serve` as a user starts it, on a free port."""
    db = chain[0]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "molar", "serve", "-w", str(db), "--port", str(port),
                             "--log-level", "warning"], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("molar serve did not start:\n" + proc.stdout.read().decode())
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(60)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def outside():
    """Every request a page made to anything but the test server."""
    return []


def signed_in(browser, server, user, outside, lang=None):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("request", lambda r: None if r.url.startswith(server + "/") else outside.append(r.url))
    page.goto(f"{server}/console/dashboard" + (f"?lang={lang}" if lang else ""))
    assert "/console/login" in page.url               # not signed in: to the sign-in page
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def kpi(page, key: str) -> str:
    return page.inner_text(f"[data-kpi={key}] b")


def digits(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def test_dashboard_numbers_match_sql_and_charts_draw(browser, server, chain, outside, tmp_path):
    context, page = signed_in(browser, server, "boss", outside)
    assert page.url.endswith("/console/dashboard")
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "运营总览" in page.inner_text("h1") and "2026年10月" in page.inner_text("h1")
    page.screenshot(path=tmp_path / "dashboard-zh.png", full_page=True)
    shown = {k: kpi(page, k) for k in ("visits", "new_patients", "revenue", "no_show_rate")}
    # Chain-wide role: the clinic selector lists every clinic; pick one.
    page.select_option("select[name=clinic]", CLINIC)
    page.click(".filters button[type=submit]")
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    clinic_visits = digits(kpi(page, "visits"))
    assert page.locator(".chart svg").count() == 5     # line, 2 bars, pie, heat map
    context.close()

    want = chain[2]
    assert want["visits"] > 0 and want["at_clinic"] < want["visits"]
    assert digits(shown["visits"]) == want["visits"]
    assert digits(shown["new_patients"]) == want["new"]
    assert digits(shown["revenue"]) == round(want["revenue"])
    assert shown["no_show_rate"] == f"{100 * want['no_show'] / (want['no_show'] + want['arrived']):.1f}%"
    assert clinic_visits == want["at_clinic"]


def test_english_switch_and_role_navigation(browser, server, outside):
    context, page = signed_in(browser, server, "ana", outside, lang="en")
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Overview" in page.inner_text("h1") and "October 2026" in page.inner_text("h1")
    assert page.inner_text("[data-kpi=revenue] b").startswith("CN¥")
    assert page.locator("header nav a").all_inner_texts() == ["Overview", "Monthly report", "Patients", "Journeys", "Segments"]
    context.close()


def test_front_desk_sees_its_patient_in_full_and_no_dashboard(browser, server, chain, outside, tmp_path):
    patient = chain[1]
    context, page = signed_in(browser, server, "desk", outside)
    assert page.locator("h1").inner_text() == "无权访问"       # the dashboard is not for front desk
    assert page.locator("header nav a").all_inner_texts() == ["患者查询", "工作队列", "复查名单"]
    denied = page.request.get(f"{server}/console/dashboard")
    assert denied.status == 403
    page.goto(f"{server}/console/patients")
    local = patient["mobile"].removeprefix("+86")
    page.fill("input[name=q]", f"{local[:3]} {local[3:7]} {local[7:]}")
    page.click("form.search button")
    page.wait_for_load_state()
    if "/console/patients/" not in page.url:        # a family shares the phone: pick from the list
        page.click(f"a[href$='/{patient['golden']}']")
    assert page.url.endswith(f"/console/patients/{patient['golden']}")
    assert page.locator("[data-field=name]").count() == 1, page.content()[-3000:]
    assert page.inner_text("[data-field=name]") == patient["name"]
    assert page.inner_text("[data-field=mobile]") == patient["mobile"]
    page.screenshot(path=tmp_path / "patient-front-desk.png", full_page=True)
    # Another clinic's patient is not found for a front desk bound to C01.
    other = page.request.get(f"{server}/console/patients/{patient['elsewhere']}")
    assert other.status == 404 and patient["elsewhere"] not in other.text().replace(f"/{patient['elsewhere']}", "")
    context.close()


def test_marketer_sees_a_masked_mobile_and_analyst_no_name(browser, server, chain, outside):
    patient = chain[1]
    mobile = patient["mobile"].removeprefix("+86")
    context, page = signed_in(browser, server, "mark", outside)
    page.goto(f"{server}/console/patients/{patient['golden']}")
    assert page.inner_text("[data-field=mobile]") == f"{mobile[:3]}****{mobile[-4:]}"
    assert page.inner_text("[data-field=name]") == patient["name"][0] + "*" * (len(patient["name"]) - 1)
    assert mobile not in page.content()
    context.close()

    context, page = signed_in(browser, server, "ana", outside)
    page.goto(f"{server}/console/patients/{patient['golden']}")
    assert page.inner_text("[data-field=name]") == "不可见"
    assert patient["name"] not in page.content() and mobile[-4:] + "<" not in page.content()
    assert page.locator("table.timeline tr.visit").count() == patient["visits"]
    context.close()


def audit_rows(server, actor: str, action: str) -> list[dict]:
    """The audit log as the auditor reads it through the API."""
    token = httpx.post(f"{server}/v1/sessions", json={"username": "audi", "password": PASSWORD}, timeout=60).json()
    answer = httpx.get(f"{server}/v1/audit", params={"actor": actor, "action": action},
                       headers={"Authorization": f"Bearer {token['token']}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def golden_ids(page) -> list[str]:
    return page.locator("tr.patient").evaluate_all("rows => rows.map(r => r.dataset.golden)")


def test_a_kpi_drills_down_to_its_patients_masked_and_paged(browser, server, chain, outside, tmp_path):
    want = chain[2]
    context, page = signed_in(browser, server, "mark", outside)
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    page.click("[data-kpi=new_patients] a")
    page.wait_for_load_state()
    assert "/console/dashboard/patients?" in page.url and "kpi=new_patients" in page.url
    assert int(re.search(r"\d+", page.inner_text("#behind-count")).group()) == want["new"]
    assert page.locator("tr.patient").count() == min(50, want["new"]) > 0
    names = page.locator("tr.patient [data-field=name]").all_inner_texts()
    assert all(re.fullmatch(r".\*+", n) for n in names), names      # a marketer sees 林* only
    page.screenshot(path=tmp_path / "drill-down-marketer.png", full_page=True)
    shown = golden_ids(page)

    page.goto(f"{server}/console/dashboard/patients?kpi=active_patients&month=2026-10")
    assert int(re.search(r"\d+", page.inner_text("#behind-count")).group()) == want["active"] > 50
    first = golden_ids(page)
    page.click("a[rel=next]")
    page.wait_for_load_state()
    second = golden_ids(page)
    assert len(first) == 50 and second and not set(first) & set(second)
    assert f"2 / {-(-want['active'] // 50)}" in page.inner_text(".pager")
    page.click("tr.patient a >> nth=0")
    page.wait_for_load_state()
    assert page.url.endswith(f"/console/patients/{second[0]}")
    context.close()

    reads = audit_rows(server, "mark", "patient.read")
    lists = [r["detail"] for r in reads if r["detail"].get("via") == "console drill-down"]
    assert {(d["kpi"], d["page"]) for d in lists} >= {("new_patients", 1), ("active_patients", 2)}
    assert next(d for d in lists if d["kpi"] == "new_patients")["patients"] == shown


def test_an_analyst_drills_down_without_names_and_front_desk_not_at_all(browser, server, outside):
    context, page = signed_in(browser, server, "ana", outside)
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    page.click("[data-kpi=visits] a")
    page.wait_for_load_state()
    names = page.locator("tr.patient [data-field=name]").all_inner_texts()
    assert names and set(names) == {"不可见"}
    page.go_back()
    tier = page.locator("a[href*='kpi=tier'][href*='group=growth']")
    shown = digits(tier.inner_text())
    tier.click()
    page.wait_for_load_state()
    assert "价值分层: 成长客户" in page.inner_text("h1")
    assert int(re.search(r"\d+", page.inner_text("#behind-count")).group()) == shown
    assert page.locator("tr.patient").count() == min(50, shown)
    context.close()
    context, page = signed_in(browser, server, "desk", outside)
    assert page.request.get(f"{server}/console/dashboard/patients?kpi=visits").status == 403
    context.close()


def test_the_monthly_report_page_and_its_downloads(browser, server, chain, outside, tmp_path):
    want = chain[2]
    context, page = signed_in(browser, server, "boss", outside)
    assert "月度报告" in page.locator("header nav a").all_inner_texts()
    page.goto(f"{server}/console/report?month=2026-10")
    page.wait_for_selector("body[data-charts=ready]", timeout=30_000)
    assert "月度运营报告" in page.inner_text("h1") and "2026年10月" in page.inner_text("h1")
    assert digits(page.inner_text("tr[data-kpi=visits] td.now")) == want["visits"]
    assert page.locator(".report .chart svg").count() == 5
    page.screenshot(path=tmp_path / "report-zh.png", full_page=True)
    # The page's own download links, as a manager would click them.
    links = page.locator("form.filters a.download")
    pdf_link, html_link = (f"{server}{links.nth(i).get_attribute('href')}" for i in range(2))
    assert "format=pdf" in pdf_link and "format=html" in html_link and "month=2026-10" in html_link
    html = page.request.get(html_link)
    assert html.status == 200 and "attachment" in html.headers["content-disposition"]
    assert f'<td class="now">{want["visits"]:,}</td>' in html.text()
    pdf = page.request.get(pdf_link, timeout=120_000)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    context.close()
    assert {r["detail"]["format"] for r in audit_rows(server, "boss", "report.read")} == {"page", "html", "pdf"}
    context, page = signed_in(browser, server, "desk", outside)
    assert page.request.get(f"{server}/console/report?month=2026-10").status == 403
    context.close()


def test_work_queue_front_desk_completes_a_task_manager_sees_masked(browser, server, chain, outside, tmp_path):
    patient = chain[1]
    mobile = patient["mobile"].removeprefix("+86")
    context, page = signed_in(browser, server, "desk", outside)
    page.click("header nav a >> text=工作队列")
    page.wait_for_load_state()
    rows = page.locator(f"tr.task:has(a[href$='/{patient['golden']}'])")
    assert rows.count() == 2
    assert [rows.nth(i).get_attribute("data-sla") for i in range(2)] == ["overdue", "due_soon"]
    assert rows.nth(0).locator("[data-field=mobile]").inner_text() == patient["mobile"]   # front desk: in full
    page.screenshot(path=tmp_path / "queues-front-desk.png", full_page=True)
    rows.nth(0).locator("button[name=assign]").click()
    page.wait_for_load_state()
    late = page.locator(f"tr.task:has(a[href$='/{patient['golden']}'])").nth(0)
    assert late.locator("[data-field=assigned_to]").inner_text() == "desk"
    late.locator("select[name=outcome]").select_option("reached")
    late.locator("button[name=complete]").click()
    page.wait_for_load_state()
    assert page.locator(f"tr.task:has(a[href$='/{patient['golden']}'])").count() == 1     # done leaves the open list
    context.close()

    context, page = signed_in(browser, server, "boss", outside, lang="en")
    page.goto(f"{server}/console/queues?status=all")
    rows = page.locator(f"tr.task:has(a[href$='/{patient['golden']}'])")
    assert rows.count() == 2 and "done · reached the patient" in rows.nth(1).inner_text()
    assert rows.nth(0).locator("[data-field=mobile]").inner_text() == f"{mobile[:3]}****{mobile[-4:]}"
    assert mobile not in page.content()
    page.screenshot(path=tmp_path / "queues-manager-en.png", full_page=True)
    for path, title in (("/console/quarantine", "Quarantined rows"), ("/console/outbox", "Outbox")):
        page.goto(server + path)
        assert page.locator("h1").inner_text() == title
    context.close()
    changes = audit_rows(server, "desk", "task.change")
    assert [c["detail"]["after"] for c in changes] == [{"status": "done", "outcome": "reached"}, {"assigned_to": "desk"}]


def test_journeys_marketer_disables_and_enables_analyst_only_reads(browser, server, chain, outside, tmp_path):
    context, page = signed_in(browser, server, "mark", outside)
    page.click("header nav a >> text=客户旅程")
    page.wait_for_load_state()
    shipped = [f for f in RULES.glob("*.yaml") if re.search(r"^key: ", f.read_text(encoding="utf-8"), re.M)]
    assert page.locator("tr.rule").count() == len(shipped) > 0
    page.click("tr[data-rule=implant_follow_up] a")
    page.wait_for_load_state()
    assert page.locator(".journey-diagram g.step").count() == 20
    page.screenshot(path=tmp_path / "journey-marketer.png", full_page=True)
    assert page.inner_text("[data-field=state]").startswith("已启用")
    page.click("#toggle")
    page.wait_for_load_state()
    assert page.inner_text("[data-field=state]").startswith("已停用")
    page.click("#toggle")
    page.wait_for_load_state()
    assert page.inner_text("[data-field=state]").startswith("已启用")
    context.close()

    context, page = signed_in(browser, server, "ana", outside, lang="en")
    page.goto(f"{server}/console/journeys/implant_follow_up")
    assert page.locator("#toggle").count() == 0
    page.fill("form.why input[name=patient]", chain[1]["golden"])
    page.click("form.why button")
    page.wait_for_load_state()
    assert f"/why?patient={chain[1]['golden']}" in page.url
    assert "The rule never triggered" in page.inner_text("ul.why li >> nth=0")   # the chain ran no journeys
    page.screenshot(path=tmp_path / "journey-why-analyst-en.png", full_page=True)
    context.close()
    assert [c["detail"]["after"] for c in audit_rows(server, "mark", "rule.change")] == [   # newest first
        {"enabled": True}, {"enabled": False}]


def test_segments_marketer_builds_and_saves_analyst_sees_no_names(browser, server, chain, outside, tmp_path):
    want = chain[2]
    context, page = signed_in(browser, server, "mark", outside)
    page.click("header nav a >> text=客户分群")
    page.wait_for_load_state()
    shipped = list((Path(__file__).parents[2] / "src" / "molar" / "segments" / "catalogue").glob("*.yaml"))
    assert page.locator("tr.segment").count() == len(shipped) == 5
    assert digits(page.inner_text("tr[data-segment=lapsed_cleaning] [data-field=size]")) == want["lapsed_cleaning"] > 0
    page.screenshot(path=tmp_path / "segments-marketer.png", full_page=True)
    page.click("tr[data-segment=lapsed_cleaning] a")
    page.wait_for_load_state()
    names = page.locator("tr.member [data-field=name]").all_inner_texts()
    assert names and all(re.fullmatch(r".\*+", n) or n == "不可见" for n in names)   # a marketer: masked
    assert page.locator("a.download").count() == 1
    page.goto(f"{server}/console/segments/builder")
    page.select_option("select[name=field0]", "tier")
    page.select_option("select[name=op0]", "in")
    page.fill("input[name=value0]", "strategic, growth")
    page.click("button[name=preview]")
    page.wait_for_load_state()
    assert digits(page.inner_text("p.size [data-field=size]")) == want["top_tiers"] > 0
    page.fill("form.save input[name=key]", "top_tiers")
    page.fill("form.save input[name=name_zh]", "高价值层")
    page.fill("form.save input[name=name_en]", "Top tiers")
    page.click("button[name=save]")
    page.wait_for_load_state()
    assert page.url.endswith("/console/segments/top_tiers") and "高价值层" in page.inner_text("h1")
    page.screenshot(path=tmp_path / "segment-saved-marketer.png", full_page=True)
    context.close()

    context, page = signed_in(browser, server, "ana", outside, lang="en")
    page.goto(f"{server}/console/segments/top_tiers")
    assert digits(page.inner_text("p.size [data-field=size]")) == want["top_tiers"]
    assert set(page.locator("tr.member [data-field=name]").all_inner_texts()) == {"not visible"}
    assert page.locator("a.download").count() == 0 and page.locator("a.edit").count() == 0
    page.screenshot(path=tmp_path / "segment-analyst-en.png", full_page=True)
    context.close()
    assert [c["detail"]["version"] for c in audit_rows(server, "mark", "segment.change")] == [1]


def test_no_page_asked_for_anything_outside_the_server(outside):
    """Runs last in this module: every page above was watched."""
    assert outside == []
