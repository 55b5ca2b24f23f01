"""The uplift estimator against planted true effects: over 20 fixed seeds the 95 % intervals of
the shipped rules cover the truth for at least 90 % of rules, and are no wider than needed."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from molar.automation import load_catalogue
from molar.synth.uplift_truth import TRUE_EFFECT, coverage, planted_rules
from molar.warehouse import open_warehouse

SEEDS = range(20)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    engine = open_warehouse(path=tmp_path_factory.mktemp("uplift") / "molar.duckdb")
    yield coverage(engine, SEEDS)
    engine.close()


def test_every_shipped_rule_with_a_holdout_has_a_planted_effect_some_zero_and_all_different():
    effects = planted_rules(load_catalogue())
    assert set(TRUE_EFFECT) <= set(effects) and len(effects) >= 4
    assert 0.0 in TRUE_EFFECT.values() and len(set(TRUE_EFFECT.values())) == len(TRUE_EFFECT)


def test_intervals_cover_the_planted_effect(runs):
    assert len(runs) == len(SEEDS) * len(planted_rules(load_catalogue()))
    assert sum(r["covered"] for r in runs) / len(runs) >= 0.90
    per_rule = defaultdict(list)
    for r in runs:
        per_rule[r["rule"]].append(r["covered"])
    assert {k: sum(v) for k, v in per_rule.items() if sum(v) < 16} == {}   # no rule missed in more than 4 of 20


def test_intervals_are_as_narrow_as_the_counts_allow(runs):
    for r in runs:
        (n1, x1), (n0, x0) = ((a["journeys"], a["converted"]) for a in (r["treated"], r["holdout"]))
        p1, p0 = x1 / n1, x0 / n0
        wald = 2 * 1.959964 * math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        assert 0.85 * wald <= r["ci95"][1] - r["ci95"][0] <= 1.15 * wald, r
    # and the largest planted effect (+10 points on about 300 held-out patients) is found in every seed
    found = [r["ci95"][0] > 0 for r in runs if r["true_effect"] == max(TRUE_EFFECT.values())]
    assert sum(found) >= 18
