"""RFM-Health value scores on hand-checked patients, and value tiers on a crafted population
of four obvious groups: right names, stable across reruns and insert order, both methods."""

from __future__ import annotations

import json
import random

import pytest

from molar.profile.rfm import ValueWeights
from molar.profile.tiers import TIERS, TREE_FEATURES, matching_rule
from unit.profile.crafted import (
    Chain,
    Charge,
    Patient,
    Visit,
    ago,
    fresh_warehouse,
    new_warehouse,
    published,
    run_profile,
)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


# ----------------------------------------------------------------------------- RFM-Health


def _four_patients() -> Chain:
    return Chain([
        # last visit 10 days ago; 3 visit days since the first 400 days ago; 6000 spent in 24 months
        # (the 9999 charge 800 days ago is outside); low caries and periodontal risk; cleaned on time
        Patient("big", visits=[Visit(ago(10), ["CLN"]), Visit(ago(100), ["CHK"]), Visit(ago(400), ["CLN"])],
                charges=[Charge(ago(10), 5000), Charge(ago(400), 1000), Charge(ago(800), 9999)]),
        # cleanings 180, 180 then 400 days apart (interval stretching: −0.25), last one 40 days ago
        Patient("stretch", visits=[Visit(ago(d), ["CLN"]) for d in (800, 620, 440, 40)],
                charges=[Charge(ago(40), 2000)]),
        # a filling for deep caries 200 days ago (caries medium), never cleaned (periodontal low);
        # last check-up 300 days ago: 118 days past the 182-day recall
        Patient("mid", visits=[Visit(ago(300), ["CHK"]), Visit(ago(200), ["FILL"], "深龋(36)")],
                charges=[Charge(ago(200), 800)]),
        # one extraction 480 days ago, no cleaning or check-up ever
        Patient("small", visits=[Visit(ago(480), ["EXT"])], charges=[Charge(ago(480), 300)]),
        Patient("lead"),
    ])


def _scores(engine) -> dict[str, dict]:
    return {r["golden_id"]: r for r in engine.arrow("SELECT * FROM profile.value_score").to_pylist()}


def test_value_score_components(warehouse):
    chain = _four_patients().build(warehouse)
    run_profile(warehouse)
    scores = _scores(warehouse)
    assert chain["lead"] not in scores  # never visited: no value score
    big, stretch, mid, small = (scores[chain[k]] for k in ("big", "stretch", "mid", "small"))
    # recency in days, frequency = visit days in 24 months / years since first visit (0.5–2)
    assert [s["recency_days"] for s in (big, stretch, mid, small)] == [10, 40, 200, 480]
    assert big["frequency"] == pytest.approx(3 / (400 / 365.25), abs=1e-3)      # 2.739
    assert stretch["frequency"] == pytest.approx(3 / 2.0, abs=1e-3)             # 620, 440, 40 in 24 months
    assert mid["frequency"] == pytest.approx(2 / (300 / 365.25), abs=1e-3)      # 2.435
    assert small["frequency"] == pytest.approx(1 / (480 / 365.25), abs=1e-3)    # 0.761
    assert [s["monetary_yuan"] for s in (big, stretch, mid, small)] == [6000.0, 2000.0, 800.0, 300.0]
    # health risk: mean of caries and periodontal risk (low 0, medium 0.5, high 1)
    assert [s["health_risk"] for s in (big, stretch, mid, small)] == [0.0, 0.0, 0.25, 0.0]
    # recall adherence: 1 − days past the 182-day recall / 365 (− 0.25 when the interval stretches)
    assert [s["recall_adherence"] for s in (big, stretch, mid, small)] == [1.0, 0.75, 0.677, 0.0]
    # percentiles against the chain (4 scored patients: 0, ⅓, ⅔, 1)
    assert [s["r_score"] for s in (big, stretch, mid, small)] == [1.0, 0.6667, 0.3333, 0.0]
    assert [s["f_score"] for s in (big, stretch, mid, small)] == [1.0, 0.3333, 0.6667, 0.0]
    assert [s["m_score"] for s in (big, stretch, mid, small)] == [1.0, 0.6667, 0.3333, 0.0]
    # health = ½(1 − risk) + ½ adherence
    assert [s["h_score"] for s in (big, stretch, mid, small)] == [1.0, 0.875, 0.7134, 0.5]
    # 100 × (0.25 r + 0.25 f + 0.35 m + 0.15 h)
    assert big["value_score"] == 100.0
    assert stretch["value_score"] == 61.5    # 25·⅔ + 25·⅓ + 35·⅔ + 15·0.875 = 61.46
    assert mid["value_score"] == 47.4        # 25·⅓ + 25·⅔ + 35·⅓ + 15·0.7134 = 47.37
    assert small["value_score"] == 7.5       # 15·0.5
    # and the value_score tag carries it with its components
    tags = published(warehouse)
    assert tags.num(chain["mid"], "value_score") == 47.4
    assert tags.evidence(chain["mid"], "value_score") == {"r": 0.3333, "f": 0.6667, "m": 0.3333, "h": 0.7134}


