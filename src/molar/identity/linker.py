"""Run a ``LinkModel`` over records with Splink: train without labels, score candidate pairs.

Splink gets its own in-memory DuckDB (``DuckDBAPI()``) fed an Arrow table, so linking
never holds a lock on the warehouse and the warehouse engine could be another backend.
Training is unsupervised and starts from the model's prior (``LinkModel.pretrained``:
m, u and λ of the shipped model, ``prior_settings``), which it only refines:

1. λ (probability two random records match) from deterministic rules and an assumed
   recall (``LinkModel.prior_rules`` / ``prior_recall``);
2. u probabilities by random sampling of record pairs; exact-agreement levels on
   identifiers (``exact_u``) are computed from value counts over all records instead;
   levels no sampled pair reached get 1/pairs sampled, a bound rather than an estimate;
3. m probabilities by EM, one session per ``em_blocking_rules`` entry (each session
   trains the comparisons its blocking rule does not use); a session with too few
   pairs, or one Splink refuses, is skipped with a warning, and one whose block is not
   a mix of matches and non-matches by its own estimate (``LinkModel.em_match_rate``:
   a block of nearly all matches teaches "else" levels nothing) counts less, down to
   not at all for a block of only matches;
4. m floored (``m_floor``) after every session, u corrected for the true matches among
   random pairs (``corrected_u``: no subtraction of near-equal numbers on identifying
   levels; a u that the data only bound is marked so);
5. trained comparisons that cannot be right move back toward the prior, as far as they
   are implausible (levels whose u is a bound take no part in the order check), and λ is
   kept within bounds of the prior's (``check_plausible``); a training that fails
   altogether links with the prior.
   ``LinkResult.warnings`` says what was replaced.

``link`` returns the kept pairs (weight at least ``keep_weight``, plus every deterministic
link) as Arrow, the trained model as Splink JSON, and the model's own estimate of
precision and recall at each threshold (from the scored pairs' match probabilities).
"""

from __future__ import annotations

import json
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
    curve: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # what training could not do and what it fell back to (shown to the user)
    warnings: list[str] = field(default_factory=list)

    def estimated_at(self, weight: float) -> dict[str, float]:
        """The model's own precision/recall estimate at the curve point nearest ``weight``."""
        if not self.curve:
            return {}
        return min(self.curve, key=lambda p: abs(p["weight"] - weight))


def pretrained_settings(params: dict[str, Any], n_records: int) -> dict[str, Any]:
    """Trained parameters made fit for a small input of ``n_records`` records.

    λ is rescaled: duplicate pairs grow with the number of records (each person has a few
    records) while all pairs grow with its square, so λ·(n−1)/2 — duplicate pairs per
    record — is what carries over between inputs of different size. Term frequency
    adjustments are dropped.
    """
    settings = json.loads(json.dumps(params))
    per_record = settings.pop("duplicate_pairs_per_record", None)
    if per_record and n_records > 1:
        settings["probability_two_random_records_match"] = min(0.5, 2 * per_record / (n_records - 1))
    for comparison in settings.get("comparisons", []):
        for level in comparison.get("comparison_levels", []):
            for key in ("tf_adjustment_column", "tf_adjustment_weight", "tf_minimum_u_value"):
                level.pop(key, None)
    return settings


def _prior_levels(params: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (c["output_column_name"], lv.get("label_for_charts")): lv
        for c in params.get("comparisons", [])
        for lv in c.get("comparison_levels", [])
        if not lv.get("is_null_level")
    }


def _prior_lambda(params: dict[str, Any], n_records: int) -> float:
    return float(pretrained_settings(params, n_records)["probability_two_random_records_match"])


def prior_settings(model: LinkModel, params: dict[str, Any], n_records: int, *,
                   term_frequencies: bool) -> dict[str, Any]:
    """The model's settings with the prior's m and u on every level the prior knows (by
    comparison and label) and λ rescaled to ``n_records``; term frequency adjustments
    only with ``term_frequencies`` (frequencies in a few rows mean nothing)."""
    settings = model.settings().create_settings_dict("duckdb")
    levels = _prior_levels(params)
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            known = levels.get((comparison["output_column_name"], level.get("label_for_charts")))
            if known is not None and not level.get("is_null_level"):
                for key in ("m_probability", "u_probability"):
                    if not level.get(f"fix_{key}") and known.get(key) is not None:
                        level[key] = known[key]
            if not term_frequencies:
                for key in ("tf_adjustment_column", "tf_adjustment_weight", "tf_minimum_u_value"):
                    level.pop(key, None)
    settings["probability_two_random_records_match"] = _prior_lambda(params, n_records)
    return settings


