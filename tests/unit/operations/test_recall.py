"""The recall list against hand-built patients: every due date below is worked out by hand
from the patient's last qualifying treatment and the interval in recall_types.yaml."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from molar.automation.yamlio import CatalogueError
from molar.delivery.outbox import enqueue
from molar.operations.recall import load_recall_types, recalls, summary
from molar.privacy.consent import record
from unit.profile.crafted import AS_OF, Booking, Chain, Patient, Visit, fresh_warehouse


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def chain() -> Chain:
    return Chain([
        # cleaning every 6 months: the last cleaning counts, not the earlier one
        Patient("A", visits=[Visit(date(2025, 10, 1), ["CLN"]), Visit(date(2026, 4, 15), ["CHK", "CLN"])],
                bookings=[Booking(datetime(2026, 10, 25, 10), status="no_show", booked_at=datetime(2026, 10, 20, 12),
                                  department="periodontics")]),
        Patient("B", visits=[Visit(date(2026, 8, 10), ["PERIO"])]),                  # perio every 3 months
        Patient("N", visits=[Visit(date(2026, 8, 31), ["PERIO"])]),                  # 31 Aug + 3 months: 30 Nov
        Patient("C", visits=[Visit(date(2026, 10, 5), ["ORTHF"])]),                  # ortho monthly
        Patient("D", visits=[Visit(date(2026, 3, 1), ["ORTHF"])]),                   # ortho lapsed after 6 months
        Patient("E", visits=[Visit(date(2025, 11, 20), ["IMP"])]),                   # implant review yearly
        Patient("F", birth=date(2021, 3, 1), visits=[Visit(date(2026, 6, 10), ["FLUO"])]),   # 5 at the visit: 3 months
        Patient("G", birth=date(2016, 1, 15), visits=[Visit(date(2026, 5, 20), ["SEAL"])]),  # 10: 6 months
        Patient("H", birth=date(2007, 1, 1), visits=[Visit(date(2026, 2, 1), ["CHK"])]),     # 19: no child recall
        # 5 at the visit, 6 since: the age at the visit sets the interval
        Patient("Q", birth=date(2020, 8, 1), visits=[Visit(date(2026, 7, 1), ["FLUO"])]),
        # booked (and cancelled) before the reminder: the reminder has no booking for an outcome
        Patient("R", visits=[Visit(date(2026, 4, 20), ["CLN"])],
                bookings=[Booking(datetime(2026, 10, 5, 10), status="cancelled", booked_at=datetime(2026, 10, 1, 9),
                                  department="periodontics")]),
        # due 1 Nov, but already booked in periodontics on 3 Nov
        Patient("I", visits=[Visit(date(2026, 5, 1), ["CLN"])],
                bookings=[Booking(datetime(2026, 11, 3, 10), status="booked", booked_at=datetime(2026, 10, 28, 9),
                                  department="periodontics")]),
        # a future booking in another department does not book the recall
        Patient("J", visits=[Visit(date(2026, 5, 10), ["CLN"])],
                bookings=[Booking(datetime(2026, 11, 2, 10), status="booked", department="general")]),
        Patient("K", visits=[Visit(date(2026, 5, 5), ["CLN"])]),                     # refused care messages
        Patient("K2", visits=[Visit(date(2026, 5, 6), ["CLN"])]),                    # the same, on its HIS record
        Patient("K3", visits=[Visit(date(2026, 5, 7), ["CLN"])]),                    # refused, then allowed SMS again
        Patient("K4", visits=[Visit(date(2026, 5, 8), ["CLN"])]),                    # refused SMS only
        Patient("L", visits=[Visit(date(2026, 7, 1), ["CLN"])]),                     # due 1 Jan 2027: outside 30 days
        Patient("M", home_clinic="C02", visits=[Visit(date(2026, 5, 2), ["CLN"], clinic="C02")]),  # other clinic
    ])


def build(warehouse) -> Chain:
    c = chain().build(warehouse)
    record(warehouse, subject=c["K"], purpose="care", channel="any", granted=False,
           occurred_at=datetime(2026, 6, 1), source="test")
    record(warehouse, subject=f"his:{c.patient('K2').his_key}", purpose="care", channel="any", granted=False,
           occurred_at=datetime(2026, 6, 1), source="his")
    record(warehouse, subject=c["K3"], purpose="all", channel="any", granted=False, occurred_at=datetime(2026, 6, 1),
           source="test")
    record(warehouse, subject=c["K3"], purpose="care", channel="sms", granted=True, occurred_at=datetime(2026, 7, 1),
           source="test")
    record(warehouse, subject=c["K4"], purpose="care", channel="sms", granted=False, occurred_at=datetime(2026, 7, 1),
           source="test")
    # a reminder before A's last cleaning (not counted) and one after it, answered by a booking
    for key, patient, at in (("r-old", "A", datetime(2026, 3, 1, 10)), ("r-new", "A", datetime(2026, 10, 16, 10)),
                             ("r-r", "R", datetime(2026, 10, 21, 10))):
        enqueue(warehouse, idempotency_key=key, golden_id=c[patient], channel="sms", purpose="care", text="recall",
                now=at, template="recall_reminder", rule_key="recall_due_reminder")
        warehouse.execute("UPDATE ops.outbox SET status = 'sent', sent_at = ? WHERE idempotency_key = ?", [at, key])
    return c


def test_due_dates_statuses_and_reminders(warehouse):
    c = build(warehouse)
    rows = recalls(warehouse, as_of=AS_OF, clinics=["C01"], due_by=date(2026, 11, 30))
    got = {(r["golden_id"], r["recall_type"]): r for r in rows}
    expected = {   # (patient, type): (due on, status, days overdue)
        ("A", "cleaning"): (date(2026, 10, 15), "overdue", 16),
        ("B", "perio_maintenance"): (date(2026, 11, 10), "due", 0),
        ("N", "perio_maintenance"): (date(2026, 11, 30), "due", 0),
        ("C", "ortho_adjustment"): (date(2026, 11, 5), "due", 0),
        ("E", "implant_review"): (date(2026, 11, 20), "due", 0),
        ("F", "child_checkup"): (date(2026, 9, 10), "overdue", 51),
        ("Q", "child_checkup"): (date(2026, 10, 1), "overdue", 30),
        ("R", "cleaning"): (date(2026, 10, 20), "overdue", 11),
        ("G", "child_checkup"): (date(2026, 11, 20), "due", 0),
        ("I", "cleaning"): (date(2026, 11, 1), "booked", 0),
        ("J", "cleaning"): (date(2026, 11, 10), "due", 0),
        ("K", "cleaning"): (date(2026, 11, 5), "opted_out", 0),
        ("K2", "cleaning"): (date(2026, 11, 6), "opted_out", 0),
        ("K3", "cleaning"): (date(2026, 11, 7), "due", 0),
        ("K4", "cleaning"): (date(2026, 11, 8), "due", 0),
        ("A", "child_checkup"): None,   # A is an adult: the check-up in April is no child recall
    }
    for (key, kind), want in expected.items():
        row = got.get((c[key], kind))
        if want is None:
            assert row is None, (key, kind)
            continue
        assert row is not None, (key, kind)
        assert (row["due_on"], row["status"], row["days_overdue"]) == want, (key, kind)
    assert len(rows) == 15   # D lapsed, H too old, L not due by 30 Nov, M at another clinic
    assert got[(c["F"], "child_checkup")]["interval_months"] == 3
    assert got[(c["G"], "child_checkup")]["interval_months"] == 6
    assert got[(c["I"], "cleaning")]["next_booking"] == datetime(2026, 11, 3, 10)
    assert [r["status"] for r in rows[:4]] == ["overdue"] * 4 and rows[-1]["status"] == "booked"

    a = got[(c["A"], "cleaning")]
    assert a["reminders"] == 1 and a["last_reminder_at"] == datetime(2026, 10, 16, 10)
    assert a["outcome"] == {"booked_at": datetime(2026, 10, 20, 12), "slot_start": datetime(2026, 10, 25, 10),
                            "status": "no_show"}
    assert got[(c["B"], "perio_maintenance")]["outcome"] is None
    assert got[(c["R"], "cleaning")]["reminders"] == 1
    assert got[(c["R"], "cleaning")]["outcome"] == {"booked_at": None, "slot_start": None, "status": "not_booked"}
    assert summary(rows) == {
        "by_status": {"overdue": 4, "due": 8, "opted_out": 2, "booked": 1},
        "by_type": {"cleaning": 8, "child_checkup": 3, "perio_maintenance": 2, "ortho_adjustment": 1,
                    "implant_review": 1},
        "reminded": 2, "booked_after_reminder": 1}


def test_clinic_filter_and_window(warehouse):
    c = build(warehouse)
    other = recalls(warehouse, as_of=AS_OF, clinics=["C02"], due_by=date(2026, 11, 30))
    assert [(r["golden_id"], r["due_on"]) for r in other] == [(c["M"], date(2026, 11, 2))]
    everything = recalls(warehouse, as_of=AS_OF)
    assert {(r["golden_id"], r["due_on"]) for r in everything} >= {(c["L"], date(2027, 1, 1))}
    assert c["D"] not in {r["golden_id"] for r in everything}


def test_catalogue_errors_name_file_line_and_fix(tmp_path):
    bad = tmp_path / "recall.yaml"
    bad.write_text("recall_types:\n  - key: cleaning\n    name: {zh: 洁牙, en: cleaning}\n"
                   "    department: periodontics\n    after: [CLNN]\n    months: 6\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"recall.yaml:5: after: a list of treatment codes"):
        load_recall_types(bad)
    bad.write_text("recall_types:\n  - key: cleaning\n    name: {zh: 洁牙, en: cleaning}\n"
                   "    department: periodontics\n    after: [CLN]\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="give exactly one of `months: 6`"):
        load_recall_types(bad)
    assert [t.key for t in load_recall_types().types] == ["cleaning", "perio_maintenance", "ortho_adjustment",
                                                          "implant_review", "child_checkup"]
