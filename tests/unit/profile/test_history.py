"""Tag history: a changed value closes its row and opens a new one, an unchanged value keeps
its valid_from, a vanished value is closed, and profile.tag_value is always the open rows."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from molar.profile.catalogue import load_catalogue
from molar.profile.tagging import TagError, publish_tags
from unit.profile.crafted import Chain, Charge, Patient, Visit, fresh_warehouse, run_profile


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


T1, T2, T3 = datetime(2026, 6, 30), datetime(2026, 7, 31), datetime(2026, 8, 31)


def _publish(engine, run_id: str, run_at: datetime, rows: list[tuple], keys=None) -> dict:
    """Publish ``rows`` (golden_id, tag_key, value) as if a run had computed them."""
    engine.execute("CREATE OR REPLACE TEMP TABLE new_tag (golden_id VARCHAR, tag_key VARCHAR, value VARCHAR, "
                   "value_num DOUBLE, evidence VARCHAR)")
    for g, k, v in rows:
        engine.execute("INSERT INTO new_tag VALUES (?, ?, ?, TRY_CAST(? AS DOUBLE), ?)", [g, k, v, v, f'{{"v": "{v}"}}'])
    with engine.transaction():
        return publish_tags(engine, run_id, run_at, keys)


def _history(engine) -> set[tuple]:
    return set(engine.rows("SELECT golden_id, tag_key, value, valid_from, valid_to, run_id FROM profile.tag_history"))


def _current(engine) -> set[tuple]:
    return set(engine.rows("SELECT golden_id, tag_key, value, valid_from, run_id FROM profile.tag_value"))


def _assert_current_is_open_history(engine) -> None:
    assert engine.count("profile.tag_value") == engine.count("profile.tag_history WHERE valid_to IS NULL")
    mismatch = engine.rows(
        """SELECT golden_id, tag_key FROM profile.tag_value v FULL JOIN
             (SELECT * FROM profile.tag_history WHERE valid_to IS NULL) h USING (golden_id, tag_key)
           WHERE v.value IS DISTINCT FROM h.value OR v.valid_from IS DISTINCT FROM h.valid_from
              OR v.value_num IS DISTINCT FROM h.value_num""")
    assert mismatch == []
    assert engine.rows("SELECT golden_id, tag_key FROM profile.tag_history WHERE valid_to IS NULL "
                       "GROUP BY ALL HAVING count(*) > 1") == []


def test_change_keep_vanish_and_appear(warehouse):
    first = _publish(warehouse, "R1", T1, [("G1", "recall_status", "not_due"), ("G1", "sex", "F"),
                                           ("G1", "avg_order_value", "300.0")])
    assert first == {"changed": 0, "appeared": 3, "disappeared": 0}
    second = _publish(warehouse, "R2", T2, [("G1", "recall_status", "due"), ("G1", "sex", "F"),
                                            ("G2", "sex", "M")])
    assert second == {"changed": 1, "appeared": 1, "disappeared": 1}
    assert _history(warehouse) == {
        ("G1", "recall_status", "not_due", T1, T2, "R1"),   # closed at the run that changed it
        ("G1", "recall_status", "due", T2, None, "R2"),     # and the new value opened
        ("G1", "sex", "F", T1, None, "R1"),                 # unchanged: the same open row
        ("G1", "avg_order_value", "300.0", T1, T2, "R1"),   # vanished: closed, nothing opened
        ("G2", "sex", "M", T2, None, "R2"),
    }
    # current values keep the date they took that value; the run is the latest
    assert _current(warehouse) == {
        ("G1", "recall_status", "due", T2, "R2"), ("G1", "sex", "F", T1, "R2"), ("G2", "sex", "M", T2, "R2")}
    _assert_current_is_open_history(warehouse)


def test_a_value_that_comes_back_gets_a_new_row(warehouse):
    _publish(warehouse, "R1", T1, [("G1", "recall_status", "due")])
    _publish(warehouse, "R2", T2, [("G1", "recall_status", "overdue")])
    _publish(warehouse, "R3", T3, [("G1", "recall_status", "due")])
    rows = warehouse.rows("SELECT value, valid_from, valid_to FROM profile.tag_history ORDER BY valid_from")
    assert rows == [("due", T1, T2), ("overdue", T2, T3), ("due", T3, None)]
    _assert_current_is_open_history(warehouse)


def test_an_identical_rerun_changes_no_history(warehouse):
    rows = [("G1", "sex", "F"), ("G1", "age_band", "30-44"), ("G2", "sex", "M")]
    _publish(warehouse, "R1", T1, rows)
    before = _history(warehouse)
    assert _publish(warehouse, "R2", T2, rows) == {"changed": 0, "appeared": 0, "disappeared": 0}
    assert _history(warehouse) == before
    assert {r[3] for r in _current(warehouse)} == {T1}


def test_publishing_some_keys_leaves_the_others_alone(warehouse):
    _publish(warehouse, "R1", T1, [("G1", "sex", "F"), ("G1", "recall_status", "due")])
    # an event-driven refresh of recall_status only: sex is not in new_tag but must not vanish
    changes = _publish(warehouse, "R2", T2, [("G1", "recall_status", "overdue")], keys=["recall_status"])
    assert changes == {"changed": 1, "appeared": 0, "disappeared": 0}
    assert _current(warehouse) == {("G1", "sex", "F", T1, "R1"), ("G1", "recall_status", "overdue", T2, "R2")}
    assert ("G1", "sex", "F", T1, None, "R1") in _history(warehouse)
    _assert_current_is_open_history(warehouse)


def test_history_over_two_profile_runs(warehouse):
    # CLN on 2026-05-01: 60 days before the first run (not_due), 183 before the second (due).
    # The only charge (2024-07-01) is inside 24 months of 2026-06-30 but not of 2026-10-31.
    # "late" first visits between the runs.
    chain = Chain([
        Patient("early", visits=[Visit(date(2026, 5, 1), ["CLN"])], charges=[Charge(date(2024, 7, 1), 300)]),
        Patient("late", visits=[Visit(date(2026, 9, 1), ["CHK"])]),
    ]).build(warehouse)
    first, second = date(2026, 6, 30), date(2026, 10, 31)
    r1 = run_profile(warehouse, first)
    r2 = run_profile(warehouse, second)
    t1, t2 = datetime(2026, 6, 30), datetime(2026, 10, 31)
    early, late = chain["early"], chain["late"]

    def rows(g, key):
        return warehouse.rows("SELECT value, valid_from, valid_to, run_id FROM profile.tag_history "
                              "WHERE golden_id = ? AND tag_key = ? ORDER BY valid_from", [g, key])

    assert rows(early, "recall_status") == [("not_due", t1, t2, r1["run_id"]), ("due", t2, None, r2["run_id"])]
    assert rows(early, "sex") == [("F", t1, None, r1["run_id"])]
    assert rows(early, "avg_order_value") == [("300.0", t1, t2, r1["run_id"])]
    assert rows(late, "recall_status") == [("not_due", t2, None, r2["run_id"])]
    current = dict(warehouse.rows("SELECT tag_key, valid_from FROM profile.tag_value WHERE golden_id = ?", [early]))
    assert current["sex"] == t1 and current["recall_status"] == t2 and "avg_order_value" not in current
    _assert_current_is_open_history(warehouse)
    # what the run summary says matches the history it wrote
    closed = warehouse.scalar("SELECT count(*) FROM profile.tag_history WHERE valid_to = ?", [t2])
    opened = warehouse.scalar("SELECT count(*) FROM profile.tag_history WHERE valid_from = ?", [t2])
    changes = r2["tag_changes"]
    assert closed == changes["changed"] + changes["disappeared"]
    assert opened == changes["changed"] + changes["appeared"]


def test_a_failed_run_publishes_nothing(warehouse, tmp_path):
    Chain([Patient("a", visits=[Visit(date(2026, 5, 1), ["CLN"])])]).build(warehouse)
    run_profile(warehouse, date(2026, 6, 30))
    before = (_history(warehouse), _current(warehouse), warehouse.count("profile.run"),
              warehouse.rows("SELECT * FROM profile.lifecycle"))
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "dimension: health\ntags:\n  - key: broken\n    name: {zh: 坏, en: Broken}\n"
        "    description: {zh: 坏, en: Broken}\n    type: number\n"
        "    sql: SELECT golden_id, no_such_column AS value FROM person\n", encoding="utf-8")
    with pytest.raises(TagError, match="broken"):
        run_profile(warehouse, date(2026, 10, 31), tags=load_catalogue(extra=[broken]))
    after = (_history(warehouse), _current(warehouse), warehouse.count("profile.run"),
             warehouse.rows("SELECT * FROM profile.lifecycle"))
    assert after == before