# m probabilities below this are treated as equal when checking trained m against the
# prior: differences among rare levels carry no weight worth a warning.
_M_COMPARED_FROM = 0.01


def _weights(levels: list) -> list[float] | None:
    weights = []
    for level in levels:
        m, u = level._m_probability, level._u_probability
        if not isinstance(m, (int, float)) or not isinstance(u, (int, float)) or m <= 0 or u <= 0:
            return None
        weights.append(math.log2(m / u))
    return weights


def implausibility(levels: list, known: dict, name: str, max_shift: float,
                   u_bounds: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset()) -> tuple[float, list[str]]:
    """How many bits a trained comparison is past what can be right, and why, from its
    non-null levels (first = the strongest agreement, last = else): agreement weighing
    less than another level, disagreement counting for a match, the agreement level's m
    more than ``max_shift`` bits from the prior's. ≤ 0: plausible; ``inf``: unusable
    (m or u missing or zero). Levels in ``u_bounds`` (name, label) have a u that is only
    an upper bound, so their weight is only a lower bound: they take no part in the
    order check."""
    weights = _weights(levels)
    if weights is None:
        return math.inf, [f"{lv.label_for_charts}: m {lv._m_probability}, u {lv._u_probability}" for lv in levels[:1]]
    excess, why = -math.inf, []
    if len(weights) > 1:
        excess = max(excess, weights[-1])
        estimated = [w for lv, w in zip(levels[1:], weights[1:], strict=True)
                     if (name, lv.label_for_charts) not in u_bounds]
        if estimated and (name, levels[0].label_for_charts) not in u_bounds:
            order = max(estimated) - weights[0]
            if order > 0:
                why.append(f"{levels[0].label_for_charts} weighs {weights[0]:+.1f}, less than a weaker level")
            excess = max(excess, order)
        if weights[-1] > 0:
            why.append(f"{levels[-1].label_for_charts} counts for a match ({weights[-1]:+.1f})")
    m0 = known.get((name, levels[0].label_for_charts), {}).get("m_probability")
    m = levels[0]._m_probability
    if isinstance(m0, (int, float)):
        shift = abs(math.log2(max(m, _M_COMPARED_FROM) / max(m0, _M_COMPARED_FROM))) - max_shift
        if shift > 0:
            why.append(f"{levels[0].label_for_charts} m {m0:.3g}→{m:.3g}")
        excess = max(excess, shift)
    return excess, why


def _m_is_prior(level, prior_level: dict | None) -> bool:
    m0 = (prior_level or {}).get("m_probability")
    m = level._m_probability
    return isinstance(m0, (int, float)) and isinstance(m, (int, float)) and math.isclose(m, m0, rel_tol=1e-9)


