"""First, last and Markov removal-effect attribution on paths whose credit is worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pytest

from molar.marketing.attribution import (
    AttributionError,
    attribution,
    first_touch,
    last_touch,
    markov,
)
from molar.warehouse import open_warehouse

# start→A 2, start→B 1; A→B 1, A→null 1; B→conversion 2.
# P(conv) = 2/3·1/2 + 1/3 = 2/3. Without A: 1/3 → effect 1/2. Without B: 0 → effect 1.
# Two conversions shared 0.5 : 1 → A 2/3, B 4/3.
PATHS = [(["A", "B"], True), (["A"], False), (["B"], True)]

# A loops on itself: start→A 1, start→C 1; A→A 1, A→C 1; C→conversion 1, C→null 1.
# From C: 1/2; from A: p = p/2 + 1/4 → 1/2; P(conv) = 1/2. Without A: 1/4 → effect 1/2;
# without C: 0 → effect 1. One conversion: A 1/3, C 2/3.
LOOP_PATHS = [(["A", "A", "C"], True), (["C"], False)]


def test_first_and_last_touch_by_hand():
    assert first_touch(PATHS) == {"A": 1.0, "B": 1.0}
    assert last_touch(PATHS) == {"B": 2.0}


@pytest.mark.parametrize(("paths", "effects", "credit"), [
    (PATHS, {"A": 0.5, "B": 1.0}, {"A": 2 / 3, "B": 4 / 3}),
    (LOOP_PATHS, {"A": 0.5, "C": 1.0}, {"A": 1 / 3, "C": 2 / 3}),
])
def test_markov_removal_effect_by_hand(paths, effects, credit):
    got_credit, got_effects = markov(paths)
    assert got_effects == pytest.approx(effects)
    assert got_credit == pytest.approx(credit)


def test_a_channel_on_no_converting_path_gets_no_credit():
    credit, effects = markov([(["A"], True), (["Z"], False)])
    assert effects["Z"] == pytest.approx(0.0)
    assert credit == pytest.approx({"A": 1.0, "Z": 0.0})


@pytest.fixture
def engine(tmp_path):
    eng = open_warehouse(path=tmp_path / "molar.duckdb")
    t = datetime(2026, 3, 1, 10)
    leads = {"lead_id": ["L1", "L2", "L3", "L4"], "channel": ["meituan", "douyin", "meituan", "walk_in"],
             "clinic_id": ["C01", "C01", "C02", "C01"], "created_at": [t, t, t, datetime(2026, 2, 1)],
             "arrived_at": [t, None, t, datetime(2026, 2, 1)], "source": ["his"] * 4}
    # L1 douyin → meituan (arrived), L2 douyin (lost), L3 meituan only (arrived, no touches exported),
    # L4 walk-in before --since
    touches = {"lead_id": ["L1", "L1", "L2"], "touch_no": [1, 2, 1], "channel": ["douyin", "meituan", "douyin"],
               "touched_at": [t] * 3}
    eng.register("_l", pa.table(leads))
    eng.execute("INSERT INTO std.lead BY NAME SELECT * FROM _l")
    eng.register("_t", pa.table(touches))
    eng.execute("INSERT INTO std.lead_touch BY NAME SELECT * FROM _t")
    yield eng
    eng.close()


def test_attribution_reads_paths_from_the_warehouse(engine):
    since = datetime(2026, 2, 15).date()
    first = attribution(engine, "first", since)
    assert (first["leads"], first["conversions"]) == (3, 2)
    assert {r["channel"]: r["conversions"] for r in first["channels"]} == {"douyin": 1, "meituan": 1}
    last = attribution(engine, "last", since)
    assert {r["channel"]: r["conversions"] for r in last["channels"]} == {"meituan": 2, "douyin": 0}
    # paths [douyin, meituan]+, [douyin]-, [meituan]+: start→douyin 2, start→meituan 1, douyin→meituan 1,
    # douyin→null 1, meituan→conv 2 — the PATHS above with A = douyin, B = meituan
    mk = attribution(engine, "markov", since)
    assert {r["channel"]: r["removal_effect"] for r in mk["channels"]} == {"meituan": 1.0, "douyin": 0.5}
    assert {r["channel"]: r["conversions"] for r in mk["channels"]} == {"meituan": 1.33, "douyin": 0.67}
    only_c02 = attribution(engine, "last", None, clinics=["C02"])
    assert (only_c02["leads"], only_c02["conversions"]) == (1, 1)


def test_unknown_model_names_the_choices(engine):
    with pytest.raises(AttributionError, match="first, last, markov"):
        attribution(engine, "shapley")
