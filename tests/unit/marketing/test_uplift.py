"""Uplift from holdouts: Newcombe's interval against the published values, and the treated and
holdout counts read from hand-built journeys, visits and bookings."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from molar.marketing.uplift import UpliftError, difference, uplift

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score).
PUBLISHED = [((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
             ((6, 7, 2, 7), (0.0582, 0.8062)), ((5, 56, 0, 29), (-0.0381, 0.1926)),
             ((0, 10, 0, 20), (-0.1611, 0.2775)), ((10, 10, 0, 20), (0.6791, 1.0))]


@pytest.mark.parametrize(("counts", "interval"), PUBLISHED)
def test_newcombe_interval_matches_the_published_table(counts, interval):
    x1, n1, x0, n0 = counts
    effect, (lo, hi) = difference(x1, n1, x0, n0)
    assert effect == pytest.approx(x1 / n1 - x0 / n0)
    assert (round(lo, 4), round(hi, 4)) == interval


def test_an_empty_group_has_no_effect():
    assert difference(0, 0, 3, 10) == (None, None)


AS_OF = date(2026, 10, 31)
T = datetime(2026, 9, 1, 10, 0)
# journey → (status, trigger time, visits (dates), bookings (times), first message (channel, status))
JOURNEYS = {
    "T1": ("completed", T, [date(2026, 9, 15)], [], ("sms", "sent")),             # converts
    "T2": ("completed", T, [date(2026, 9, 1), date(2026, 10, 2)], [], ("wechat", "sent")),  # same day, day 31: no
    "T3": ("waiting", T, [], [datetime(2026, 9, 20, 9)], ("sms", "suppressed")),   # a booking converts; nothing went out
    "T4": ("completed", datetime(2026, 10, 15, 10), [date(2026, 10, 20)], [], None),  # window not over on Oct 31
    "H1": ("held_out", T, [date(2026, 9, 30)], [], None),                          # converts (day 29)
    "H2": ("held_out", T, [], [datetime(2026, 9, 1, 9)], None),                    # booked before the trigger: no
    "H3": ("held_out", T, [date(2026, 10, 1)], [], None),                          # day 30: converts
    "C1": ("condition_false", T, [date(2026, 9, 2)], [], None),                    # neither group
}


@pytest.fixture
def journeys(warehouse):
    for n, (key, (status, at, visits, bookings, message)) in enumerate(JOURNEYS.items()):
        g = f"G{key}"
        warehouse.execute("INSERT INTO identity.cluster VALUES (?, 'his', ?, ?, 'run1')", [f"his:{key}", key, g])
        warehouse.execute("INSERT INTO ops.journey VALUES ('r1', ?, 'occ', 'v1', ?, '0', 'visit.completed', NULL, ?, ?, "
                          "NULL, '{}', ?, ?)", [g, status, at, at, at, at])
        for i, day in enumerate(visits):
            warehouse.execute("INSERT INTO std.visit (source, visit_id, source_patient_key, visit_date) "
                              "VALUES ('his', ?, ?, ?)", [f"V{key}{i}", key, day])
        for i, booked in enumerate(bookings):
            warehouse.execute("INSERT INTO std.appointment (source, appointment_id, source_patient_key, booked_at, "
                              "slot_start, status) VALUES ('his', ?, ?, ?, ?, 'completed')",
                              [f"A{key}{i}", key, booked, booked])
        if message:
            warehouse.execute("INSERT INTO ops.outbox (message_id, idempotency_key, rule_key, golden_id, occurrence, "
                              "channel, purpose, status, attempts, created_at, updated_at) "
                              "VALUES (?, ?, 'r1', ?, 'occ', ?, 'care', ?, 1, ?, ?)",
                              [f"M{n}", f"r1|{g}|occ|1", g, message[0], message[1], at, at])
    return warehouse


def test_treated_against_holdout_from_the_warehouse(journeys):
    [r] = uplift(journeys, AS_OF, 30)
    assert (r["rule"], r["treated"], r["holdout"]) == (
        "r1", {"journeys": 3, "converted": 2, "rate": round(2 / 3, 6)}, {"journeys": 3, "converted": 2, "rate": round(2 / 3, 6)})
    assert r["effect"] == 0.0 and r["ci95"] == [round(v, 6) for v in difference(2, 3, 2, 3)[1]]
    assert [(c["channel"], c["treated"]["journeys"], c["treated"]["converted"]) for c in r["channels"]] == [
        ("none", 1, 1), ("sms", 1, 1), ("wechat", 1, 0)]
    # a shorter window: T1 (day 14) and T3's booking (day 19) still count, H1 (day 29) and H3 (day 30) do not
    [short] = uplift(journeys, AS_OF, 20)
    assert (short["treated"]["converted"], short["holdout"]["converted"]) == (2, 0)
    # 2/3 − 0/3 on 3 treated journeys: 2 conversions the rule added
    assert short["incremental"] == 2.0
    assert short["incremental_ci95"] == [round(v * 3, 2) for v in difference(2, 3, 0, 3)[1]]
    # a longer one: T2's visit on day 31 counts, and T4's window (Oct 15 + 45 days) is not over
    [long] = uplift(journeys, AS_OF, 45)
    assert (long["treated"]["journeys"], long["treated"]["converted"]) == (3, 3)
    assert uplift(journeys, AS_OF, 30, rule="other") == []
    with pytest.raises(UpliftError, match="at least 1d"):
        uplift(journeys, AS_OF, 0)


def test_cli_uplift(journeys, tmp_path):
    import json

    from typer.testing import CliRunner

    from molar.cli import app

    journeys.execute("CHECKPOINT")
    env = {"MOLAR_WAREHOUSE": str(tmp_path / "molar.duckdb"), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    runner = CliRunner()
    r = runner.invoke(app, ["marketing", "uplift", "--as-of", "2026-10-31", "--window", "20d", "--json"], env=env)
    assert r.exit_code == 0, r.output
    [rule] = json.loads(r.output)["rules"]
    assert (rule["rule"], rule["treated"]["converted"], rule["holdout"]["converted"]) == ("r1", 2, 0)
    r = runner.invoke(app, ["marketing", "uplift", "--as-of", "2026-10-31", "--rule", "r1"], env=env)
    assert r.exit_code == 0 and "r1" in r.output and "sms" in r.output
    r = runner.invoke(app, ["marketing", "uplift", "--window", "12h"], env=env)
    assert r.exit_code != 0 and "whole days" in r.output and "Traceback" not in r.output