def check_plausible(linker, params: dict[str, Any], n_records: int, prior: float, model: LinkModel,
                    warnings: list[str], u_bounds: set[tuple[str, str]] | frozenset = frozenset()) -> float:
    """Move trained parameters back toward the prior as far as they are implausible;
    returns the λ to use.

    A trained comparison ``b`` bits past plausible (``implausibility``: EM that collapsed
    a level or learned "same family" instead of "same person") has its m moved toward the
    prior's — geometrically, a share ``b / model.plausibility_band`` of the way, all of it
    from one band on. The share grows continuously with ``b``, so near-identical inputs
    (1 % more records) get near-identical parameters, never the trained model on one run
    and the prior on the next. Data-specific differences within the limits (districts that
    disagree more often than in the prior's data) are kept. Levels in ``u_bounds`` take no
    part in the order check (``implausibility``). λ that is not a probability is
    replaced by the prior's λ for this many records, and one further than
    ``model.max_lambda_shift`` bits from it is clamped to that distance.
    """
    known = _prior_levels(params)
    for comparison in linker._settings_obj.comparisons:
        name = comparison.output_column_name
        trained = [lv for lv in comparison.comparison_levels if not lv.is_null_level and not lv._fix_m_probability]
        if not trained or (name, trained[0].label_for_charts) not in known:
            continue
        if all(_m_is_prior(lv, known.get((name, lv.label_for_charts))) for lv in trained):
            continue  # nothing trained to move back (this data's u may still order levels oddly)
        excess, why = implausibility(trained, known, name, model.max_m_shift, u_bounds)
        if excess <= 0:
            continue
        share = min(1.0, excess / model.plausibility_band)
        for level in trained:
            m0 = known.get((name, level.label_for_charts), {}).get("m_probability")
            m = level._m_probability
            if not isinstance(m0, (int, float)) or m0 <= 0:
                continue
            if share >= 1 or not isinstance(m, (int, float)) or m <= 0:
                level.m_probability = m0
            else:
                level.m_probability = m ** (1 - share) * m0**share
        towards = "using the default model's m for it" if share >= 1 else \
            f"moved {share:.0%} of the way to the default model's m"
        warnings.append(f"trained {name!r} is implausible ({'; '.join(why)}); {towards}")
    expected = _prior_lambda(params, n_records)
    if not (isinstance(prior, float) and 0 < prior < 1):
        warnings.append(f"estimated λ {prior} is not a probability; using the default model's {expected:.3g}")
        prior = expected
    elif abs(math.log2(prior / expected)) > model.max_lambda_shift:
        clamped = expected * 2 ** math.copysign(model.max_lambda_shift, math.log2(prior / expected))
        warnings.append(f"estimated λ {prior:.3g} is implausible for {n_records:,} records "
                        f"(default model: {expected:.3g}); using {clamped:.3g}")
        prior = clamped
    linker._settings_obj._probability_two_random_records_match = prior
    return prior


def _quiet_splink() -> None:
    # Splink warns about levels it could not train; ``train`` handles those (see
    # fill_unobserved_u, floor_m), so only errors are worth showing.
    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)


def prob_to_weight(p: float) -> float:
    return math.log2(p / (1 - p))


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


def train(linker, model: LinkModel, progress: Progress | None = None, con=None,
          seconds: dict[str, float] | None = None, warnings: list[str] | None = None,
          u_bounds: set[tuple[str, str]] | None = None) -> float:
    """Unsupervised training (see module docstring); returns λ.

    ``con`` is the linker's DuckDB connection with the records registered as
    ``_u_input`` (needed for ``model.exact_u`` and the EM block checks); ``seconds``
    collects step timings, ``warnings`` what could not be trained and why, ``u_bounds``
    the levels (comparison, label) whose u is only an upper bound (``fill_unobserved_u``,
    ``correct_u``).
    """
    say = progress or (lambda _msg: None)
    seconds = seconds if seconds is not None else {}
    warnings = warnings if warnings is not None else []
    t = time.perf_counter()
    say("estimating λ from deterministic rules")
    linker.training.estimate_probability_two_random_records_match(
        list(model.prior_rules), recall=model.prior_recall
    )
    prior = linker._settings_obj._probability_two_random_records_match
    seconds["train_prior"] = time.perf_counter() - t
    t = time.perf_counter()
    say("estimating u by random sampling")
    linker.training.estimate_u_using_random_sampling(max_pairs=model.u_max_pairs, seed=model.seed)
    if model.exact_u and con is not None:
        exact_u(linker, con, model.exact_u)
    fill_unobserved_u(linker, model.u_max_pairs, u_bounds)
    seconds["train_u"] = time.perf_counter() - t
    for i, rule in enumerate(model.em_blocking_rules(), start=1):
        t = time.perf_counter()
        skip = _em_block_unfit(con, rule, model) if con is not None else None
        if skip:
            warnings.append(f"EM session {i} skipped: {skip}")
            continue
        say(f"estimating m by EM ({i})")
        kwargs: dict[str, Any] = {}
        if model.em_max_pairs:
            kwargs["max_pairs"] = model.em_max_pairs
        before = _m_probabilities(linker)
        try:
            session = linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, **kwargs
            )
        except Exception as exc:  # noqa: BLE001 - Splink raises plain errors on degenerate blocks
            warnings.append(f"EM session {i} failed and was skipped ({type(exc).__name__}: {str(exc)[:120]})")
        else:
            rate = session.core_model_settings.probability_two_random_records_match
            low, high = model.em_match_rate
            # the session counts fully inside the range, less the nearer its block is to
            # all matches (or none), nothing at the extremes: continuous in the data
            share = max(0.0, min(1.0, (1 - rate) / (1 - high), rate / low))
            if share < 1:
                _blend_m_probabilities(linker, before, share)
                use = "not used" if share == 0 else f"counted {share:.0%}"
                warnings.append(f"EM session {i} {use}: its block is {rate:.1%} matches by its own estimate "
                                f"(EM learns from a mix, {low:.0%}–{high:.0%})")
        floor_m(linker, model.m_floor)
        seconds[f"train_em{i}"] = time.perf_counter() - t
    if model.u_match_correction:
        correct_u(linker, float(prior), model.u_match_correction, u_bounds)
    return float(prior)


