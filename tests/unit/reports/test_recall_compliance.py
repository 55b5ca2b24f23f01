"""Recall compliance in the monthly KPIs, against hand-built patients: each recall's due date
is worked out by hand from recall_types.yaml (cleaning 6 months, perio 3, children's
check-up 3 months under 6), met means the same type's treatment again by due + 30 days."""

from __future__ import annotations

from datetime import date

import pytest

from molar.reports import kpis
from unit.profile.crafted import Chain, Patient, Visit, fresh_warehouse


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def chain() -> Chain:
    return Chain([
        Patient("A", visits=[Visit(date(2025, 10, 10), ["CLN"]), Visit(date(2026, 4, 20), ["CLN"])]),  # due 10 Apr, met 20 Apr
        Patient("B", visits=[Visit(date(2025, 10, 15), ["CLN"]), Visit(date(2026, 6, 1), ["CLN"])]),   # due 15 Apr, back 1 Jun: missed
        Patient("C", visits=[Visit(date(2025, 10, 20), ["CLN"])]),                                     # due 20 Apr, never back: missed
        Patient("D", visits=[Visit(date(2025, 10, 2), ["CLN"]), Visit(date(2026, 3, 1), ["CLN"])]),    # due 2 Apr, came early: met
        Patient("E", visits=[Visit(date(2026, 1, 5), ["PERIO"]), Visit(date(2026, 5, 1), ["PERIO"])]), # due 5 Apr, back 1 May: met
        Patient("F", birth=date(2021, 3, 1), visits=[Visit(date(2026, 1, 10), ["FLUO"])]),            # 4 years old: due 10 Apr, missed
        Patient("G", visits=[Visit(date(2025, 10, 10), ["CHK"])]),                                     # adult check-up: no recall
        Patient("H", home_clinic="C02", visits=[Visit(date(2025, 10, 10), ["CLN"], clinic="C02")]),  # C02: due 10 Apr, missed
        Patient("P", visits=[Visit(date(2026, 4, 21), ["CLN"])]),                 # due 21 Oct; 30 days run past the data: open
        Patient("Q", visits=[Visit(date(2026, 4, 5), ["CLN"]), Visit(date(2026, 10, 10), ["CLN"])]),  # due 5 Oct, met 10 Oct
        Patient("Z", visits=[Visit(date(2026, 10, 31), ["CHK"])]),                # the data's last day
    ])


def test_compliance_counts_met_recalls_among_those_due_in_the_month(warehouse):
    chain().build(warehouse)
    april = kpis.overview(warehouse, kpis.Scope(date(2026, 4, 1)))
    # due in April: A, B, C, D, E, F, H (and A's, D's, E's later ones are due later); met: A, D, E
    assert april.recalls_due == 7
    assert april.recall_compliance == pytest.approx(3 / 7)
    c01 = kpis.overview(warehouse, kpis.Scope(date(2026, 4, 1), "C01"))
    assert (c01.recalls_due, c01.recall_compliance) == (6, pytest.approx(3 / 6))     # without H at C02


def test_a_recall_still_in_its_grace_period_is_left_out_unless_met(warehouse):
    chain().build(warehouse)
    october = kpis.overview(warehouse, kpis.Scope(date(2026, 10, 1)))
    # due in October: P (21 Oct, open), A's second (20 Oct, open), Q (5 Oct, met)
    assert (october.recalls_due, october.recall_compliance) == (1, 1.0)
    # nothing due in January: G's check-up on 10 Oct at 35 is no child's recall (under 6 it would be due 10 Jan)
    assert kpis.overview(warehouse, kpis.Scope(date(2026, 1, 1))).recall_compliance is None


def test_the_patients_behind_it_are_those_who_missed(warehouse):
    built = chain().build(warehouse)
    page = kpis.behind(warehouse, kpis.Scope(date(2026, 4, 1)), "recall_compliance", limit=50)
    assert page.patients == 4
    assert {r["golden_id"] for r in page.rows} == {built[k] for k in "BCFH"}
