"""``resolve``: std.patient → link input → scored pairs → clusters → stable golden IDs.

One run, in order:

1. features from ``std.patient`` (plaintext in a TEMP table for this run; the file keeps
   ``identity.link_input``: non-identifying features and blind indexes);
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

Records are numbered ``identity.link_input.idx`` (0..n−1) for the run: the linker and
the clustering work on these integers, the stored tables carry the unique IDs too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molar.identity import cluster, golden, patient
from molar.identity.features import (
    LINK_COLUMNS,
    PLAIN_LINK_INPUT,
    birth_close_sql,
    build_link_input,
    close_link_input,
)
from molar.identity.linker import LinkResult, link, prob_to_weight
from molar.identity.model import LinkModel, patient_model
from molar.privacy.fields import close_patients, open_patients
from molar.privacy.rights import apply_suppression
from molar.warehouse import Engine

Progress = Callable[[str], None]

# Records in one component above which conflict checks use only ID numbers (the all-pairs
# check would be quadratic); such components are split on ID conflicts only.
MAX_CHECKED_COMPONENT = 200
# Birth dates that differ by more than a typo (a few days, day and month swapped, a
# wrong year with the same month) cannot belong to one person unless the two records
# are linked directly.
BIRTH_TYPO_DAYS = 3


def _conflict_sql() -> str:
    """Record pairs inside one component that cannot be one person.

    Different verified ID numbers always conflict, and so do different sexes unless the
    two records share a verified ID number (then the sex is a typo). Birth dates that
    differ by more than a typo conflict unless the two records are themselves linked (a
    direct link is the model's considered judgement; a chain of links is not).
    """
    return f"""
WITH c AS (
  SELECT * FROM (
    SELECT l.idx, l.label, li.id_number_bi AS id_number, li.sex, li.birth_date,
           count(*) OVER (PARTITION BY l.label) AS size
    FROM _id_labels l JOIN identity.link_input li USING (idx)
    WHERE l.label IN (SELECT label FROM _id_labels GROUP BY label HAVING count(*) > 1))
),
candidates AS (
  SELECT x.idx AS a, y.idx AS b,
         coalesce(x.id_number <> y.id_number, FALSE) AS id_conflict,
         coalesce(x.sex <> y.sex AND NOT coalesce(x.id_number = y.id_number, FALSE), FALSE) AS sex_conflict,
         coalesce(NOT {birth_close_sql("x.birth_date", "y.birth_date", BIRTH_TYPO_DAYS)}, FALSE) AS birth_conflict
  FROM c x JOIN c y ON x.label = y.label AND x.idx < y.idx
  WHERE x.size <= {MAX_CHECKED_COMPONENT}
  UNION ALL
  SELECT x.idx, y.idx, TRUE, FALSE, FALSE
  FROM c x JOIN c y ON x.label = y.label AND x.idx < y.idx
  WHERE x.size > {MAX_CHECKED_COMPONENT} AND x.id_number <> y.id_number
)
SELECT k.a, k.b FROM candidates k
LEFT JOIN identity.pair d ON d.linked AND d.idx_l = k.a AND d.idx_r = k.b
WHERE k.id_conflict OR k.sex_conflict OR (k.birth_conflict AND d.idx_l IS NULL)
"""


def new_run_id(now: datetime) -> str:
    return f"R{now:%Y%m%d%H%M%S%f}-{uuid.uuid4().hex[:6]}"


def store_pairs(engine: Engine, pairs: pa.Table, threshold: float, run_id: str, replace: str = "TRUE") -> int:
    """Write the kept pairs (integer record numbers → unique IDs) to ``identity.pair`` in
    place of the stored pairs that meet ``replace`` (all of them by default)."""
    left = pc.cast(pairs.column("unique_id_l"), pa.int64())
    right = pc.cast(pairs.column("unique_id_r"), pa.int64())
    weight = pairs.column("match_weight")
    linked = pc.or_(
        pc.not_equal(pairs.column("rule"), "model"),
        pc.and_(pc.fill_null(pc.greater_equal(weight, threshold), False), pc.invert(pairs.column("veto"))),
    )
    table = pa.table({
        "idx_l": pc.min_element_wise(left, right),
        "idx_r": pc.max_element_wise(left, right),
        "match_weight": weight,
        "match_probability": pairs.column("match_probability"),
        "rule": pairs.column("rule"),
        "veto": pairs.column("veto"),
        "linked": linked,
    })
    with engine.transaction():
        engine.execute(f"DELETE FROM identity.pair WHERE {replace}")
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE _id_pairs (idx_l BIGINT, idx_r BIGINT, match_weight DOUBLE, "
            "match_probability DOUBLE, rule VARCHAR, veto BOOLEAN, linked BOOLEAN)"
        )
        engine.append("_id_pairs", table)
        engine.execute(
            """INSERT INTO identity.pair
               SELECT a.unique_id, b.unique_id, p.idx_l, p.idx_r, p.match_weight, p.match_probability,
                      p.rule, p.veto, p.linked, ?
               FROM _id_pairs p
               JOIN identity.link_input a ON a.idx = p.idx_l
               JOIN identity.link_input b ON b.idx = p.idx_r""",
            [run_id],
        )
        engine.execute("DROP TABLE _id_pairs")
    return int(pc.sum(linked).as_py() or 0)


def relink(engine: Engine, threshold: float) -> int:
    """Re-decide which stored pairs are links at another threshold (no rescoring)."""
    engine.execute(
        "UPDATE identity.pair SET linked = rule <> 'model' OR (coalesce(match_weight >= ?, FALSE) AND NOT veto)",
        [threshold],
    )
    return int(engine.scalar("SELECT count(*) FROM identity.pair WHERE linked"))


def _write_labels(engine: Engine, labels: np.ndarray, nodes: np.ndarray | None) -> None:
    idx = np.arange(labels.size, dtype=np.int64) if nodes is None else nodes
    engine.execute("CREATE OR REPLACE TEMP TABLE _id_labels (idx BIGINT, label BIGINT)")
    engine.append("_id_labels", pa.table({"idx": idx, "label": labels[idx]}))


def cluster_records(engine: Engine, region: str | None = None) -> dict[str, int]:
    """Components of linked pairs, conflict splits and overrides → ``_id_cluster_new``.

    ``region`` names a table of record numbers (``idx``) closed under links, golden IDs
    and overrides (an incremental run): only those records are clustered.
    """
    e = engine
    n = int(e.scalar("SELECT coalesce(max(idx) + 1, 0) FROM identity.link_input"))
    nodes = None if region is None else np.sort(e.arrow(f"SELECT idx FROM {region}").column("idx").to_numpy())
    inside = "" if region is None else f" AND idx_l IN (SELECT idx FROM {region})"
    edges = e.arrow(
        "SELECT idx_l AS a, idx_r AS b, match_weight AS w, rule <> 'model' AS det "
        f"FROM identity.pair WHERE linked{inside}"
    )
    a = edges.column("a").to_numpy()
    b = edges.column("b").to_numpy()
    labels = cluster.components(n, a, b)
    components = int(np.unique(labels if nodes is None else labels[nodes]).size)

    _write_labels(e, labels, nodes)
    conflicts = e.rows(_conflict_sql())
    split = 0
    if conflicts:
        w = np.nan_to_num(edges.column("w").to_numpy(zero_copy_only=False), nan=0.0)
        det = edges.column("det").to_numpy(zero_copy_only=False)
        edge_list = list(zip(a.tolist(), b.tolist(), w.tolist(), det.tolist(), strict=True))
        labels, split = cluster.split_conflicts(labels, edge_list, conflicts)

    overrides = e.rows(
        """SELECT o.override_id, o.kind, list(li.idx) FILTER (WHERE li.idx IS NOT NULL)
           FROM identity.override o
           LEFT JOIN (SELECT override_id, unnest(unique_ids) AS unique_id FROM identity.override) u
             USING (override_id)
           LEFT JOIN identity.link_input li ON li.unique_id = u.unique_id
           GROUP BY o.override_id, o.kind, o.created_at
           ORDER BY o.created_at, o.override_id"""
    )
    if overrides:
        labels = cluster.apply_overrides(labels, [(kind, idxs or []) for _, kind, idxs in overrides])
    if conflicts or overrides:
        _write_labels(e, labels, nodes)
    e.execute(
        "CREATE OR REPLACE TEMP TABLE _id_cluster_new AS "
        "SELECT li.unique_id, li.source, li.source_patient_key, l.label "
        "FROM _id_labels l JOIN identity.link_input li USING (idx)"
    )
    return {
        "components": components,
        "conflicting_pairs": len(conflicts),
        "components_split": split,
        "overrides": len(overrides),
        "clusters": int(np.unique(labels if nodes is None else labels[nodes]).size),
    }


def link_input_arrow(engine: Engine, table: str = PLAIN_LINK_INPUT) -> pa.Table:
    """The records the linker compares: those with something to compare.

    A record with no name, mobile or ID number (a WeChat follower known by a nickname
    only) cannot reach any threshold; it skips the linker and stays a person of its own,
    unless its unionid is shared with another record (a deterministic link).
    """
    cols = ", ".join(LINK_COLUMNS)
    return engine.arrow(
        f"""SELECT idx AS unique_id, {cols} FROM {table}
            WHERE name_py IS NOT NULL OR mobile IS NOT NULL OR id_number IS NOT NULL
               OR wechat_unionid IN (SELECT wechat_unionid FROM {table}
                                     WHERE wechat_unionid IS NOT NULL GROUP BY 1 HAVING count(*) > 1)"""
    )


def resolve(
    engine: Engine,
    *,
    model: LinkModel | None = None,
    threshold_weight: float | None = None,
    threshold_probability: float | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    threads: int | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Resolve ``std.patient`` into golden IDs; returns a summary (counts, timings, model
    estimates). Safe to rerun: golden IDs stay with the same people. Ages (who may be
    addressed as 先生/女士) are taken at ``as_of``, default the day of ``now``.

    The link threshold is ``threshold_weight`` (a match weight) or
    ``threshold_probability`` (a match probability), default ``model.threshold_weight``.
    """
    say = progress or (lambda _msg: None)
    model = model or patient_model()
    if threshold_weight is not None and threshold_probability is not None:
        raise ValueError("give the threshold as a weight or as a probability, not both")
    if threshold_probability is not None:
        if not 0 < threshold_probability < 1:
            raise ValueError(f"threshold_probability must be between 0 and 1, got {threshold_probability}")
        threshold_weight = prob_to_weight(threshold_probability)
    threshold = model.threshold_weight if threshold_weight is None else float(threshold_weight)
    now = now or datetime.now()
    run_id = new_run_id(now)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    apply_suppression(engine)   # erased people never get a golden ID again (molar.privacy.rights)
    say("building link input")
    engine.execute("INSERT INTO identity.run (run_id, started_at) VALUES (?, ?)", [run_id, now])
    try:   # personal columns are decrypted into TEMP tables for this run only
        try:
            records = build_link_input(engine, as_of or now.date(), seconds, source_table=open_patients(engine))
        finally:
            close_patients(engine)
        return _resolve_linked(engine, model, threshold, run_id, now, records, seconds, t0, say, threads)
    finally:
        close_link_input(engine)


def _resolve_linked(engine: Engine, model: LinkModel, threshold: float, run_id: str, now: datetime,
                    records: int, seconds: dict[str, float], t0: float, say: Progress,
                    threads: int | None) -> dict[str, Any]:
    seconds["features"] = time.perf_counter() - t0
    summary: dict[str, Any] = {"run_id": run_id, "records": records, "threshold_weight": threshold}
    result: LinkResult | None = None

    data = link_input_arrow(engine)
    summary["records_linked"] = data.num_rows
    t = time.perf_counter()
    if data.num_rows >= 2:
        result = link(data, model, progress=say, threads=threads)
        seconds["link"] = time.perf_counter() - t
        del data
        t = time.perf_counter()
        say("storing pairs")
        summary["links"] = store_pairs(engine, result.pairs, threshold, run_id)
        summary["pairs_kept"] = result.pairs.num_rows
        summary["warnings"] = result.warnings
    else:
        engine.execute("DELETE FROM identity.pair")
        summary["links"] = summary["pairs_kept"] = 0
    seconds["pairs"] = time.perf_counter() - t
    t = time.perf_counter()
    say("clustering")
    summary["clustering"] = cluster_records(engine)
    seconds["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    say("assigning golden IDs")
    summary["ids"] = golden.assign(engine, run_id, now)
    seconds["golden_ids"] = time.perf_counter() - t
    t = time.perf_counter()
    say("building golden records")
    summary["golden_records"] = patient.build(engine, now, PLAIN_LINK_INPUT)
    seconds["golden_records"] = time.perf_counter() - t
    if result is not None:
        summary["model"] = {"prior": result.prior, "estimated_at_threshold": result.estimated_at(threshold),
                            "blind_spot": blind_spot(engine)}
    return finish_run(engine, run_id, summary, seconds, t0, result)


def blind_spot(engine: Engine) -> dict[str, Any]:
    """What the model's own precision/recall estimate cannot see: it is computed from the
    pairs blocking proposed, so records never compared (nothing to compare on), records
    in no scored pair, and whole sources without a single link are outside it."""
    rows = engine.rows(
        """WITH paired AS (SELECT idx_l AS idx, linked FROM identity.pair
                          UNION ALL SELECT idx_r, linked FROM identity.pair),
                p AS (SELECT idx, bool_or(linked) AS linked FROM paired GROUP BY idx)
           SELECT li.source, count(*), count(p.idx), count(*) FILTER (WHERE p.linked)
           FROM identity.link_input li LEFT JOIN p USING (idx) GROUP BY li.source ORDER BY 1"""
    )
    by_source = {s: {"records": n, "in_a_scored_pair": scored, "linked": linked} for s, n, scored, linked in rows}
    return {
        "records_in_no_scored_pair": sum(v["records"] - v["in_a_scored_pair"] for v in by_source.values()),
        "sources_without_links": [s for s, v in by_source.items() if v["linked"] == 0],
        "by_source": by_source,
    }


def finish_run(engine: Engine, run_id: str, summary: dict, seconds: dict, t0: float,
               result: LinkResult | None) -> dict[str, Any]:
    """Record the run in ``identity.run`` (sizes, model, summary); returns the summary."""
    seconds["total"] = time.perf_counter() - t0
    if result is not None:
        seconds.update({f"link_{k}": v for k, v in result.seconds.items()})
    summary["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    engine.execute(
        """UPDATE identity.run SET finished_at = ?, records = ?, pairs = ?, links = ?, clusters = ?,
                  threshold_weight = ?, model_json = ?, summary_json = ?
           WHERE run_id = ?""",
        [
            datetime.now(),
            summary.get("records"),
            summary.get("pairs_kept"),
            summary.get("links"),
            summary.get("ids", {}).get("golden_ids", 0),
            summary.get("threshold_weight"),
            json.dumps(result.model_json, ensure_ascii=False) if result else None,
            json.dumps({**summary, "curve": result.curve if result else []}, ensure_ascii=False, default=str),
            run_id,
        ],
    )
    return summary