def _m_probabilities(linker) -> dict[tuple[str, str], Any]:
    return {(c.output_column_name, lv.label_for_charts): lv._m_probability
            for c in linker._settings_obj.comparisons for lv in c.comparison_levels if not lv.is_null_level}


def _blend_m_probabilities(linker, before: dict[tuple[str, str], Any], share: float) -> None:
    """m = m_before^(1−share) · m_now^share on every trained level (share 0: as before)."""
    for c in linker._settings_obj.comparisons:
        for lv in c.comparison_levels:
            m0, m = before.get((c.output_column_name, lv.label_for_charts)), lv._m_probability
            if lv.is_null_level or lv._fix_m_probability or not isinstance(m0, (int, float)):
                continue
            if share == 0 or not isinstance(m, (int, float)) or m <= 0 or m0 <= 0:
                lv.m_probability = m0
            else:
                lv.m_probability = m0 ** (1 - share) * m**share


def _em_block_unfit(con, rule, model: LinkModel) -> str | None:
    """Why an EM blocking rule cannot train on these records, or None: a block with a
    handful of pairs (a sparse source holds no birth dates or ID numbers) teaches EM
    nothing but noise; its comparisons keep the prior's m."""
    from splink.internals.blocking_rule_creator_utils import to_blocking_rule_creator

    sql = to_blocking_rule_creator(rule).get_blocking_rule("duckdb").blocking_rule_sql
    pairs = con.execute(
        f"SELECT count(*) FROM _u_input l JOIN _u_input r ON l.unique_id < r.unique_id AND ({sql})"
    ).fetchall()[0][0]
    if pairs < model.em_min_pairs:
        return f"{pairs} pairs in block {sql!r} (fewer than {model.em_min_pairs})"
    return None


def corrected_u(u_observed: float, prior: float, m: float, max_factor: float) -> tuple[float, bool]:
    """u without the true matches among random pairs, and whether it is only a bound.

    The sampled rate is u_obs = λ·m + (1 − λ)·u, so r = λ·m / u_obs is the share of
    agreeing random pairs that are matches, and u = u_obs·(1 − r)/(1 − λ). That
    subtraction is trusted while matches are at most half of them (r ≤ ½: u moves at most
    twice as much as u_obs, in log terms). On identifying levels r ≈ 1 and it subtracts
    two near-equal numbers: a few percent of error in u_obs, λ (an assumed recall) or m
    moves u tenfold. There the factor goes geometrically from ½ at r = ½ to
    1/``max_factor`` at r = 1 and stays there, so d log u / d log u_obs ≤ 1 + 2·ln(max_factor/2)
    (5.6 for 20). With r ≥ 1 the data only say u is at most u_obs / ``max_factor``: a
    bound, not an estimate. ``max_factor`` is at least 2.
    """
    if max_factor < 2:
        raise ValueError(f"u_match_correction must be 0 (off) or at least 2, got {max_factor}")
    if u_observed <= 0:
        return u_observed, False
    share = prior * m / u_observed
    factor = 1 - share if share <= 0.5 else 0.5 * (2 / max_factor) ** (2 * min(share, 1.0) - 1)
    return u_observed * factor / (1 - prior), share >= 1


