"""Lifecycle stages against the synthetic chain's ground truth (who churned, and when).

For each cutoff date the lifecycle is computed as of that date (nothing later visible) and
every patient who had visited by then is put in a truth group by their true churn date:
stays, churns within the next 180 days, churned up to 180 days ago, churned earlier.
A good stage model puts the churn groups in decline/churn and the stayers elsewhere.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from molar.profile.inputs import build_inputs
from molar.profile.lifecycle import STAGES, LifecycleConfig, compute_lifecycle
from molar.synth.truth import truth_file
from molar.warehouse import Engine

GROUPS = ("stays", "churns within 180 days", "churned 0-180 days ago", "churned over 180 days ago")


def evaluate_lifecycle(
    engine: Engine, truth_dir: str | Path, cutoffs: list[date], config: LifecycleConfig | None = None
) -> dict:
    records = truth_file(truth_dir, "records.parquet").as_posix()
    persons = truth_file(truth_dir, "persons.parquet").as_posix()
    # Each golden ID is credited to the person most of its records belong to.
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE golden_person AS
            SELECT golden_id, arg_max(person_id, n) AS person_id FROM (
              SELECT c.golden_id, t.person_id, count(*) AS n FROM identity.cluster c
              JOIN read_parquet('{records}') t ON t.source = c.source AND t.record_key = c.source_patient_key
              GROUP BY ALL)
            GROUP BY golden_id"""
    )
    result: dict = {"groups": list(GROUPS), "stages": list(STAGES), "cutoffs": {}}
    for cutoff in cutoffs:
        build_inputs(engine, cutoff)
        compute_lifecycle(engine, cutoff, "evaluation", config)
        d = f"DATE '{cutoff.isoformat()}'"
        soon = f"DATE '{(cutoff + timedelta(days=180)).isoformat()}'"
        ago = f"DATE '{(cutoff - timedelta(days=180)).isoformat()}'"
        rows = engine.rows(
            f"""SELECT CASE WHEN NOT p.churned OR p.churn_date > {soon} THEN 'stays'
                            WHEN p.churn_date > {d} THEN 'churns within 180 days'
                            WHEN p.churn_date > {ago} THEN 'churned 0-180 days ago'
                            ELSE 'churned over 180 days ago' END AS grp,
                       s.stage, count(*)
                FROM stages s JOIN golden_person g USING (golden_id)
                JOIN read_parquet('{persons}') p USING (person_id)
                WHERE s.days_since_last IS NOT NULL
                GROUP BY ALL"""
        )
        table = {g: {s: 0 for s in STAGES} for g in GROUPS}
        for grp, stage, n in rows:
            table[grp][stage] = int(n)
        share = {}
        for g, counts in table.items():
            total = sum(counts.values())
            share[g] = {
                "patients": total,
                "decline_or_churn": round((counts["decline"] + counts["churn"]) / total, 4) if total else None,
            }
        result["cutoffs"][cutoff.isoformat()] = {"confusion": table, "summary": share}
    return result