def test_value_weights_must_add_up_to_one(warehouse):
    assert ValueWeights().recency + ValueWeights().frequency + ValueWeights().monetary + ValueWeights().health == 1.0
    with pytest.raises(ValueError, match="add up to 1 \\(they add up to 1.25\\)"):
        ValueWeights(recency=0.5)
    chain = _four_patients().build(warehouse)
    run_profile(warehouse, weights=ValueWeights(recency=1.0, frequency=0.0, monetary=0.0, health=0.0))
    scores = _scores(warehouse)
    assert [scores[chain[k]]["value_score"] for k in ("big", "stretch", "mid", "small")] == [100.0, 66.7, 33.3, 0.0]


def test_the_bigger_spender_has_the_higher_m_score(warehouse):
    chain = Chain([Patient(f"p{i}", visits=[Visit(ago(30), ["CHK"])], charges=[Charge(ago(30), amount)])
                   for i, amount in enumerate([100, 5000, 800, 20000, 2500])]).build(warehouse)
    run_profile(warehouse)
    scores = _scores(warehouse)
    m = [scores[chain[f"p{i}"]]["m_score"] for i in range(5)]
    assert m == [0.0, 0.75, 0.25, 1.0, 0.5]
    # same recency and frequency for all: the value score follows the money
    values = [scores[chain[f"p{i}"]]["value_score"] for i in range(5)]
    assert sorted(range(5), key=values.__getitem__) == [0, 2, 4, 1, 3]


# ----------------------------------------------------------------------------- tiers

GROUPS = {"S": "strategic", "G": "growth", "M": "maintain", "P": "potential"}


def population() -> list[Patient]:
    """~200 patients in four obvious groups (50 each, small spreads) and one lead."""
    people = []
    for i in range(50):
        j = i % 10
        # S: frequent big spenders — a visit every 60 days for two years, an implant, cleaned on time
        visits = [Visit(ago(15 + j + 60 * k), ["CLN"] if k % 3 == 0 else ["CHK"], amount=800 + 40 * j) for k in range(12)]
        visits.append(Visit(ago(200 + j), ["IMP"], amount=15000 + 500 * j))
        people.append(Patient(f"S{i:02d}", visits=visits))
        # G: recent newcomers with a low-spend check-up
        people.append(Patient(f"G{i:02d}", visits=[Visit(ago(20 + 4 * j), ["CHK"], amount=150 + 30 * j)]))
        # M: lapsed (last visit 300–435 days ago) but valuable: implant, crown, fillings — poor health
        last = 300 + 15 * j
        people.append(Patient(f"M{i:02d}", visits=[
            Visit(ago(last), ["CLN"], amount=300), Visit(ago(last + 60), ["CRN"], "36牙体缺损", amount=3000 + 100 * j),
            Visit(ago(last + 120), ["IMP"], "36缺失", amount=14000 + 400 * j),
            Visit(ago(last + 180), ["FILL", "FILL", "RCT"], "深龋(36)", amount=2500)]))
        # P: lapsed and low — one small filling 550–685 days ago
        people.append(Patient(f"P{i:02d}", visits=[Visit(ago(550 + 15 * j), ["FILL"], "浅龋", amount=150 + 15 * j)]))
    people.append(Patient("lead"))   # follows the WeChat account, never visited
    return people


def _tiers(engine) -> dict[str, tuple[str, int]]:
    return {g: (t, c) for g, t, c in engine.rows("SELECT golden_id, tier, cluster FROM profile.tier")}


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    engine = new_warehouse(tmp_path_factory.mktemp("tiers") / "molar.duckdb")
    chain = Chain(population()).build(engine)
    summary = run_profile(engine)
    yield engine, chain, summary
    engine.close()


def test_four_obvious_groups_get_their_tiers(clustered):
    engine, chain, summary = clustered
    tiers = _tiers(engine)
    got = {}
    for p in chain.patients:
        if p.key != "lead":
            got.setdefault(p.key[0], set()).add(tiers[p.golden_id][0])
    assert got == {g: {tier} for g, tier in GROUPS.items()}
    assert summary["tiers"] == {"strategic": 50, "growth": 50, "maintain": 50, "potential": 51}
    assert summary["tier_method"] == "kmeans"
    # the cluster number is the tier's fixed index, never the arbitrary K-means label
    assert {(t, c) for t, c in tiers.values() if c != -1} == {(t, TIERS.index(t)) for t in TIERS}
    # the value_tier tag agrees
    tags = published(engine)
    assert tags.value(chain["S07"], "value_tier") == "strategic"
    assert tags.evidence(chain["S07"], "value_tier")["cluster"] == 0


def test_people_who_never_visited_are_potential_outside_the_clusters(clustered):
    engine, chain, _ = clustered
    assert engine.rows("SELECT tier, cluster, distance FROM profile.tier WHERE golden_id = ?",
                       [chain["lead"]]) == [("potential", -1, None)]
    assert engine.count("profile.tier") == 201
    assert engine.scalar("SELECT count(*) FROM profile.tier WHERE cluster = -1") == 1