def correct_u(linker, prior: float, max_factor: float, bounds: set[tuple[str, str]] | None = None) -> None:
    """Take the true matches out of the randomly sampled u probabilities (``corrected_u``).

    For identifying levels (same own mobile, same ID number) λ·m is as large as u_obs
    itself and the sampled u overstates how often different people agree. Levels whose
    corrected u is only a bound are added to ``bounds`` as (comparison, label).
    """
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level._fix_u_probability:
                continue
            key = (comparison.output_column_name, level.label_for_charts)
            m, u = level._m_probability, level._u_probability
            if not isinstance(m, (int, float)) or not isinstance(u, (int, float)) or key in (bounds or ()):
                continue  # a bound (never sampled) stays what it is
            level.u_probability, bound = corrected_u(u, prior, m, max_factor)
            if bound and bounds is not None:
                bounds.add(key)


def _level(linker, comparison: str, label: str):
    for c in linker._settings_obj.comparisons:
        if c.output_column_name == comparison:
            for level in c.comparison_levels:
                if level.label_for_charts == label:
                    return level
    raise KeyError(f"no level {label!r} in comparison {comparison!r}")


def fill_unobserved_u(linker, sampled_pairs: float, bounds: set[tuple[str, str]] | None = None) -> None:
    """A level no sampled pair reached is rarer than one in ``sampled_pairs``: say so,
    instead of leaving Splink's default u (≈1e-3 for a phone level — which would make a
    shared own mobile number worth 9 bits instead of 19, or the prior's u). That u is a
    bound, not an estimate: such levels are added to ``bounds`` as (comparison, label)."""
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level._fix_u_probability:
                continue
            if not level._has_estimated_u_values:
                level.u_probability = 1.0 / sampled_pairs
                if bounds is not None:
                    bounds.add((comparison.output_column_name, level.label_for_charts))


