"""``resolve``: std.patient → link input → scored pairs → clusters → stable golden IDs.

One run, in order:

1. features (``identity.link_input``) from ``std.patient``;
2. Splink trains without labels and scores candidate pairs (``linker.link``);
3. pairs are linked when a deterministic rule says so (same verified ID number, same
   unionid) or when the model's weight reaches the threshold and the names do not
   clearly differ (``LinkModel.veto_sql``); kept pairs go to ``identity.pair``;
4. connected components of the links, then components holding records that cannot be
   one person are split (``cluster.split_conflicts``);
5. manual overrides (``identity.override``) are applied, oldest first;
6. golden IDs are carried over from the previous run by maximum overlap
   (``golden.assign``), with merge/split events;
7. the golden record ``identity.patient`` is rebuilt (``patient.build``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molar.identity import cluster, golden, patient
from molar.identity.features import build_link_input
from molar.identity.linker import LinkResult, link
from molar.identity.model import LinkModel, patient_model
from molar.warehouse import Engine

Progress = Callable[[str], None]

# Records in one component above which conflict checks use only ID numbers (the all-pairs
# check would be quadratic); such components are split on ID conflicts only.
MAX_CHECKED_COMPONENT = 200
# Birth dates further apart than this (and not a year typo: same month, day within 3)
# cannot belong to one person unless the two records are linked directly.
FAR_BIRTH_DAYS = 400


def _conflict_sql(threshold: float) -> str:
    """Record pairs inside one component that cannot be one person.

    Different verified ID numbers always conflict. Different sexes, or birth dates far
    apart, conflict unless the two records are themselves linked (a direct link is the
    model's considered judgement; a chain of links is not).
    """
    return f"""
WITH c AS (
  SELECT * FROM (
    SELECT l.idx, l.label, li.id_number, li.sex, li.birth_date,
           count(*) OVER (PARTITION BY l.label) AS size
    FROM _id_labels l JOIN _id_index i USING (idx) JOIN identity.link_input li USING (unique_id))
  WHERE size > 1
),
direct AS (
  SELECT least(ia.idx, ib.idx) AS a, greatest(ia.idx, ib.idx) AS b FROM identity.pair p
  JOIN _id_index ia ON ia.unique_id = p.unique_id_l JOIN _id_index ib ON ib.unique_id = p.unique_id_r
  WHERE p.linked
),
candidates AS (
  SELECT x.idx AS a, y.idx AS b,
         coalesce(x.id_number <> y.id_number, FALSE) AS id_conflict,
         x.size <= {MAX_CHECKED_COMPONENT}
           AND coalesce(x.sex <> y.sex
                        OR (abs(date_diff('day', x.birth_date, y.birth_date)) > {FAR_BIRTH_DAYS}
                            AND NOT (month(x.birth_date) = month(y.birth_date)
                                     AND abs(day(x.birth_date) - day(y.birth_date)) <= 3)), FALSE)
           AS soft_conflict
  FROM c x JOIN c y ON x.label = y.label AND x.idx < y.idx
  WHERE x.size <= {MAX_CHECKED_COMPONENT}
  UNION ALL
  SELECT x.idx, y.idx, TRUE, FALSE
  FROM c x JOIN c y ON x.label = y.label AND x.idx < y.idx
  WHERE x.size > {MAX_CHECKED_COMPONENT} AND x.id_number <> y.id_number
)
SELECT k.a, k.b FROM candidates k LEFT JOIN direct d ON d.a = k.a AND d.b = k.b
WHERE k.id_conflict OR (k.soft_conflict AND d.a IS NULL)
"""


def new_run_id(now: datetime) -> str:
    return f"R{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"


def store_pairs(engine: Engine, result: LinkResult, threshold: float, run_id: str) -> int:
    pairs = result.pairs
    linked = pc.or_(
        pc.not_equal(pairs.column("rule"), "model"),
        pc.and_(
            pc.greater_equal(pairs.column("match_weight"), threshold),
            pc.invert(pairs.column("veto")),
        ),
    )
    table = pa.table({
        "unique_id_l": pairs.column("unique_id_l"),
        "unique_id_r": pairs.column("unique_id_r"),
        "match_weight": pairs.column("match_weight"),
        "match_probability": pairs.column("match_probability"),
        "rule": pairs.column("rule"),
        "linked": linked,
        "run_id": pa.array([run_id] * pairs.num_rows, pa.string()),
    })
    with engine.transaction():
        engine.execute("DELETE FROM identity.pair")
        engine.append("identity.pair", table)
    return int(pc.sum(linked).as_py() or 0)


def cluster_records(engine: Engine, threshold: float) -> dict[str, int]:
    """Components of linked pairs, conflict splits and overrides → ``_id_cluster_new``."""
    e = engine
    e.execute(
        "CREATE OR REPLACE TEMP TABLE _id_index AS "
        "SELECT CAST(row_number() OVER (ORDER BY unique_id) - 1 AS BIGINT) AS idx, unique_id "
        "FROM identity.link_input"
    )
    n = e.count("_id_index")
    edges = e.arrow(
        """SELECT ia.idx AS a, ib.idx AS b, p.match_weight AS w, p.rule <> 'model' AS det
           FROM identity.pair p
           JOIN _id_index ia ON ia.unique_id = p.unique_id_l
           JOIN _id_index ib ON ib.unique_id = p.unique_id_r
           WHERE p.linked"""
    )
    a = edges.column("a").to_numpy()
    b = edges.column("b").to_numpy()
    labels = cluster.components(n, a, b)
    components = int(np.unique(labels).size)

    def write_labels(lab: np.ndarray) -> None:
        e.execute("CREATE OR REPLACE TEMP TABLE _id_labels (idx BIGINT, label BIGINT)")
        e.append("_id_labels", pa.table({"idx": np.arange(n, dtype=np.int64), "label": lab}))

    write_labels(labels)
    conflicts = e.rows(_conflict_sql(threshold))
    split = 0
    if conflicts:
        w = edges.column("w").to_numpy(zero_copy_only=False)
        det = edges.column("det").to_numpy(zero_copy_only=False)
        edge_list = list(zip(a.tolist(), b.tolist(), np.nan_to_num(w, nan=0.0).tolist(), det.tolist(), strict=True))
        labels, split = cluster.split_conflicts(labels, edge_list, conflicts)

    overrides = e.rows(
        """SELECT o.override_id, o.kind, list(i.idx) FILTER (WHERE i.idx IS NOT NULL)
           FROM identity.override o
           LEFT JOIN (SELECT override_id, unnest(unique_ids) AS unique_id FROM identity.override) u
             USING (override_id)
           LEFT JOIN _id_index i ON i.unique_id = u.unique_id
           GROUP BY o.override_id, o.kind, o.created_at
           ORDER BY o.created_at, o.override_id"""
    )
    if overrides:
        labels = cluster.apply_overrides(labels, [(kind, idxs or []) for _, kind, idxs in overrides])
    write_labels(labels)
    e.execute(
        "CREATE OR REPLACE TEMP TABLE _id_cluster_new AS "
        "SELECT i.unique_id, l.label FROM _id_labels l JOIN _id_index i USING (idx)"
    )
    return {
        "components": components,
        "conflicting_pairs": len(conflicts),
        "components_split": split,
        "overrides": len(overrides),
        "clusters": int(np.unique(labels).size),
    }


def resolve(
    engine: Engine,
    *,
    model: LinkModel | None = None,
    threshold_weight: float | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Resolve ``std.patient`` into golden IDs; returns a summary (counts, timings, model
    estimates). Safe to rerun: golden IDs stay with the same people."""
    say = progress or (lambda _msg: None)
    model = model or patient_model()
    threshold = model.threshold_weight if threshold_weight is None else float(threshold_weight)
    now = now or datetime.now().replace(microsecond=0)
    run_id = new_run_id(now)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    say("building link input")
    engine.execute(
        "INSERT INTO identity.run (run_id, started_at) VALUES (?, ?)", [run_id, now]
    )
    records = build_link_input(engine)
    seconds["features"] = time.perf_counter() - t0
    summary: dict[str, Any] = {"run_id": run_id, "records": records, "threshold_weight": threshold}
    if records == 0:
        say("no patient records")
        t = time.perf_counter()
        engine.execute("CREATE OR REPLACE TEMP TABLE _id_cluster_new (unique_id VARCHAR, label BIGINT)")
        summary["ids"] = golden.assign(engine, run_id, now)
        patient.build(engine, now)
        seconds["golden"] = time.perf_counter() - t
        return _finish(engine, run_id, summary, seconds, t0, None)

    data = engine.arrow("SELECT * FROM identity.link_input")
    t = time.perf_counter()
    result = link(data, model, progress=say, threads=threads)
    seconds["link"] = time.perf_counter() - t
    del data

    t = time.perf_counter()
    say("clustering")
    links = store_pairs(engine, result, threshold, run_id)
    summary["pairs_scored"] = result.blocked_pairs
    summary["pairs_kept"] = result.pairs.num_rows
    summary["links"] = links
    summary["clustering"] = cluster_records(engine, threshold)
    seconds["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    say("assigning golden IDs")
    summary["ids"] = golden.assign(engine, run_id, now)
    say("building golden records")
    summary["golden_records"] = patient.build(engine, now)
    seconds["golden"] = time.perf_counter() - t
    summary["model"] = {
        "prior": result.prior,
        "estimated_at_threshold": result.estimated_at(threshold),
    }
    return _finish(engine, run_id, summary, seconds, t0, result)


def _finish(engine: Engine, run_id: str, summary: dict, seconds: dict, t0: float,
            result: LinkResult | None) -> dict[str, Any]:
    seconds["total"] = time.perf_counter() - t0
    if result is not None:
        seconds.update({f"link_{k}": v for k, v in result.seconds.items()})
    summary["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    clusters = summary.get("ids", {}).get("golden_ids", 0)
    engine.execute(
        """UPDATE identity.run SET finished_at = ?, records = ?, pairs = ?, links = ?, clusters = ?,
                  threshold_weight = ?, model_json = ?, summary_json = ?
           WHERE run_id = ?""",
        [
            datetime.now().replace(microsecond=0),
            summary.get("records"),
            summary.get("pairs_kept"),
            summary.get("links"),
            clusters,
            summary.get("threshold_weight"),
            json.dumps(result.model_json, ensure_ascii=False) if result else None,
            json.dumps({**summary, "curve": result.curve if result else []}, ensure_ascii=False, default=str),
            run_id,
        ],
    )
    return summary
