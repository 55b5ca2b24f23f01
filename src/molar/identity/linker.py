"""Run a ``LinkModel`` over records with Splink: train without labels, score candidate pairs.

Splink gets its own in-memory DuckDB (``DuckDBAPI()``) fed an Arrow table, so linking
never holds a lock on the warehouse and the warehouse engine could be another backend.
Training is unsupervised:

1. λ (probability two random records match) from deterministic rules and an assumed
   recall (``LinkModel.prior_rules`` / ``prior_recall``);
2. u probabilities by random sampling of record pairs;
3. m probabilities by EM, one session per ``em_blocking_rules`` entry (each session
   trains the comparisons its blocking rule does not use).

``link`` returns the kept pairs (weight at least ``keep_weight``, plus every deterministic
link) as Arrow, the trained model as Splink JSON, and the model's own estimate of
precision and recall at each threshold (from the scored pairs' match probabilities).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from molar.identity.model import LinkModel

Progress = Callable[[str], None]


@dataclass
class LinkResult:
    pairs: pa.Table  # unique_id_l, unique_id_r, match_weight, match_probability, rule
    model_json: dict[str, Any]
    prior: float
    threshold_weight: float
    blocked_pairs: int
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def estimated_at(self, weight: float) -> dict[str, float]:
        """The model's own precision/recall estimate at the curve point nearest ``weight``."""
        if not self.curve:
            return {}
        return min(self.curve, key=lambda p: abs(p["weight"] - weight))


def _quiet_splink() -> None:
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.WARNING)


def prob_to_weight(p: float) -> float:
    return math.log2(p / (1 - p))


def weight_to_prob(w: float) -> float:
    return 2**w / (1 + 2**w)


def new_linker(records: pa.Table | Sequence[pa.Table], settings: Any, *, threads: int | None = None):
    """A Splink linker on a private in-memory DuckDB holding ``records``."""
    import duckdb
    from splink import DuckDBAPI, Linker

    _quiet_splink()
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    db_api = DuckDBAPI(con)
    tables = [records] if isinstance(records, pa.Table) else list(records)
    sdfs = [db_api.register(t, table_name=f"input_{i}") for i, t in enumerate(tables)]
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings, log_level=None)
    return linker, con


def train(linker, model: LinkModel, progress: Progress | None = None) -> float:
    """Unsupervised training (see module docstring); returns λ."""
    say = progress or (lambda _msg: None)
    say("estimating λ from deterministic rules")
    linker.training.estimate_probability_two_random_records_match(
        list(model.prior_rules), recall=model.prior_recall
    )
    prior = linker._settings_obj._probability_two_random_records_match
    say("estimating u by random sampling")
    t = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=model.u_max_pairs, seed=model.seed)
    say(f"u done in {time.perf_counter() - t:.1f}s")
    for rule in model.em_blocking_rules():
        t = time.perf_counter()
        say("estimating m by EM")
        kwargs: dict[str, Any] = {}
        if model.em_max_pairs:
            kwargs["max_pairs"] = model.em_max_pairs
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, **kwargs
        )
        say(f"EM done in {time.perf_counter() - t:.1f}s")
    floor_m(linker, model.m_floor)
    return float(prior)


def floor_m(linker, floor: float) -> None:
    """Raise trained m probabilities below ``floor`` to it; give unobserved levels m = u.

    EM on clean training blocks can drive m to ~0 for a disagreement level (sex, birth
    date), which makes one typo veto a match outright. Levels no training pair reached
    get a neutral weight (m = u) rather than Splink's 1e-6 (a −20 bit penalty).
    """
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level._fix_m_probability:
                continue
            m, u = level._m_probability, level._u_probability
            if not isinstance(u, (int, float)):
                continue
            if not isinstance(m, (int, float)):
                level.m_probability = u
            elif m < floor:
                level.m_probability = floor


def _curve(con, table: str) -> list[dict[str, float]]:
    """Estimated precision/recall by threshold weight, from predicted match probabilities.

    Among scored pairs, expected true links above a threshold are Σp, false ones Σ(1-p),
    missed ones Σp below it. It ignores matches that blocking never proposed, so recall is
    an upper bound; it is only as good as the model's calibration.
    """
    rows = con.execute(
        f"""
        WITH b AS (
          SELECT greatest(-10, least(30, floor(match_weight))) AS w,
                 sum(match_probability) AS tp, sum(1 - match_probability) AS fp
          FROM {table} GROUP BY 1),
        c AS (
          SELECT w, sum(tp) OVER (ORDER BY w DESC) AS tp_above,
                    sum(fp) OVER (ORDER BY w DESC) AS fp_above,
                    sum(tp) OVER () AS tp_all
          FROM b)
        SELECT w, tp_above, fp_above, tp_all FROM c ORDER BY w
        """
    ).fetchall()
    out = []
    for w, tp, fp, tp_all in rows:
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / tp_all if tp_all else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"weight": float(w), "precision": precision, "recall": recall, "f1": f1})
    return out


def link(
    records: pa.Table | Sequence[pa.Table],
    model: LinkModel,
    *,
    keep_weight: float | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> LinkResult:
    """Train ``model`` on ``records`` (no labels) and score candidate pairs.

    Pairs with ``match_weight >= keep_weight`` (default: threshold − 6, the review band)
    are returned, plus every pair that agrees on a deterministic-link column (rule set
    to that column's name, match weight kept as scored).
    """
    say = progress or (lambda _msg: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    linker, con = new_linker(records, model.settings(), threads=threads)
    try:
        prior = train(linker, model, say)
        seconds["train"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        say("scoring candidate pairs")
        predictions = linker.inference.predict(warning_mode="never")
        table = predictions.physical_name
        seconds["predict"] = time.perf_counter() - t1
        keep = model.threshold_weight - 6 if keep_weight is None else keep_weight
        rule_sql = "'model'"
        det_any = "FALSE"
        for col in reversed(model.deterministic_links):
            cond = f"({col}_l IS NOT NULL AND {col}_l = {col}_r)"
            rule_sql = f"CASE WHEN {cond} THEN '{col}' ELSE {rule_sql} END"
            det_any = f"{det_any} OR {cond}"
        veto = f"coalesce({model.veto_sql}, FALSE)" if model.veto_sql else "FALSE"
        pairs = con.sql(
            f"""SELECT CAST(unique_id_l AS VARCHAR) AS unique_id_l,
                       CAST(unique_id_r AS VARCHAR) AS unique_id_r,
                       match_weight, match_probability, {rule_sql} AS rule,
                       {veto} AS veto
                FROM {table}
                WHERE match_weight >= {float(keep)} OR {det_any}"""
        ).to_arrow_table()
        blocked = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        curve = _curve(con, table)
        model_json = linker.misc.save_model_to_json()
    finally:
        con.close()
    seconds["total"] = time.perf_counter() - t0
    return LinkResult(
        pairs=pairs,
        model_json=model_json,
        prior=prior,
        threshold_weight=model.threshold_weight,
        blocked_pairs=blocked,
        curve=curve,
        seconds=seconds,
    )


def parameter_table(model_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Trained m, u and match weight of every comparison level, as plain rows."""
    out = []
    for comp in model_json.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            out.append({
                "comparison": comp.get("output_column_name"),
                "level": level.get("label_for_charts") or level.get("sql_condition"),
                "m": m,
                "u": u,
                "weight": weight,
            })
    return out