def exact_u(linker, con, levels) -> None:
    """u of exact-agreement levels from value counts: Σ n(n−1) / (N(N−1)) over values
    meeting the level's filter, N the records with a value. This is the rate at which
    two random records agree (true matches included, see ``correct_u``). It replaces the
    sampled u in Splink's record of trained values too: Splink sets every u back to the
    median of that record after each EM session."""
    for comparison, label, column, where in levels:
        value = con.execute(
            f"""WITH v AS (SELECT count(*) AS n FROM _u_input
                           WHERE {column} IS NOT NULL AND ({where}) GROUP BY {column}),
                     t AS (SELECT count(*) AS m FROM _u_input WHERE {column} IS NOT NULL)
                SELECT sum(v.n * (v.n - 1)) / (any_value(t.m) * (any_value(t.m) - 1)) FROM v, t"""
        ).fetchall()[0][0]
        if value:
            level = _level(linker, comparison, label)
            level.u_probability = float(value)
            level._trained_u_probabilities = [
                {"probability": float(value), "description": "value counts", "m_or_u": "u"}]


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

    Returns pairs with ``match_weight >= keep_weight`` (default: threshold − 6, the review
    band) and every pair that agrees on a deterministic-link column (``rule`` names the
    column; such a pair keeps its model weight if it has one above the band, else NULL).
    """
    say = progress or (lambda _msg: None)
    seconds: dict[str, float] = {}
    warnings: list[str] = []
    t0 = time.perf_counter()
    tables = [records] if isinstance(records, pa.Table) else list(records)
    n = sum(t.num_rows for t in tables)
    prior_params = model.pretrained() if model.pretrained is not None else None
    use_pretrained = prior_params is not None and n < model.min_train_records
    if prior_params is None:
        settings = model.settings()
    else:
        settings = prior_settings(model, prior_params, n, term_frequencies=not use_pretrained)
    linker, con = new_linker(tables, settings, threads=threads)
    keep = model.threshold_weight - 6 if keep_weight is None else keep_weight
    try:
        if use_pretrained:
            say(f"{n} records: too few to train, using the default parameters")
            prior = float(settings["probability_two_random_records_match"])
        else:
            con.register("_u_input", tables[0])
            try:
                u_bounds: set[tuple[str, str]] = set()
                prior = train(linker, model, say, con, seconds, warnings, u_bounds)
                if prior_params is not None:
                    prior = check_plausible(linker, prior_params, n, prior, model, warnings, u_bounds)
            except Exception as exc:  # noqa: BLE001 - any training failure falls back to the prior
                if prior_params is None:
                    raise
                warnings.append(f"training failed ({type(exc).__name__}: {str(exc)[:160]}); "
                                "linked with the default model instead")
                con.close()
                settings = prior_settings(model, prior_params, n, term_frequencies=False)
                linker, con = new_linker(tables, settings, threads=threads)
                prior = float(settings["probability_two_random_records_match"])
        seconds["train"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        say("scoring candidate pairs")
        pairs, curve = score_pairs(linker, con, tables, model, keep)
        seconds["predict"] = time.perf_counter() - t1
        model_json = linker.misc.save_model_to_json()
    finally:
        con.close()
    seconds["total"] = time.perf_counter() - t0
    return LinkResult(
        pairs=pairs,
        model_json=model_json,
        prior=prior,
        threshold_weight=model.threshold_weight,
        curve=curve,
        seconds=seconds,
        warnings=warnings,
    )


def score_pairs(linker, con, tables: list[pa.Table], model: LinkModel, keep: float) -> tuple[pa.Table, list]:
    """Score the candidate pairs of ``linker`` (on ``con``, holding ``tables``): pairs
    weighing at least ``keep`` with the model's veto, joined with the deterministic links;
    and the model's own precision/recall curve over the scored pairs."""
    predictions = linker.inference.predict(threshold_match_weight=float(keep), warning_mode="never")
    veto = f"coalesce({model.veto_sql}, FALSE)" if model.veto_sql else "FALSE"
    con.execute(
        f"""CREATE TEMP TABLE _model_pairs AS
            SELECT least(unique_id_l, unique_id_r) AS unique_id_l,
                   greatest(unique_id_l, unique_id_r) AS unique_id_r,
                   match_weight, match_probability, {veto} AS veto
            FROM {predictions.physical_name}"""
    )
    pairs = con.sql(
        f"""WITH det AS ({_deterministic_sql(con, tables, model)})
            SELECT coalesce(m.unique_id_l, d.unique_id_l) AS unique_id_l,
                   coalesce(m.unique_id_r, d.unique_id_r) AS unique_id_r,
                   m.match_weight, m.match_probability,
                   coalesce(d.rule, 'model') AS rule,
                   coalesce(m.veto, FALSE) AS veto
            FROM _model_pairs m FULL OUTER JOIN det d
              ON d.unique_id_l = m.unique_id_l AND d.unique_id_r = m.unique_id_r"""
    ).to_arrow_table()
    return pairs, _curve(con, "_model_pairs")


def _deterministic_sql(con, tables: list[pa.Table], model: LinkModel) -> str:
    """Pairs of records equal on a deterministic-link column (first column wins)."""
    parts = []
    for i, t in enumerate(tables):
        con.register(f"_records_{i}", t.select(["unique_id", *[c for c in model.deterministic_links
                                                                 if c in t.column_names]]))
    union = " UNION ALL ".join(f"SELECT * FROM _records_{i}" for i in range(len(tables)))
    con.execute(f"CREATE TEMP TABLE _records AS {union}")
    for rank, col in enumerate(model.deterministic_links):
        parts.append(
            f"""SELECT a.unique_id AS unique_id_l, b.unique_id AS unique_id_r, '{col}' AS rule, {rank} AS rank
                FROM _records a JOIN _records b ON a.{col} = b.{col} AND a.unique_id < b.unique_id"""
        )
    if not parts:
        return ("SELECT unique_id AS unique_id_l, unique_id AS unique_id_r, NULL::VARCHAR AS rule "
                "FROM _records WHERE FALSE")
    return (
        "SELECT unique_id_l, unique_id_r, arg_min(rule, rank) AS rule FROM ("
        + " UNION ALL ".join(parts)
        + ") GROUP BY unique_id_l, unique_id_r"
    )
