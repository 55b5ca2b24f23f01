"""On a generated 3,000-person chain, the sequence rules find the courses the generator plants
(synth/care.py) and no strong rule between treatment types it draws independently."""

from __future__ import annotations

from datetime import date
from itertools import permutations

import pytest

from molar.ingest.run import ingest_paths
from molar.marketing.nbt import sequence_rules
from molar.synth import SynthConfig, generate
from molar.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(600)
END = date(2026, 10, 31)
# care.py: an ortho or aligner course is followed by monthly follow-ups, an implant by its
# follow-ups and (90 %) a crown, a root canal by a crown (60 %), periodontal therapy by a cleaning (50 %).
PLANTED = [("ORTHO", "ORTHF"), ("ALIGN", "ORTHF"), ("IMP", "IMPF"), ("IMP", "CRN"), ("RCT", "CRN"), ("PERIO", "CLN")]
# care.py: the type of each acute episode is drawn on its own (weights by age group); only
# RCT's own crown (planted above) links two of them.
ACUTE = ("FILL", "RCT", "EXT", "PERIO", "WHT", "DENT")
INDEPENDENT = [(a, b) for a, b in permutations(ACUTE, 2)]


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    out = tmp_path_factory.mktemp("nbt_chain")
    generate(SynthConfig(out_dir=out, patients=3000, clinics=3, seed=11, end_date=END, chunk_size=1500))
    engine = open_warehouse(path=tmp_path_factory.mktemp("nbt_wh") / "molar.duckdb")
    his = out / "sources" / "his"
    results = ingest_paths(engine, [his / "clinics.csv", his / "doctors.csv"], today=END)
    results += ingest_paths(engine, [his / "visits.csv", his / "treatments.csv"], today=END)
    assert all(r.status == "complete" for r in results)
    found = {(r.antecedent, r.consequent): r for r in sequence_rules(engine, END, min_patients=5)}
    engine.close()
    return found


def test_planted_courses_have_lift_above_one(rules):
    for pair in PLANTED:
        assert pair in rules, pair
        assert rules[pair].lift > 1.2, (pair, rules[pair])
    # the planted courses are strong: far above chance and usually followed
    for pair in PLANTED[:5]:
        assert rules[pair].lift > 3 and rules[pair].confidence > 0.4, (pair, rules[pair])


def test_no_strong_rule_between_independent_treatments(rules):
    strong = {p: (round(rules[p].lift, 2), round(rules[p].confidence, 2)) for p in INDEPENDENT
              if p in rules and rules[p].lift >= 1.5}
    assert strong == {}
