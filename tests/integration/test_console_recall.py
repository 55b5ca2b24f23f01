"""The console's recall list on the real `molar serve` app (Uvicorn on 127.0.0.1, a real
DuckDB file) against hand-built patients: who is listed (due dates worked out by hand from
recall_types.yaml: cleaning every 6 months), in what order, masked by role, kept to the
user's clinics, and audited."""

from __future__ import annotations

import json
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import NOW, ThreadServer  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.privacy.accounts import add_user  # noqa: E402
from molar.serve import build_server  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402
from unit.profile.crafted import Chain, Patient, Visit  # noqa: E402

pytestmark = pytest.mark.timeout(180)
PASSWORD = "recall-test-password"
USERS = [("desk", "front_desk", ["C01"]), ("boss", "clinic_manager", None), ("root", "admin", None),
         ("mark", "marketer", None), ("nina", "nurse", None)]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db = tmp_path_factory.mktemp("recall") / "molar.duckdb"
    engine = open_warehouse(path=db)
    chain = Chain([
        Patient("A", visits=[Visit(date(2026, 5, 10), ["CLN"])]),                 # due 10 Nov: due within 30 days
        Patient("B", visits=[Visit(date(2026, 3, 1), ["CLN"])]),                  # due 1 Sep: 60 days overdue
        Patient("C", home_clinic="C02", visits=[Visit(date(2026, 4, 1), ["CLN"], clinic="C02")]),  # C02's
        Patient("D", visits=[Visit(date(2026, 10, 31), ["CLN"])]),                # due next April: not yet
    ]).build(engine)
    for user, role, clinics in USERS:
        add_user(engine, user, PASSWORD, role, clinics=clinics, now=NOW, by="test")
    engine.close()
    app = build_server(Settings(warehouse_path=db), clock=lambda: NOW, profile_first_after=timedelta(days=3650))
    with ThreadServer(app) as srv:
        srv.runtime, srv.chain = app.state.realtime, chain
        yield srv


def listing(live, user: str, query: str = "") -> httpx.Response:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        answer = http.post("/console/login", data={"username": user, "password": PASSWORD, "next": "/console/"})
        assert answer.status_code == 303, answer.text
        return http.get("/console/recall" + query)


def rows(page: str) -> list[tuple[str, str, str]]:
    """(golden ID, name cell, status class) per listed recall, in page order."""
    return [(g, name, status) for status, g, name in re.findall(
        r'<tr class="recall (\w+)" data-patient="(\w+)"[^>]*>.*?<td class="name">([^<]*)</td>', page, re.S)]


def test_the_clinic_s_due_and_overdue_recalls_in_order_names_in_full_for_front_desk(live):
    c = live.chain
    page = listing(live, "desk", "?clinic=C01&within=30")
    assert page.status_code == 200
    assert rows(page.text) == [(c["B"], "患者B", "overdue"), (c["A"], "患者A", "due")]   # C is C02's, D not yet due
    assert listing(live, "desk", "?clinic=C02").status_code == 403                    # bound to C01


def test_an_admin_sees_masked_names_and_roles_without_the_action_are_refused(live):
    c = live.chain
    listed = rows(listing(live, "root", "?clinic=C01").text)
    assert [g for g, _, _ in listed] == [c["B"], c["A"]]
    assert all(name.startswith("患") and name not in ("患者A", "患者B") for _, name, _ in listed)
    assert [g for g, _, _ in rows(listing(live, "boss", "?clinic=C02&within=90").text)] == [c["C"]]
    for user in ("mark", "nina"):
        assert listing(live, user).status_code == 403


def test_each_listing_is_audited_with_its_patients_and_the_fields_shown_in_full(live):
    c = live.chain
    listing(live, "desk", "?clinic=C01")
    listing(live, "root", "?clinic=C01")
    audit = {actor: (list(fields or []), json.loads(detail)) for actor, fields, detail in
             live.runtime.read_engine().rows(
                 "SELECT actor, fields, detail FROM ops.audit_log WHERE action = 'operations.recall' "
                 "AND actor IN ('desk', 'root') ORDER BY seq")}
    assert audit["desk"][1]["patients"] == sorted([c["A"], c["B"]]) and "name" in audit["desk"][0]
    assert audit["root"][1]["patients"] == sorted([c["A"], c["B"]]) and "name" not in audit["root"][0]
