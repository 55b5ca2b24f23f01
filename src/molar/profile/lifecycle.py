"""Lifecycle stage: acquisition / growth / mature / decline / churn.

A patient's activity is judged against their own expected recall interval (the median
gap between their visit episodes) and their spending trend; thresholds live in
``lifecycle.yaml`` and can be overridden. A stage change between runs is recorded in
``profile.lifecycle_event`` (``lifecycle.changed``) for the automation engine.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path

import yaml

from molar.warehouse import Engine

STAGES = ("acquisition", "growth", "mature", "decline", "churn")
CONFIG_PATH = Path(__file__).with_name("lifecycle.yaml")
INPUTS = ("person", "visits", "charges", "texts", "appointments")   # the input tables compute_lifecycle reads


@dataclass(frozen=True)
class LifecycleConfig:
    episode_gap_days: int = 30
    default_interval: int = 182
    min_interval: int = 120
    max_interval: int = 365
    acquisition_days: int = 120
    growth_days: int = 365
    growth_spend_trend: float = 0.3
    decline_ratio: float = 1.5
    decline_spend_trend: float = -0.6
    min_spend: float = 500
    churn_ratio: float = 3.0
    churn_min_days: int = 365
    signal_days: int = 180
    signal_overdue_ratio: float = 0.7
    stretch_factor: float = 1.3
    moving_words: str = "搬家|搬到|太远|转到别的|转院|离.{0,6}远"
    decline_risk: float = 0.7
    risk_max_age_days: int = 7

    @classmethod
    def load(cls, path: Path | None = None, **overrides: float) -> LifecycleConfig:
        path = path or CONFIG_PATH
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path.name}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        config = cls(**{**raw, **overrides})
        if not 0 < config.decline_ratio < config.churn_ratio:
            raise ValueError(f"{path.name}: decline_ratio must be above 0 and below churn_ratio")
        if not 0 < config.min_interval <= config.default_interval <= config.max_interval:
            raise ValueError(f"{path.name}: need 0 < min_interval <= default_interval <= max_interval")
        return config


def compute_lifecycle(engine: Engine, as_of: date, run_id: str, config: LifecycleConfig | None = None) -> int:
    """Fill temp table ``stages`` (shape of profile.lifecycle) for every person."""
    c = config or LifecycleConfig.load()
    d = f"DATE '{as_of.isoformat()}'"
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE stages AS
        WITH days AS (SELECT DISTINCT golden_id, visit_date FROM visits),
        gaps AS (
            SELECT golden_id, visit_date,
                   visit_date - lag(visit_date) OVER (PARTITION BY golden_id ORDER BY visit_date) AS gap
            FROM days),
        v AS (
            SELECT golden_id, min(visit_date) AS first_visit, max(visit_date) AS last_visit,
                   count(*) AS visit_days,
                   median(gap) FILTER (WHERE gap > {c.episode_gap_days}) AS median_gap,
                   count(gap) FILTER (WHERE gap > {c.episode_gap_days}) AS episodes_gaps
            FROM gaps GROUP BY golden_id),
        spend AS (
            SELECT golden_id,
                   sum(amount_yuan) FILTER (WHERE charged_on > {d} - INTERVAL 12 MONTH) AS spend_12m,
                   sum(amount_yuan) FILTER (WHERE charged_on <= {d} - INTERVAL 12 MONTH
                                            AND charged_on > {d} - INTERVAL 24 MONTH) AS spend_prev_12m
            FROM charges GROUP BY golden_id),
        last_gap AS (
            SELECT golden_id, arg_max(gap, visit_date) AS last_gap,
                   median(gap) FILTER (WHERE gap > {c.episode_gap_days}) AS typical_gap
            FROM gaps WHERE gap > {c.episode_gap_days} GROUP BY golden_id),
        complaints AS (
            SELECT golden_id, count(*) AS n FROM texts
            WHERE label = 'complaint' AND occurred_at > {d} - INTERVAL {c.signal_days} DAY GROUP BY golden_id),
        moving AS (
            SELECT DISTINCT golden_id FROM texts
            WHERE regexp_matches(text, '{c.moving_words}') AND occurred_at > {d} - INTERVAL {c.signal_days} DAY),
        missed AS (
            SELECT golden_id, count(*) AS n FROM appointments
            WHERE status IN ('no_show', 'cancelled') AND slot_start > {d} - INTERVAL {c.signal_days} DAY
              AND slot_start < {d} + INTERVAL 1 DAY
            GROUP BY golden_id),
        risk AS (
            SELECT golden_id, risk AS churn_risk FROM profile.churn_risk
            WHERE as_of <= {d} AND as_of > {d} - INTERVAL {c.risk_max_age_days} DAY),
        upcoming AS (
            SELECT DISTINCT golden_id FROM appointments
            WHERE status = 'booked' AND slot_start >= {d} + INTERVAL 1 DAY),
        f AS (
            SELECT p.golden_id, v.first_visit, v.last_visit, coalesce(v.visit_days, 0) AS visit_days,
                   CASE WHEN v.episodes_gaps >= 2
                        THEN greatest({c.min_interval}, least({c.max_interval}, v.median_gap))
                        ELSE {c.default_interval} END AS expected_interval_days,
                   ({d} - v.last_visit)::INTEGER AS days_since_last,
                   ({d} - v.first_visit)::INTEGER AS tenure_days,
                   coalesce(s.spend_12m, 0) AS spend_12m, coalesce(s.spend_prev_12m, 0) AS spend_prev_12m,
                   u.golden_id IS NOT NULL AS has_upcoming,
                   coalesce(lg.last_gap > {c.stretch_factor} * lg.typical_gap AND lg.last_gap > {c.default_interval}, false) AS stretching,
                   coalesce(cx.n, 0) AS complaints, mv.golden_id IS NOT NULL AS moving, coalesce(ms.n, 0) AS missed,
                   rk.churn_risk
            FROM person p LEFT JOIN v USING (golden_id) LEFT JOIN spend s USING (golden_id) LEFT JOIN risk rk USING (golden_id)
            LEFT JOIN upcoming u USING (golden_id) LEFT JOIN last_gap lg USING (golden_id)
            LEFT JOIN complaints cx USING (golden_id) LEFT JOIN moving mv USING (golden_id)
            LEFT JOIN missed ms USING (golden_id)),
        g AS (
            SELECT *, days_since_last / expected_interval_days AS overdue_ratio,
                   stretching::INT + (complaints > 0)::INT + moving::INT + (missed > 0)::INT AS signals,
                   CASE WHEN spend_prev_12m >= {c.min_spend}
                        THEN (spend_12m - spend_prev_12m) / spend_prev_12m END AS spend_trend
            FROM f),
        staged AS (
            SELECT *,
              CASE
                WHEN last_visit IS NULL THEN 'acquisition'
                WHEN overdue_ratio >= {c.churn_ratio} AND days_since_last >= {c.churn_min_days} AND NOT has_upcoming THEN 'churn'
                WHEN churn_risk >= {c.decline_risk} AND NOT has_upcoming THEN 'decline'
                WHEN overdue_ratio >= {c.decline_ratio} AND NOT has_upcoming THEN 'decline'
                WHEN overdue_ratio >= {c.signal_overdue_ratio} AND signals >= 1 AND NOT has_upcoming THEN 'decline'
                WHEN signals >= 2 AND NOT has_upcoming THEN 'decline'
                WHEN tenure_days <= {c.acquisition_days} AND visit_days <= 2 THEN 'acquisition'
                WHEN spend_trend <= {c.decline_spend_trend} AND NOT has_upcoming THEN 'decline'
                WHEN tenure_days < {c.growth_days} OR spend_trend >= {c.growth_spend_trend} THEN 'growth'
                ELSE 'mature' END AS stage
            FROM g)
        SELECT golden_id, stage,
               {d} AS since,
               expected_interval_days::DOUBLE AS expected_interval_days, days_since_last,
               round(overdue_ratio, 3) AS overdue_ratio, round(spend_trend, 3) AS spend_trend,
               CASE stage
                 WHEN 'acquisition' THEN CASE WHEN last_visit IS NULL THEN 'no visit yet'
                      ELSE 'first visit ' || tenure_days || ' days ago, ' || visit_days || ' visit day(s)' END
                 WHEN 'churn' THEN 'no visit for ' || days_since_last || ' days, ' || round(overdue_ratio, 1)
                      || '× the expected ' || round(expected_interval_days)::INT || '-day interval'
                 WHEN 'decline' THEN concat_ws('; ',
                      CASE WHEN churn_risk >= {c.decline_risk} THEN 'churn risk ' || round(100 * churn_risk)::INT
                           || '% (no visit in the coming months predicted)' END,
                      CASE WHEN overdue_ratio >= {c.decline_ratio} OR signals >= 1
                      THEN 'no visit for ' || days_since_last || ' days, ' || round(overdue_ratio, 1)
                           || '× the expected ' || round(expected_interval_days)::INT || '-day interval'
                           || CASE WHEN signals >= 1 THEN '; warning signs: ' || concat_ws(', ',
                                CASE WHEN stretching THEN 'recall interval stretching' END,
                                CASE WHEN complaints > 0 THEN complaints || ' complaint(s)' END,
                                CASE WHEN moving THEN 'mentions moving / distance' END,
                                CASE WHEN missed > 0 THEN missed || ' missed or cancelled booking(s)' END) ELSE '' END
                      WHEN spend_trend <= {c.decline_spend_trend} THEN 'spend down ' || round(-100 * spend_trend)::INT || '% on the previous 12 months' END)
                 WHEN 'growth' THEN CASE WHEN tenure_days < {c.growth_days}
                      THEN 'patient for ' || tenure_days || ' days'
                      ELSE 'spend up ' || round(100 * spend_trend)::INT || '% on the previous 12 months' END
                 ELSE 'regular for ' || tenure_days || ' days, last visit ' || days_since_last || ' days ago'
               END || CASE WHEN has_upcoming THEN '; has an upcoming booking' ELSE '' END AS reason,
               '{run_id}' AS run_id
        FROM staged"""
    )
    return engine.count("stages")


