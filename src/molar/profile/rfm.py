"""RFM-Health: recency, frequency and monetary value scored against the chain's own
distribution, plus a health component (risk level and recall adherence).

Every component is kept in ``profile.value_score`` so a score can always be explained.
Only patients with at least one visit are scored; people who never came (leads,
followers) have no value score and sit in the ``potential`` tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from molar.warehouse import Engine


@dataclass(frozen=True)
class ValueWeights:
    recency: float = 0.25
    frequency: float = 0.25
    monetary: float = 0.35
    health: float = 0.15
    recall_interval_days: int = 182  # the chain's standard check-up / cleaning recall

    def __post_init__(self) -> None:
        total = self.recency + self.frequency + self.monetary + self.health
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"value score weights must add up to 1 (they add up to {total:g})")


RISK_POINTS = "CASE {0} WHEN 'high' THEN 1.0 WHEN 'medium' THEN 0.5 WHEN 'low' THEN 0.0 END"


def compute_value_scores(engine: Engine, as_of: date, run_id: str, weights: ValueWeights | None = None) -> int:
    """Fill the temp table ``value_scores`` (the shape of profile.value_score); returns rows.

    Reads the input tables and the freshly computed tags (``new_tag``: caries_risk,
    periodontal_risk).
    """
    w = weights or ValueWeights()
    d = f"DATE '{as_of.isoformat()}'"
    recall = w.recall_interval_days
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE value_scores AS
        WITH v AS (
            SELECT golden_id, max(visit_date) AS last_visit, min(visit_date) AS first_visit,
                   count(DISTINCT visit_date) FILTER (WHERE visit_date > {d} - INTERVAL 24 MONTH) AS visits_24m
            FROM visits GROUP BY golden_id),
        m AS (
            SELECT golden_id, sum(amount_yuan) AS spend_24m FROM charges
            WHERE charged_on > {d} - INTERVAL 24 MONTH GROUP BY golden_id),
        cleanings AS (
            SELECT golden_id, visit_date,
                   visit_date - lag(visit_date) OVER (PARTITION BY golden_id ORDER BY visit_date) AS gap
            FROM (SELECT DISTINCT golden_id, visit_date FROM treatments WHERE item_code IN ('CLN', 'CHK'))),
        rc AS (
            SELECT golden_id, max(visit_date) AS last_recall,
                   arg_max(gap, visit_date) AS last_gap,
                   median(gap) FILTER (WHERE gap IS NOT NULL) AS median_gap
            FROM cleanings GROUP BY golden_id),
        risk AS (
            SELECT golden_id,
                   avg(CASE value WHEN 'high' THEN 1.0 WHEN 'medium' THEN 0.5 WHEN 'low' THEN 0.0 END) AS health_risk
            FROM new_tag WHERE tag_key IN ('caries_risk', 'periodontal_risk') GROUP BY golden_id),
        base AS (
            SELECT v.golden_id,
                   ({d} - v.last_visit)::INTEGER AS recency_days,
                   v.visits_24m / greatest(0.5, least(2.0, ({d} - v.first_visit) / 365.25)) AS frequency,
                   coalesce(m.spend_24m, 0) AS monetary_yuan,
                   coalesce(risk.health_risk, 0.5) AS health_risk,
                   CASE WHEN rc.last_recall IS NULL THEN 0.0
                        ELSE greatest(0.0, least(1.0,
                               1 - greatest(0, ({d} - rc.last_recall) - {recall}) / 365.0
                               - CASE WHEN rc.last_gap > 1.3 * rc.median_gap AND rc.last_gap > {recall} THEN 0.25 ELSE 0 END))
                   END AS recall_adherence
            FROM v LEFT JOIN m USING (golden_id) LEFT JOIN rc USING (golden_id) LEFT JOIN risk USING (golden_id)),
        ranked AS (
            SELECT *,
                   1 - percent_rank() OVER (ORDER BY recency_days) AS r_score,
                   percent_rank() OVER (ORDER BY frequency) AS f_score,
                   percent_rank() OVER (ORDER BY monetary_yuan) AS m_score,
                   0.5 * (1 - health_risk) + 0.5 * recall_adherence AS h_score
            FROM base)
        SELECT golden_id, recency_days, round(frequency, 3) AS frequency, round(monetary_yuan, 2) AS monetary_yuan,
               round(health_risk, 3) AS health_risk, round(recall_adherence, 3) AS recall_adherence,
               round(r_score, 4) AS r_score, round(f_score, 4) AS f_score, round(m_score, 4) AS m_score,
               round(h_score, 4) AS h_score,
               round(100 * ({w.recency} * r_score + {w.frequency} * f_score + {w.monetary} * m_score + {w.health} * h_score), 1) AS value_score,
               '{run_id}' AS run_id
        FROM ranked"""
    )
    return engine.count("value_scores")
