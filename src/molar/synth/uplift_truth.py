"""Rule uplift against a planted truth: does `molar marketing uplift` find the effect a rule
really has?

For every shipped rule with a holdout, a synthetic population triggers the rule; each patient
gets a base propensity to visit within 30 days from their features (visits last year, days
since the last visit, age), the rule's holdout is the real one (`automation.is_held_out`), and
a treated patient's propensity is raised by the rule's planted true effect (an absolute
difference, so the true average effect is exactly that number). Outcomes are drawn, written
as journeys and visits into a scratch warehouse, and the product's estimator
(`molar.marketing.uplift`) reads them back. This is evaluation, kept beside the generator and
out of the product modules.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa

from molar.automation import is_held_out, load_catalogue
from molar.automation.catalogue import Catalogue
from molar.marketing.uplift import uplift
from molar.warehouse.engine import Engine

# Planted true effect on "a visit within 30 days" per shipped rule with a holdout; a rule not
# named here has no effect. Different per rule, and one of them zero.
TRUE_EFFECT: dict[str, float] = {
    "cleaning_oral_care_article": 0.0,     # an article: no change in visits
    "decline_winback": 0.06,               # a coupon and a reminder
    "vip_key_customer_care": 0.03,         # a call from the advisor
    "plan_follow_up": 0.10,                # the doctor calls about the plan
}
AS_OF = date(2026, 10, 31)
WINDOW_DAYS = 30
_FIRST = datetime(2026, 1, 5, 10, 0)
_SPAN_DAYS = 230   # triggers from early January to late August: every window ends before AS_OF


def base_propensity(visits_last_year: np.ndarray, days_since_visit: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Chance of a visit within 30 days without the rule: higher for frequent, recent, older patients."""
    z = -2.2 + 0.35 * np.minimum(visits_last_year, 5) - 0.004 * np.minimum(days_since_visit, 720) + 0.01 * (age - 45)
    return np.clip(1 / (1 + np.exp(-z)), 0.01, 0.8)


def planted_rules(catalogue: Catalogue) -> dict[str, float]:
    """Every rule of ``catalogue`` with a holdout and its planted effect."""
    rules = {k: r for k, r in catalogue.rules.items() if r.holdout_percent}
    unknown = set(TRUE_EFFECT) - set(rules)
    if unknown:
        raise ValueError(f"planted effects for rules that have no holdout or do not exist: {sorted(unknown)}")
    return {k: TRUE_EFFECT.get(k, 0.0) for k in sorted(rules)}


def draw(engine: Engine, seed: int, catalogue: Catalogue, patients_per_rule: int = 3000) -> dict[str, float]:
    """Write one seed's journeys and visits into ``engine`` (an empty scratch warehouse, emptied
    of earlier draws here) and return the planted effect per rule."""
    for table in ("ops.journey", "identity.cluster", "std.visit"):
        engine.execute(f"DELETE FROM {table}")
    effects = planted_rules(catalogue)
    rng = np.random.default_rng(seed)
    parts = []
    for r, (rule_key, effect) in enumerate(effects.items()):
        rule = catalogue.get(rule_key)
        n = patients_per_rule
        golden = np.array([f"G{seed:03d}{r:02d}{i:06d}" for i in range(n)])
        held = np.array([is_held_out(rule, g) for g in golden])
        base = base_propensity(rng.poisson(1.5, n), rng.exponential(200, n), rng.uniform(18, 80, n))
        converted = rng.random(n) < np.where(held, base, base + effect)
        trigger = np.datetime64(_FIRST) + rng.integers(0, _SPAN_DAYS, n).astype("timedelta64[D]")
        # a visit inside the window for those who convert; others may visit before or well after it
        lag = np.where(converted, rng.integers(1, WINDOW_DAYS + 1, n), rng.choice([-20, 45, 90], n))
        visit = converted | (rng.random(n) < 0.5)
        parts.append((rule_key, golden, held, trigger, lag, visit))
    rule_keys = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
    golden = np.concatenate([p[1] for p in parts])
    held = np.concatenate([p[2] for p in parts])
    at = pa.array(np.concatenate([p[3] for p in parts]).astype("datetime64[us]"))
    lag = np.concatenate([p[4] for p in parts])
    visit = np.concatenate([p[5] for p in parts])
    n = len(golden)
    engine.append("ops.journey", pa.table({
        "rule_key": rule_keys, "golden_id": golden, "occurrence": np.char.add("occ", golden),
        "rule_version": np.full(n, "synthetic"), "status": np.where(held, "held_out", "completed"),
        "trigger_type": np.full(n, "synthetic"), "trigger_at": at, "anchor_at": at, "context": np.full(n, "{}"),
        "started_at": at, "updated_at": at}))
    engine.append("identity.cluster", pa.table({
        "unique_id": np.char.add("his:", golden), "source": np.full(n, "his"), "source_patient_key": golden,
        "golden_id": golden, "run_id": np.full(n, "synthetic")}))
    days = (np.concatenate([p[3] for p in parts]).astype("datetime64[D]") + lag.astype("timedelta64[D]"))[visit]
    engine.append("std.visit", pa.table({
        "source": np.full(len(days), "his"), "visit_id": np.char.add("V", golden[visit]),
        "source_patient_key": golden[visit], "visit_date": pa.array(days)}))
    return effects


def coverage(engine: Engine, seeds: range, patients_per_rule: int = 3000) -> list[dict]:
    """Per seed and rule: the planted effect, the estimate and its 95 % interval, and whether it covers."""
    catalogue = load_catalogue()
    out = []
    for seed in seeds:
        effects = draw(engine, seed, catalogue, patients_per_rule)
        for r in uplift(engine, AS_OF, WINDOW_DAYS):
            lo, hi = r["ci95"]
            truth = effects[r["rule"]]
            out.append({"seed": seed, "rule": r["rule"], "true_effect": truth, "effect": r["effect"], "ci95": [lo, hi],
                        "treated": r["treated"], "holdout": r["holdout"], "covered": lo <= truth <= hi})
    return out