def publish_lifecycle(engine: Engine, as_of: date, run_id: str, scoped: bool = False) -> int:
    """Replace profile.lifecycle (only for temp table ``scope_ids`` when ``scoped``), keeping
    ``since`` for unchanged stages; record transitions in profile.lifecycle_event.

    Returns the number of transitions. Call inside a transaction.
    """
    engine.execute(
        """UPDATE stages n SET since = o.since FROM profile.lifecycle o
           WHERE o.golden_id = n.golden_id AND o.stage = n.stage"""
    )
    before = engine.count("profile.lifecycle_event")
    engine.execute(
        f"""INSERT INTO profile.lifecycle_event
            SELECT 'LC-' || replace(gen_random_uuid()::VARCHAR, '-', ''), n.golden_id, o.stage, n.stage,
                   DATE '{as_of.isoformat()}', n.reason, n.run_id
            FROM stages n LEFT JOIN profile.lifecycle o USING (golden_id)
            WHERE o.stage IS DISTINCT FROM n.stage"""
    )
    transitions = engine.count("profile.lifecycle_event") - before
    if scoped:
        engine.execute("DELETE FROM profile.lifecycle WHERE golden_id IN (SELECT golden_id FROM scope_ids)")
    else:
        engine.execute("DELETE FROM profile.lifecycle")
    engine.execute("INSERT INTO profile.lifecycle SELECT * FROM stages")
    return transitions
