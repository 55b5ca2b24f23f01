"""The console's segment pages on the real `molar serve` app (Uvicorn on 127.0.0.1, a real
DuckDB file) over the hand-built chain of tests/unit/segments/story.py, signed in per role:
who may open, export and save what, the masking of the preview, a clinic-bound user's
clinics, the builder sizing without saving, and the audit rows."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import ThreadServer  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.privacy.accounts import add_user  # noqa: E402
from molar.serve import build_server  # noqa: E402
from unit.profile.crafted import new_warehouse  # noqa: E402
from unit.segments.story import EXPECTED, NOW, build  # noqa: E402

pytestmark = pytest.mark.timeout(180)
PASSWORD = "segment-test-password"
USERS = [("desk", "front_desk", None), ("nina", "nurse", None), ("mark", "marketer", None), ("ana", "analyst", None),
         ("boss", "clinic_manager", None), ("west", "clinic_manager", ["C02"]), ("root", "admin", None),
         ("audi", "auditor", None)]
LAPSED = "days_since_item.CLN"
PAGES = {"segments": "/console/segments", "segment": "/console/segments/lapsed_cleaning",
         "builder": f"/console/segments/builder?field0={LAPSED}&op0=%3E&value0=240",
         "export": "/console/segments/lapsed_cleaning/export"}
# Written out by hand from the policy's intent: marketing builds and exports segments,
# analysts look, managers look and export, nobody else sees them.
ALLOWED = {"desk": set(), "nina": set(), "audi": set(), "mark": set(PAGES), "ana": {"segments", "segment", "builder"},
           "boss": set(PAGES), "west": set(PAGES), "root": set(PAGES)}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("segments") / "molar.duckdb"
    engine = new_warehouse(db)
    chain = build(engine)
    for user, role, clinics in USERS:
        add_user(engine, user, PASSWORD, role, clinics=clinics, now=NOW, by="test")
    engine.close()
    app = build_server(Settings(warehouse_path=db), clock=lambda: NOW, profile_first_after=timedelta(days=3650))
    with ThreadServer(app) as srv:
        srv.runtime, srv.chain = app.state.realtime, chain
        yield srv


@contextmanager
def signed_in(live, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=60) as http:
        answer = http.post("/console/login", data={"username": user, "password": PASSWORD, "next": "/console/"})
        assert answer.status_code == 303, answer.text
        yield http


def rows_of(live, sql: str, params=None) -> list[tuple]:
    return live.runtime.read_engine().rows(sql, params or [])


def members(page: str) -> dict[str, dict[str, str]]:
    return {g: dict(re.findall(r'data-field="(\w+)">([^<]*)<', body))
            for g, body in re.findall(r'<tr class="member" data-patient="(\w+)">(.*?)</tr>', page, re.S)}


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


@pytest.mark.parametrize("user", sorted(ALLOWED))
def test_each_role_opens_only_its_segment_pages_and_sees_the_link_only_then(live, user):
    with signed_in(live, user) as http:
        answers = {name: http.get(path).status_code for name, path in PAGES.items()}
        assert {n for n, s in answers.items() if s == 200} == ALLOWED[user], answers
        assert {n for n, s in answers.items() if s != 200} == {n for n, s in answers.items() if s == 403}
        nav = re.findall(r"<nav>(.*?)</nav>", http.get("/console/segments").text, re.S)[0]
        assert ('href="/console/segments"' in nav) == bool(ALLOWED[user])


def test_the_catalogue_shows_each_segments_size_now(live):
    with signed_in(live, "ana") as http:
        page = http.get("/console/segments?lang=en").text
    sizes = dict(re.findall(r'data-segment="(\w+)">.*?data-field="size">(\d+)<', page, re.S))
    assert sizes == {k: str(len(v)) for k, v in EXPECTED.items()}
    assert "Days since the last cleaning / scaling is above 240" in page


def test_the_preview_is_masked_by_role_and_a_clinic_bound_user_sees_only_their_clinics(live):
    c = live.chain
    path = "/console/segments/lapsed_cleaning"
    with signed_in(live, "boss") as http:
        full = members(http.get(path).text)
    with signed_in(live, "mark") as http:
        masked = members(http.get(path).text)
    with signed_in(live, "ana") as http:
        hidden = http.get(path + "?lang=en").text
    with signed_in(live, "west") as http:
        west = http.get(path + "?lang=en").text
    assert {g: m["name"] for g, m in full.items()} == {c["A"]: "患者A", c["D"]: "患者D"}
    assert {g: m["name"] for g, m in masked.items()} == {c["A"]: "患**", c["D"]: "患**"}
    assert "患者" not in hidden and set(members(hidden)) == {c["A"], c["D"]}
    assert set(members(west)) == {c["D"]} and "1 at your clinics" in west
    reads = rows_of(live, "SELECT actor, fields, detail FROM ops.audit_log WHERE action = 'segment.read' "
                          "AND actor IN ('boss', 'mark') ORDER BY seq")
    assert [(a, "name" in f, json.loads(d)["patients"]) for a, f, d in reads][-2:] == [
        ("boss", True, sorted([c["A"], c["D"]])), ("mark", False, sorted([c["A"], c["D"]]))]


def test_an_export_is_a_csv_of_the_members_and_is_audited_with_its_row_count(live):
    c = live.chain
    for user, want in (("west", [(c["D"], "患者D")]), ("mark", sorted([(c["A"], "患**"), (c["D"], "患**")]))):
        sql = "SELECT detail FROM ops.audit_log WHERE action = 'segment.export' AND actor = ? ORDER BY seq"
        before = len(rows_of(live, sql, [user]))
        with signed_in(live, user) as http:
            answer = http.get("/console/segments/lapsed_cleaning/export")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert sorted((r["golden_id"], r["name"]) for r in rows) == want
        audits = rows_of(live, sql, [user])
        assert len(audits) == before + 1
        detail = audits[-1][0]
        assert (json.loads(detail)["rows"], json.loads(detail)["segment"]) == (len(want), "lapsed_cleaning")


def test_the_builder_sizes_without_saving_and_saves_a_version_only_for_roles_that_may(live):
    c = live.chain
    query = {"field0": "tier", "op0": "in", "value0": "strategic, growth", "field1": "churn.risk", "op1": ">=",
             "value1": "0.69", "key": "risky", "name_zh": "风险", "name_en": "Risky"}
    with signed_in(live, "ana") as http:
        page = http.get("/console/segments/builder", params={**query, "lang": "en"}).text
        assert set(members(page)) == {c["A"], c["B"]}                # 0.8 and 0.69 ≥ 0.69
        assert 'class="save"' not in page                            # an analyst may not save
        assert http.post("/console/segments/builder", data={**query, "csrf": csrf(page)}).status_code == 403
        bad = http.get("/console/segments/builder", params={"field0": "churn.risk", "op0": ">", "value0": "", "lang": "en"})
        assert bad.status_code == 400 and "not valid: op '>' needs a value" in html.unescape(bad.text) and "Traceback" not in bad.text
    assert rows_of(live, "SELECT count(*) FROM ops.segment_version") == [(0,)]
    with signed_in(live, "mark") as http:
        page = http.get("/console/segments/builder", params=query).text
        assert http.post("/console/segments/builder", data=query).status_code == 403           # no form token
        saved = http.post("/console/segments/builder", data={**query, "csrf": csrf(page)})
        assert saved.status_code == 303 and saved.headers["location"] == "/console/segments/risky"
        shown = http.get("/console/segments/risky?lang=en").text
        assert "Risky" in shown and set(members(shown)) == {c["A"], c["B"]}
        again = http.post("/console/segments/builder", data={**query, "value1": "0.7", "csrf": csrf(page)})
        assert again.status_code == 303
        assert set(members(http.get("/console/segments/risky").text)) == {c["A"]}
    assert rows_of(live, "SELECT segment_key, version, saved_by FROM ops.segment_version ORDER BY version") == [
        ("risky", 1, "mark"), ("risky", 2, "mark")]
    changes = [json.loads(d) for (d,) in rows_of(
        live, "SELECT detail FROM ops.audit_log WHERE action = 'segment.change' ORDER BY seq")]
    assert [(d["version"], d["before"] is None) for d in changes] == [(1, True), (2, False)]
    assert changes[1]["after"]["condition"][1]["value"] == 0.7
