"""Next-best-treatment sequence rules on a hand-built set of histories, every count, support,
confidence, lift and lag worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from molar.marketing.nbt import NextTreatmentError, next_for_patient, sequence_rules

DAY0 = date(2026, 1, 1)
# patient record → (item, day) of their visits. Ten patients: n(A)=6, n(B)=4, n(C)=5.
HISTORIES = {
    "p1": [("A", 1), ("B", 5), ("A", 30)],   # a second A does not move the first
    "p2": [("A", 1), ("B", 10)],
    "p3": [("A", 1), ("B", 20)],
    "p4": [("A", 1), ("A", 40)],
    "p5": [("B", 1), ("A", 3)],              # B before A: not "A then B"
    "p6": [("C", 1)],
    "p7": [("C", 1), ("A", 2)],
    "p8": [("C", 1)],
    "p9": [("C", 1)],
    "p10": [("C", 2), ("OTHER", 5)],         # OTHER (not in the catalogue) is no treatment
}
# A→B: p1, p2, p3 → 3 patients; support 3/10; confidence 3/6; lift 0.5 / (4/10) = 1.25; lags 4, 9, 19 → 9.
# B→A: p5 (lag 2) and p1, whose second A (day 30) came after B (day 5: lag 25) → 2; confidence 2/4;
#      lift 0.5 / 0.6 = 5/6; lags 2, 25 → 13.5.
# C→A: p7 → 1; confidence 1/5; lift 0.2 / 0.6 = 1/3; lag 1.
EXPECTED = [("A", "B", 3, 0.3, 0.5, 1.25, 9.0), ("B", "A", 2, 0.2, 0.5, 5 / 6, 13.5),
            ("C", "A", 1, 0.1, 0.2, 1 / 3, 1.0)]


@pytest.fixture
def histories(warehouse):
    n = 0
    for record, items in HISTORIES.items():
        for item, day in items:
            n += 1
            warehouse.execute("INSERT INTO std.visit (source, visit_id, source_patient_key, clinic_id, visit_date) "
                              "VALUES ('his', ?, ?, 'C01', ?)", [f"V{n}", record, DAY0 + timedelta(days=day)])
            warehouse.execute("INSERT INTO std.treatment (source, visit_id, line_no, item_code) VALUES ('his', ?, 1, ?)",
                              [f"V{n}", item])
    return warehouse


def test_rules_by_hand(histories):
    rules = sequence_rules(histories, date(2026, 12, 31), min_patients=1)
    got = [(r.antecedent, r.consequent, r.patients, r.support, r.confidence, r.lift, r.median_lag_days) for r in rules]
    assert got == [(a, b, n, s, c, pytest.approx(lift, abs=1e-6), lag) for a, b, n, s, c, lift, lag in EXPECTED]
    assert (rules[0].antecedent_patients, rules[0].consequent_patients) == (6, 4)


def test_thresholds_and_the_as_of_date(histories):
    assert [(r.antecedent, r.consequent) for r in sequence_rules(histories, date(2026, 12, 31), min_patients=1,
                                                                   min_lift=1.0)] == [("A", "B")]
    assert [(r.antecedent, r.consequent) for r in sequence_rules(histories, date(2026, 12, 31), min_patients=3)] == [
        ("A", "B")]
    assert [(r.antecedent, r.consequent) for r in sequence_rules(histories, date(2026, 12, 31), min_patients=1,
                                                                   min_confidence=0.3)] == [("A", "B"), ("B", "A")]
    # on day 9 of the year p2's and p3's B have not happened: A→B is p1 only, n(B) = 2 (p1, p5) of 10
    [ab] = [r for r in sequence_rules(histories, DAY0 + timedelta(days=9), min_patients=1) if r.antecedent == "A"]
    assert (ab.patients, ab.confidence, ab.lift) == (1, pytest.approx(1 / 6, abs=1e-6), pytest.approx((1 / 6) / 0.2, abs=1e-6))
    with pytest.raises(NextTreatmentError, match="min_patients"):
        sequence_rules(histories, DAY0, min_patients=0)


def test_next_for_a_patient(histories):
    rules = sequence_rules(histories, date(2026, 12, 31), min_patients=1)
    # p4 had A and never B: B is next, because of A→B
    [s] = next_for_patient(histories, "his:p4", date(2026, 12, 31), rules)
    assert (s["item"], s["because"], s["since"], s["confidence"]) == ("B", "A", "2026-01-02", 0.5)
    # p5's only B came before A, so A→B still suggests B; B→A is done (A came after B)
    assert [s["item"] for s in next_for_patient(histories, "his:p5", date(2026, 12, 31), rules)] == ["B"]
    assert next_for_patient(histories, "his:p1", date(2026, 12, 31), rules) == []   # B after A already
    assert next_for_patient(histories, "his:nobody", date(2026, 12, 31), rules) == []


def test_cli_rules_a_patient_and_bad_input(histories, tmp_path):
    import json

    from typer.testing import CliRunner

    from molar.cli import app

    histories.execute("CHECKPOINT")
    env = {"MOLAR_WAREHOUSE": str(tmp_path / "molar.duckdb"), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    runner = CliRunner()
    r = runner.invoke(app, ["marketing", "next-treatment", "--min-patients", "1", "--as-of", "2026-12-31", "--json"],
                      env=env)
    assert r.exit_code == 0, r.output
    assert [(x["antecedent"], x["consequent"], x["patients"]) for x in json.loads(r.output)["rules"]] == [("A", "B", 3)]
    r = runner.invoke(app, ["marketing", "next-treatment", "--min-patients", "1", "--min-lift", "0", "--patient",
                            "his:p4", "--as-of", "2026-12-31", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert [(s["item"], s["because"]) for s in json.loads(r.output)["next"]] == [("B", "A")]
    assert histories.rows("SELECT action, patient, detail->>'suggestions' FROM ops.audit_log "
                          "WHERE action = 'marketing.next_treatment'") == [("marketing.next_treatment", "his:p4", "1")]
    r = runner.invoke(app, ["marketing", "next-treatment", "--min-patients", "0"], env=env)
    assert r.exit_code != 0 and "at least 1 patient" in r.output and "Traceback" not in r.output
