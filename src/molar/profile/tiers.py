"""Value tiers: clustering on standardised RFM-Health scores, named by centroid.

Clusters are named strategic / growth / maintain / potential by matching their centroids
to tier prototypes (an optimal one-to-one assignment), never by cluster number, and
K-means starts from the previous run's centroids, so a rerun on the same data gives
every patient the same tier. A shallow decision tree fitted on the tier labels turns the
tiers into plain-words rules (``molar profile tiers``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from molar.warehouse import Engine

TIERS = ("strategic", "growth", "maintain", "potential")
# Clustering features (SQL over value_scores): recency and money are log-scaled because
# dental spending is heavy-tailed (an implant is 40 cleanings).
FEATURES = {
    "recency": "-ln(1 + recency_days)",
    "frequency": "ln(1 + frequency)",
    "monetary": "ln(1 + monetary_yuan)",
    "health": "h_score",
}
# Where each tier sits in standardised (recency, frequency, monetary, health) space.
PROTOTYPES = {
    "strategic": (0.8, 1.0, 1.0, 0.5),
    "growth": (0.5, 0.0, -0.3, 0.3),
    "maintain": (-0.5, 0.3, 0.5, -0.5),
    "potential": (-1.0, -1.0, -1.0, -0.5),
}
# Readable features the describing tree splits on.
TREE_FEATURES = {
    "recency_days": "days since last visit",
    "frequency": "visits per year",
    "monetary_yuan": "spend in 24 months (CNY)",
    "health_risk": "health risk (0-1)",
    "recall_adherence": "recall adherence (0-1)",
}
NO_VISIT_TIER = "potential"
METHODS = ("kmeans", "hierarchical")


@dataclass(frozen=True)
class TierResult:
    method: str
    centroids: dict[str, list[float]]  # standardised space, by tier
    sizes: dict[str, int]
    rules: dict[str, list[dict]]
    tree_accuracy: float


def _previous_centroids(engine: Engine, method: str) -> np.ndarray | None:
    row = engine.rows(
        "SELECT centroids, features FROM profile.tier_model WHERE method = ? ORDER BY created_at DESC LIMIT 1",
        [method],
    )
    if not row or json.loads(row[0][1]) != list(FEATURES):
        return None
    stored = json.loads(row[0][0])
    if set(stored) != set(TIERS):
        return None
    return np.array([stored[t] for t in TIERS], dtype=float)


def _cluster(x: np.ndarray, method: str, init: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centroids (standardised space) for ``x``."""
    k = len(TIERS)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        if init is not None:
            model = KMeans(n_clusters=k, init=init, n_init=1, tol=0, max_iter=1000, random_state=seed)
        else:
            model = KMeans(n_clusters=k, n_init=4, tol=0, max_iter=1000, random_state=seed)
        labels = model.fit_predict(x)
        return labels, model.cluster_centers_
    from sklearn.cluster import AgglomerativeClustering

    # Ward linkage is quadratic in memory: cluster a sample, then assign everyone to the
    # nearest sample centroid.
    rng = np.random.default_rng(seed)
    sample = x if len(x) <= 15_000 else x[rng.choice(len(x), 15_000, replace=False)]
    sample_labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(sample)
    centroids = np.vstack([sample[sample_labels == c].mean(axis=0) for c in range(k)])
    labels = np.argmin(((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2), axis=1)
    return labels, centroids


def _name_clusters(centroids: np.ndarray) -> dict[int, str]:
    """Cluster number → tier, by the closest one-to-one match of standardised centroids to
    the tier prototypes."""
    from scipy.optimize import linear_sum_assignment

    protos = np.array([PROTOTYPES[t] for t in TIERS])
    cost = ((centroids[:, None, :] - protos[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return {int(r): TIERS[c] for r, c in zip(rows, cols, strict=True)}


def _describe(engine: Engine, labels: np.ndarray, names: dict[int, str], seed: int) -> tuple[dict, float]:
    from sklearn.tree import DecisionTreeClassifier

    data = engine.arrow(f"SELECT {', '.join(TREE_FEATURES)} FROM value_scores ORDER BY golden_id")
    x = np.column_stack([data[c].to_numpy(zero_copy_only=False).astype(float) for c in TREE_FEATURES])
    x = np.nan_to_num(x)
    y = np.array([names[int(c)] for c in labels])
    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=max(5, len(y) // 200), random_state=seed)
    tree.fit(x, y)
    accuracy = float((tree.predict(x) == y).mean())
    t = tree.tree_
    feature_names = list(TREE_FEATURES)
    rules: dict[str, list[dict]] = {tier: [] for tier in TIERS}

    def walk(node: int, conditions: list[str], tests: list[list]) -> None:
        if t.children_left[node] == t.children_right[node]:
            counts = t.value[node][0] * t.n_node_samples[node] if t.value[node][0].sum() <= 1.0001 else t.value[node][0]
            total = float(counts.sum())
            best = int(np.argmax(counts))
            tier = str(tree.classes_[best])
            rules[tier].append({
                "if": conditions or ["always"],
                "tests": tests,
                "patients": int(round(total)),
                "purity": round(float(counts[best]) / total, 3) if total else 0.0,
            })
            return
        name = TREE_FEATURES[feature_names[t.feature[node]]]
        threshold = float(t.threshold[node])
        shown = f"{threshold:,.0f}" if abs(threshold) >= 10 else f"{threshold:.2f}"
        column = feature_names[t.feature[node]]
        walk(t.children_left[node], [*conditions, f"{name} ≤ {shown}"], [*tests, [column, "<=", threshold]])
        walk(t.children_right[node], [*conditions, f"{name} > {shown}"], [*tests, [column, ">", threshold]])

    walk(0, [], [])
    for tier in rules:
        rules[tier].sort(key=lambda r: -r["patients"])
    return rules, accuracy


def compute_tiers(engine: Engine, run_id: str, run_at: datetime, method: str = "kmeans", seed: int = 0) -> TierResult:
    """Cluster ``value_scores`` into tiers; fills temp table ``tiers`` and records the model."""
    if method not in METHODS:
        raise ValueError(f"tier method {method!r} is not one of {', '.join(METHODS)}")
    columns = ", ".join(f"{sql} AS {name}" for name, sql in FEATURES.items())
    data = engine.arrow(f"SELECT golden_id, {columns} FROM value_scores ORDER BY golden_id")
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE tiers (golden_id VARCHAR, tier VARCHAR, cluster INTEGER, distance DOUBLE, run_id VARCHAR)"
    )
    if data.num_rows < len(TIERS):
        engine.execute(
            f"INSERT INTO tiers SELECT golden_id, '{NO_VISIT_TIER}', -1, NULL, '{run_id}' FROM person"
        )
        return TierResult(method, {}, {NO_VISIT_TIER: engine.count("tiers")}, {}, 0.0)
    raw = np.column_stack([data[c].to_numpy(zero_copy_only=False).astype(float) for c in FEATURES])
    raw = np.nan_to_num(raw)
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale[scale == 0] = 1.0
    x = (raw - mean) / scale
    labels, centroids = _cluster(x, method, _previous_centroids(engine, method), seed)
    names = _name_clusters(centroids)
    distance = np.sqrt(((x - centroids[labels]) ** 2).sum(axis=1))
    import pyarrow as pa

    table = pa.table({
        "golden_id": data["golden_id"],
        "tier": [names[int(c)] for c in labels],
        "cluster": pa.array([TIERS.index(names[int(c)]) for c in labels], pa.int32()),
        "distance": distance,
        "run_id": [run_id] * data.num_rows,
    })
    engine.append("tiers", table)
    # People who never visited: potential customers, not clustered.
    engine.execute(
        f"""INSERT INTO tiers SELECT p.golden_id, '{NO_VISIT_TIER}', -1, NULL, '{run_id}' FROM person p
            WHERE NOT EXISTS (SELECT 1 FROM value_scores s WHERE s.golden_id = p.golden_id)"""
    )
    rules, accuracy = _describe(engine, labels, names, seed)
    by_tier = {names[c]: centroids[c].round(6).tolist() for c in range(len(TIERS))}
    engine.execute(
        "INSERT INTO profile.tier_model VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id, method, json.dumps(list(FEATURES)),
            json.dumps({"mean": mean.round(6).tolist(), "scale": scale.round(6).tolist()}),
            json.dumps(by_tier), json.dumps(rules, ensure_ascii=False), accuracy, datetime.now(),
        ],
    )
    sizes = {t: int(n) for t, n in engine.rows("SELECT tier, count(*) FROM tiers GROUP BY 1")}
    return TierResult(method, by_tier, sizes, rules, accuracy)


def matching_rule(rules: dict[str, list[dict]], features: dict[str, float]) -> tuple[str, dict] | None:
    """The tree leaf (tier, rule) whose tests the patient's features pass."""
    for tier, leaves in rules.items():
        for leaf in leaves:
            ok = all(
                (float(features.get(col) or 0.0) <= thr) if op == "<=" else (float(features.get(col) or 0.0) > thr)
                for col, op, thr in leaf.get("tests", [])
            )
            if ok:
                return tier, leaf
    return None