def test_tier_rules_describe_every_tier_and_find_each_patients_leaf(clustered):
    engine, chain, summary = clustered
    rules_json, accuracy = engine.rows(
        "SELECT rules_json, tree_accuracy FROM profile.tier_model WHERE method = 'kmeans' ORDER BY created_at LIMIT 1")[0]
    rules = json.loads(rules_json)
    assert set(rules) == set(TIERS)
    assert all(rules[t] for t in TIERS), rules
    assert accuracy == 1.0 and summary["tier_tree_accuracy"] == 1.0
    for leaves in rules.values():
        for leaf in leaves:
            assert leaf["if"] and len(leaf["if"]) == len(leaf["tests"])
            assert {col for col, _, _ in leaf["tests"]} <= set(TREE_FEATURES)
    scores = {r["golden_id"]: r for r in engine.arrow("SELECT * FROM profile.value_score").to_pylist()}
    tiers = _tiers(engine)
    for key in ("S03", "G11", "M25", "P49"):
        features = {k: scores[chain[key]][k] for k in TREE_FEATURES}
        match = matching_rule(rules, features)
        assert match is not None, key
        assert match[0] == tiers[chain[key]][0] == GROUPS[key[0]]
        assert match[1]["purity"] == 1.0


def test_matching_rule_walks_the_tests():
    rules = {
        "strategic": [{"if": ["spend > 10,000"], "tests": [["monetary_yuan", ">", 10000.0]], "patients": 5, "purity": 1.0}],
        "growth": [{"if": ["spend ≤ 10,000", "days ≤ 90"],
                    "tests": [["monetary_yuan", "<=", 10000.0], ["recency_days", "<=", 90.0]], "patients": 4, "purity": 0.9}],
        "maintain": [],
        "potential": [{"if": ["spend ≤ 10,000", "days > 90"],
                       "tests": [["monetary_yuan", "<=", 10000.0], ["recency_days", ">", 90.0]], "patients": 3, "purity": 1.0}],
    }
    assert matching_rule(rules, {"monetary_yuan": 20000, "recency_days": 400})[0] == "strategic"
    assert matching_rule(rules, {"monetary_yuan": 10000, "recency_days": 90})[0] == "growth"      # ≤ is inclusive
    assert matching_rule(rules, {"monetary_yuan": 500, "recency_days": 91})[0] == "potential"
    assert matching_rule(rules, {"monetary_yuan": None, "recency_days": None})[0] == "growth"      # missing → 0
    assert matching_rule({"strategic": [{"if": ["x"], "tests": [["frequency", ">", 5.0]]}]}, {"frequency": 1}) is None


def test_rerun_and_insert_order_give_every_patient_the_same_tier(clustered, tmp_path):
    engine, _, _ = clustered
    reference = _tiers(engine)
    shuffled = population()
    random.Random(7).shuffle(shuffled)
    other = new_warehouse(tmp_path / "shuffled.duckdb")
    try:
        Chain(shuffled).build(other)
        run_profile(other)
        first = _tiers(other)
        assert first == reference                      # insert order does not matter
        run_profile(other)                             # warm start from the stored centroids
        assert _tiers(other) == first                  # a rerun keeps every patient's tier
        assert other.count("profile.tier_model") == 2
        centroids = [json.loads(c) for (c,) in other.rows("SELECT centroids FROM profile.tier_model ORDER BY created_at")]
        assert set(centroids[0]) == set(centroids[1]) == set(TIERS)
        for tier in TIERS:
            assert centroids[1][tier] == pytest.approx(centroids[0][tier], abs=1e-6)
    finally:
        other.close()


def test_hierarchical_method_gives_the_same_groups(clustered, tmp_path):
    engine, chain, _ = clustered
    other = new_warehouse(tmp_path / "ward.duckdb")
    try:
        Chain(population()).build(other)
        summary = run_profile(other, tier_method="hierarchical")
        assert summary["tier_method"] == "hierarchical"
        assert other.scalar("SELECT method FROM profile.tier_model") == "hierarchical"
        assert _tiers(other) == _tiers(engine)
    finally:
        other.close()


def test_unknown_tier_method_is_refused(warehouse):
    _four_patients().build(warehouse)
    with pytest.raises(ValueError, match="tier method 'dbscan' is not one of kmeans, hierarchical"):
        run_profile(warehouse, tier_method="dbscan")


def test_too_few_patients_to_cluster_are_all_potential(warehouse):
    chain = Chain([Patient("one", visits=[Visit(ago(10), ["CHK"], amount=100)]), Patient("two")]).build(warehouse)
    summary = run_profile(warehouse)
    assert summary["tiers"] == {"potential": 2}
    assert _tiers(warehouse) == {chain["one"]: ("potential", -1), chain["two"]: ("potential", -1)}
