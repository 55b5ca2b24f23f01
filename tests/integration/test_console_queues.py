"""The console's work queues, quarantine, outbox and journeys pages on the real `molar serve`
app (Uvicorn on 127.0.0.1, a real DuckDB file), signed in per role: who may open and change
what, masking, SLA colours, and the rows and audit rows a change leaves."""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import NOW, ThreadServer, seed_identity  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.delivery.tasks import create_task  # noqa: E402
from molar.ingest import ingest_paths  # noqa: E402
from molar.privacy.accounts import add_user  # noqa: E402
from molar.serve import build_server  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402
from support import CLINICS_CSV, DOCTORS_CSV, PATIENT_HEADER, TODAY  # noqa: E402

pytestmark = pytest.mark.timeout(180)
PASSWORD = "queue-test-password"
BAD_MOBILE = "1391234567"          # 10 digits: quarantined
PATIENTS = PATIENT_HEADER + (
    "P1,欧阳明华,女,1985-03-15,13812345678,,锦江区,,2024-01-05,锦江口腔门诊部\r\n"
    f"P2,司马光远,男,1990-01-01,{BAD_MOBILE},,锦江区,,2024-01-05,锦江口腔门诊部\r\n")
# (user, role, clinics)
USERS = [("desk", "front_desk", ["C01"]), ("nina", "nurse", None), ("mark", "marketer", None),
         ("ana", "analyst", None), ("boss", "clinic_manager", None), ("west", "clinic_manager", ["C02"]),
         ("root", "admin", None), ("audi", "auditor", None)]
RULE = "implant_follow_up"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("queues")
    for name, text in (("clinics.csv", CLINICS_CSV), ("doctors.csv", DOCTORS_CSV), ("patients.csv", PATIENTS)):
        (folder / name).write_bytes(text.encode("gbk"))
    db = folder / "molar.duckdb"
    engine = open_warehouse(path=db)
    ingest_paths(engine, [folder / n for n in ("clinics.csv", "doctors.csv", "patients.csv")], today=TODAY)
    seed_identity(engine)     # G1 +8613800000001, G2/G3 share +8613900000002, G4; all at C01
    engine.execute("UPDATE identity.patient SET home_clinic_id = 'C02' WHERE golden_id = 'G0000000004'")
    tasks = {}
    for name, kind, golden, due, role in [("late", "nurse_follow_up", "G0000000001", NOW - timedelta(hours=2), "nurse"),
                                          ("soon", "service_recovery", "G0000000002", NOW + timedelta(minutes=30),
                                           "customer_service"),
                                          ("later", "vip_advisor", "G0000000003", NOW + timedelta(days=2),
                                           "health_advisor"),
                                          ("west", "nurse_follow_up", "G0000000004", NOW + timedelta(days=1), "nurse")]:
        tasks[name], _ = create_task(engine, idempotency_key=name, kind=kind, golden_id=golden, due_at=due, now=NOW,
                                     role=role, title_zh=f"任务{name}", title_en=f"task {name}")
    for i, (channel, status, golden, error) in enumerate([
            ("sms", "sent", "G0000000001", None), ("sms", "failed", "G0000000001", "gateway said 500"),
            ("sms", "failed", "G0000000004", "west gateway 502"), ("wechat", "queued", "G0000000002", None),
            ("wechat", "suppressed", "G0000000003", "no consent")]):
        engine.execute("INSERT INTO ops.outbox (message_id, idempotency_key, rule_key, golden_id, channel, purpose, "
                       "template, status, attempts, last_error, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, 'care', 't1', ?, 1, ?, ?, ?)",
                       [f"M{i}", f"k{i}", RULE, golden, channel, status, error, NOW, NOW + timedelta(minutes=i)])
    for user, role, clinics in USERS:
        add_user(engine, user, PASSWORD, role, clinics=clinics, now=NOW, by="test")
    load = engine.scalar("SELECT load_id FROM ops.load WHERE file_path LIKE '%patients.csv'")
    engine.close()
    app = build_server(Settings(warehouse_path=db), clock=lambda: NOW, profile_first_after=timedelta(days=3650))
    with ThreadServer(app) as srv:
        srv.runtime, srv.tasks, srv.load = app.state.realtime, tasks, load
        yield srv


@contextmanager
def signed_in(live, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        answer = http.post("/console/login", data={"username": user, "password": PASSWORD, "next": "/console/"})
        assert answer.status_code == 303, answer.text
        yield http


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def rows_of(live, sql: str, params=None) -> list[tuple]:
    return live.runtime.read_engine().rows(sql, params or [])


def audit_of(live, actor: str, action: str) -> list[tuple]:
    return rows_of(live, "SELECT patient, fields, detail FROM ops.audit_log WHERE actor = ? AND action = ? ORDER BY seq",
                   [actor, action])


PAGES = {"queues": "/console/queues", "quarantine": "/console/quarantine", "outbox": "/console/outbox",
         "journeys": "/console/journeys", "journey": f"/console/journeys/{RULE}",
         "why": f"/console/journeys/{RULE}/why?patient=G0000000001", "segments": "/console/segments"}
# Written out by hand from policy.yaml's intent (who works tasks, who fixes source files, who runs journeys).
ALLOWED = {
    "desk": {"queues"},
    "nina": {"queues"},
    "mark": {"journeys", "journey", "why", "segments"},
    "ana": {"journeys", "journey", "why", "segments"},
    "boss": {"queues", "quarantine", "download", "outbox", "journeys", "journey", "why", "segments"},
    "root": {"queues", "quarantine", "download", "outbox", "journeys", "journey", "why", "segments"},
    "audi": set(),
}


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_each_role_opens_only_its_pages_and_sees_only_their_links(live, user):
    with signed_in(live, user) as http:
        pages = {**PAGES, "download": f"/console/quarantine/download?load={live.load}"}
        answers = {name: http.get(path).status_code for name, path in pages.items()}
        assert {n for n, s in answers.items() if s == 200} == ALLOWED[user], answers
        assert {n for n, s in answers.items() if s != 200} == {n for n, s in answers.items() if s == 403}
        home = http.get("/console/queues").text      # the page or its 403 page: both carry the navigation
        links = set(re.findall(r'<nav>(.*?)</nav>', home, re.S)[0].split('href="/console/')[1:])
        shown = {link.split('"')[0] for link in links}
        want = {"queues": "queues", "quarantine": "quarantine", "outbox": "outbox", "journeys": "journeys",
                "segments": "segments"}
        assert shown & set(want.values()) == {v for k, v in want.items() if k in ALLOWED[user]}


def test_signed_out_pages_send_to_sign_in(live):
    answer = httpx.get(live.url + "/console/queues", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login?next=")


def _task_rows(page: str) -> dict[str, dict[str, str]]:
    found = {}
    for task, sla, body in re.findall(r'<tr class="task[^"]*" data-task="(\w+)" data-sla="(\w+)">(.*?)</tr>', page, re.S):
        cells = dict(re.findall(r'data-field="(\w+)">([^<]*)<', body))
        found[task] = {"sla": sla, **cells}
    return found


def test_the_queue_masks_by_role_colours_by_due_time_and_keeps_to_the_clinics(live):
    t = live.tasks
    with signed_in(live, "desk") as http:     # front desk at C01: mobiles in full
        rows = _task_rows(http.get("/console/queues").text)
    assert set(rows) == {t["late"], t["soon"], t["later"]}          # not G4 of C02
    assert rows[t["late"]]["mobile"] == "+8613800000001" and rows[t["late"]]["name"] == "张伟"
    assert {r["sla"] for r in rows.values()} == {"overdue", "due_soon", "on_time"}
    assert rows[t["late"]]["sla"] == "overdue" and rows[t["soon"]]["sla"] == "due_soon"
    with signed_in(live, "nina") as http:     # a nurse: mobile masked, every clinic
        page = http.get("/console/queues").text
        rows = _task_rows(page)
        assert set(_task_rows(http.get("/console/queues?kind=nurse_follow_up").text)) == {t["late"], t["west"]}
        assert set(_task_rows(http.get("/console/queues?clinic=C02").text)) == {t["west"]}
        assert set(_task_rows(http.get("/console/queues?role=customer_service").text)) == {t["soon"]}
    assert rows[t["late"]]["mobile"] == "138****0001" and "13800000001" not in page
    assert rows[t["soon"]]["mobile"] == "139****0002"
    with signed_in(live, "west") as http:     # a manager bound to C02
        assert set(_task_rows(http.get("/console/queues").text)) == {t["west"]}
        assert http.get("/console/queues?clinic=C01").status_code == 403
    reads = audit_of(live, "nina", "task.read")
    assert reads and reads[0][2] and '"G0000000001"' in reads[0][2] and "mobile" in reads[0][2]


def test_taking_and_completing_a_task_changes_its_row_and_is_audited(live):
    task = live.tasks["later"]
    with signed_in(live, "desk") as http:
        token = csrf(http.get("/console/queues").text)
        forged = http.post(f"/console/queues/{task}/complete", data={"outcome": "reached"})
        assert forged.status_code == 403                       # no form token
        assert http.post(f"/console/queues/{task}/complete",
                         data={"outcome": "reached", "csrf": "0" * 32}).status_code == 403
        assert rows_of(live, "SELECT status FROM ops.task WHERE task_id = ?", [task]) == [("open",)]
        taken = http.post(f"/console/queues/{task}/assign", data={"csrf": token, "back": "/console/queues?kind="})
        assert taken.status_code == 303 and taken.headers["location"] == "/console/queues?kind="
        assert rows_of(live, "SELECT assigned_to, assigned_at FROM ops.task WHERE task_id = ?", [task]) == [
            ("desk", NOW)]
        assert http.post(f"/console/queues/{task}/complete", data={"csrf": token, "outcome": "maybe"}).status_code == 400
        done = http.post(f"/console/queues/{task}/complete",
                         data={"csrf": token, "outcome": "booked", "note": "booked for Friday"})
        assert done.status_code == 303
        again = http.post(f"/console/queues/{task}/assign", data={"csrf": token})
        assert again.status_code == 409 and "该任务已完成" in again.text       # a done task is not taken again
        row = _task_rows(http.get("/console/queues?status=all").text)[task]
        assert row["status"].startswith("已完成") and "已预约" in row["status"]
    assert rows_of(live, "SELECT status, outcome, resolved_by, resolved_at, note FROM ops.task WHERE task_id = ?",
                   [task]) == [("done", "booked", "desk", NOW, "booked for Friday")]
    changes = audit_of(live, "desk", "task.change")
    assert [(c[0], '"after": {"assigned_to": "desk"}' in c[2]) for c in changes][0] == ("G0000000003", True)
    assert '"outcome": "booked"' in changes[-1][2] and '"before": {"assigned_to": "desk"' in changes[-1][2]
    assert "Friday" not in changes[-1][2]                   # the note may hold personal words


def test_roles_without_task_change_or_outside_the_clinic_cannot_change_a_task(live):
    task = live.tasks["late"]
    with signed_in(live, "boss") as http:
        boss_token = csrf(http.get("/console/queues").text)
    with signed_in(live, "mark") as http:          # a marketer may not change tasks, even with a good token
        own = csrf(http.get("/console/journeys").text)
        for token in (own, boss_token):
            assert http.post(f"/console/queues/{task}/complete", data={"csrf": token, "outcome": "reached"}
                             ).status_code == 403
    with signed_in(live, "west") as http:          # C02's manager: C01's task is not theirs
        token = csrf(http.get("/console/queues").text)
        assert http.post(f"/console/queues/{task}/complete", data={"csrf": token, "outcome": "reached"}
                         ).status_code == 404
    assert rows_of(live, "SELECT status FROM ops.task WHERE task_id = ?", [task]) == [("open",)]


def test_enable_and_disable_change_the_rule_state_and_are_audited(live):
    with signed_in(live, "ana") as http:            # an analyst reads journeys but may not change them
        page = http.get(f"/console/journeys/{RULE}").text
        assert 'id="toggle"' not in page
    with signed_in(live, "mark") as http:
        token = csrf(http.get(f"/console/journeys/{RULE}").text)
        assert http.post(f"/console/journeys/{RULE}/disable").status_code == 403          # no token
        answer = http.post(f"/console/journeys/{RULE}/disable", data={"csrf": token})
        assert answer.status_code == 303
        assert rows_of(live, "SELECT enabled, updated_by FROM ops.rule_state WHERE rule_key = ?", [RULE]) == [
            (False, "mark")]
        listing = http.get("/console/journeys").text
        assert re.search(rf'data-rule="{RULE}" data-enabled="false"', listing)
        http.post(f"/console/journeys/{RULE}/enable", data={"csrf": token})
        assert rows_of(live, "SELECT enabled FROM ops.rule_state WHERE rule_key = ?", [RULE]) == [(True,)]
    with signed_in(live, "ana") as http:            # with the token of their own session (every page has one)
        own = csrf(http.get("/console/journeys").text)
        assert http.post(f"/console/journeys/{RULE}/disable", data={"csrf": own}).status_code == 403
    assert rows_of(live, "SELECT enabled FROM ops.rule_state WHERE rule_key = ?", [RULE]) == [(True,)]
    changes = [c[2] for c in audit_of(live, "mark", "rule.change")]
    assert len(changes) == 2 and '"after": {"enabled": false}' in changes[0] and '"enabled": true' in changes[1]


def test_a_journey_is_drawn_step_by_step_and_why_is_explained(live):
    with signed_in(live, "ana") as http:
        page = http.get(f"/console/journeys/{RULE}?lang=en").text
        # implant_follow_up.yaml: 12 top-level steps, three branches with 2 "then" steps each, one "else" step.
        steps = re.findall(r'<g class="step step-(\w+)" data-step="([\w.]+)">', page)
        assert len(steps) == 1 + 12 + 6 + 1 and steps[0] == ("trigger", "trigger")
        assert [k for k, _ in steps].count("branch") == 3 and [k for k, _ in steps].count("task") == 3
        # arrows: trigger → first; 16 other steps lead on except the two that end it; 2 out of each branch
        assert page.count('class="edge"') == 1 + 14 + 3 * 2
        assert "visit.completed" in page and "Staff task: Implant day 1" in page
        why = http.get(f"/console/journeys/{RULE}/why?patient=g0000000001&lang=en")
        assert why.status_code == 200 and "never triggered for G0000000001" in why.text
        assert http.get(f"/console/journeys/{RULE}/why?patient=G0000000404").status_code == 404
    assert audit_of(live, "ana", "decision.read")[-1][0] == "G0000000001"
    with signed_in(live, "west") as http:           # G1 is not a patient of C02
        assert http.get(f"/console/journeys/{RULE}/why?patient=G0000000001").status_code == 404


def test_quarantine_values_are_clear_only_for_a_role_that_may_and_each_clear_read_is_audited(live):
    exports = len(audit_of(live, "root", "quarantine.export"))
    clear_reads = len(audit_of(live, "boss", "quarantine.values"))
    with signed_in(live, "root") as http:           # admin: quarantine.read and export, not values
        page = http.get("/console/quarantine").text
        assert BAD_MOBILE not in page and 'data-field="value">***<' in page
        download = http.get(f"/console/quarantine/download?load={live.load}")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert 'filename="patients.quarantine.csv"' in download.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert [(r["row_number"], r["病历号"], r["手机号"]) for r in table] == [("3", "P2", "***")]   # line 3 of the file
    assert "10" in table[0]["reason_en"] and table[0]["reason_zh"]
    assert audit_of(live, "root", "quarantine.values") == []
    export = audit_of(live, "root", "quarantine.export")
    assert len(export) == exports + 1 and '"clear": false' in export[-1][2] and '"rows": 1' in export[-1][2]

    with signed_in(live, "boss") as http:           # clinic manager: values in clear, audited
        page = http.get("/console/quarantine").text
        assert f'data-field="value">{BAD_MOBILE}<' in page
        clear = list(csv.DictReader(io.StringIO(
            http.get(f"/console/quarantine/download?load={live.load}").content.decode("utf-8-sig"))))
    assert clear[0]["手机号"] == BAD_MOBILE and clear[0]["患者姓名"] == "司马光远"
    values = audit_of(live, "boss", "quarantine.values")
    assert len(values) == clear_reads + 1 and "手机号" in values[-1][1]
    assert '"clear": true' in audit_of(live, "boss", "quarantine.export")[-1][2]
    with signed_in(live, "boss") as http:           # no or an unknown load: a page that says so
        for query in ("", "?load=nope"):
            answer = http.get(f"/console/quarantine/download{query}")
            assert answer.status_code == 404 and "该批次没有被隔离的行" in answer.text


def test_outbox_counts_per_channel_and_status_and_the_latest_failures(live):
    with signed_in(live, "boss") as http:
        page = http.get("/console/outbox").text
    cells = dict(re.findall(r'data-channel="(\w+)">.*?</tr>', page, re.S) and
                 [((ch, st), n) for ch, body in re.findall(r'data-channel="(\w+)">(.*?)</tr>', page, re.S)
                  for st, n in re.findall(r'data-status="(\w+)">([\d,]+)<', body)])
    assert cells[("sms", "failed")] == "2" and cells[("sms", "sent")] == "1" and cells[("sms", "queued")] == "0"
    assert cells[("wechat", "queued")] == "1" and cells[("wechat", "suppressed")] == "1"
    assert re.findall(r'class="failure" data-message="(\w+)"', page) == ["M2", "M1"]      # newest first
    assert "gateway said 500" in page                   # a clinic manager reads free text in full
    with signed_in(live, "root") as http:           # an admin: free text masked, as in `molar outbox list`
        page = http.get("/console/outbox").text
    assert "gateway said 500" not in page and "M1" in page
    with signed_in(live, "west") as http:           # C02 only: G4's failure
        page = http.get("/console/outbox").text
    assert re.findall(r'class="failure" data-message="(\w+)"', page) == ["M2"] and "gateway said 500" not in page
