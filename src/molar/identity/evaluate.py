"""Evaluation against ground truth (synthetic chains only; the pipeline never reads truth).

``evaluate(engine, truth_dir)`` compares ``identity.cluster`` with
``truth/records.parquet`` (source, record_key, person_id):

- pairwise precision / recall / F1 over record pairs put in one cluster;
- B-cubed precision / recall / F1 (per record, averaged), which weighs every record
  equally whatever the size of its cluster;
- the same pairwise scores per pair of sources (``source_pair_scores``);
- hard negatives, reported apart: pairs of different people sharing a mobile (family
  phones), of those also sharing a birth date (twins), and pairs of different people
  with the same name in the same district — how many of them ended up merged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from molar.warehouse import Engine


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(engine: Engine, truth_dir: str | Path) -> dict[str, Any]:
    from molar.synth.truth import truth_file

    records = truth_file(truth_dir, "records.parquet")
    e = engine
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ev AS
            SELECT c.unique_id, c.source, c.golden_id, t.person_id
            FROM identity.cluster c
            JOIN read_parquet('{records.as_posix()}') t
              ON t.source = c.source AND t.record_key = c.source_patient_key"""
    )
    matched = int(e.scalar("SELECT count(*) FROM _ev"))
    total = e.count("identity.cluster")
    scopes = {"all_records": _scores(e, "TRUE")}
    sources = [r[0] for r in e.rows("SELECT DISTINCT source FROM identity.cluster ORDER BY 1")]
    if "wechat" in sources:
        # WeChat followers are mostly known by a nickname alone (no name, phone or ID):
        # nothing links them. Scores without them show how the linker does on records
        # that carry identifying fields.
        scopes["without_wechat"] = _scores(e, "source <> 'wechat'")
        scopes["wechat_followers"] = _wechat(e)
    hard = {}
    for name, cond in {
        "shared_mobile": "a.mobile_bi = b.mobile_bi",
        "shared_mobile_and_birth_date": "a.mobile_bi = b.mobile_bi AND a.birth_date = b.birth_date",
        "same_name_same_district": "a.name_bi = b.name_bi AND a.district = b.district",
    }.items():
        n, merged = e.rows(
            f"""SELECT count(*), count(*) FILTER (WHERE ea.golden_id = eb.golden_id)
                FROM identity.link_input a JOIN identity.link_input b ON a.unique_id < b.unique_id AND {cond}
                JOIN _ev ea ON ea.unique_id = a.unique_id JOIN _ev eb ON eb.unique_id = b.unique_id
                WHERE ea.person_id <> eb.person_id"""
        )[0]
        hard[name] = {"pairs_of_different_people": int(n), "wrongly_merged": int(merged),
                      "false_merge_rate": (merged / n) if n else 0.0}
    # Records of one person that share neither phone nor ID (WeChat followers left out:
    # most carry nothing to compare, see scopes.wechat_followers).
    for name, cond in {
        "same_person_different_mobile": "a.mobile_bi <> b.mobile_bi",
        "same_person_no_shared_phone_or_id": "coalesce(a.mobile_bi = b.mobile_bi, FALSE) = FALSE "
                                             "AND coalesce(a.id_number_bi = b.id_number_bi, FALSE) = FALSE",
    }.items():
        cond = f"{cond} AND a.source <> 'wechat' AND b.source <> 'wechat'"
        n, kept = e.rows(
            f"""SELECT count(*), count(*) FILTER (WHERE ea.golden_id = eb.golden_id)
                FROM _ev ea JOIN _ev eb ON ea.person_id = eb.person_id AND ea.unique_id < eb.unique_id
                JOIN identity.link_input a ON a.unique_id = ea.unique_id
                JOIN identity.link_input b ON b.unique_id = eb.unique_id
                WHERE {cond}"""
        )[0]
        hard[name] = {"pairs_of_one_person": int(n), "linked": int(kept), "recall": (kept / n) if n else 1.0}
    by_pair = source_pair_scores(e.rows, "_ev")
    people = int(e.scalar("SELECT count(DISTINCT person_id) FROM _ev"))
    clusters = int(e.scalar("SELECT count(DISTINCT golden_id) FROM _ev"))
    return {
        "records": total,
        "records_with_truth": matched,
        "people": people,
        "golden_ids": clusters,
        "pairwise": scopes["all_records"]["pairwise"],
        "bcubed": scopes["all_records"]["bcubed"],
        "scopes": scopes,
        "by_source_pair": by_pair,
        "hard_cases": hard,
    }


def source_pair_scores(rows: Callable[[str], list[tuple]], table: str) -> list[dict[str, Any]]:
    """Pairwise precision / recall / F1 per unordered pair of sources (his–booking,
    his–wechat …), from ``table`` (source, golden_id, person_id: one row per record),
    so a weak source shows. Counts come from group sizes, not from listing pairs.
    ``rows`` runs a query and returns its rows (``Engine.rows`` or a DuckDB cursor's)."""
    result = rows(
        f"""WITH g AS (SELECT golden_id AS k, source, count(*) AS n FROM {table} GROUP BY ALL),
                 p AS (SELECT person_id AS k, source, count(*) AS n FROM {table} GROUP BY ALL),
                 c AS (SELECT golden_id || '|' || person_id AS k, source, count(*) AS n FROM {table} GROUP BY ALL),
                 pairs AS (
                   SELECT 'pred' AS what, a.source AS s1, b.source AS s2,
                          sum(CASE WHEN a.source = b.source THEN a.n * (a.n - 1) / 2 ELSE a.n * b.n END) AS n
                   FROM g a JOIN g b ON a.k = b.k AND a.source <= b.source GROUP BY ALL
                   UNION ALL
                   SELECT 'true', a.source, b.source,
                          sum(CASE WHEN a.source = b.source THEN a.n * (a.n - 1) / 2 ELSE a.n * b.n END)
                   FROM p a JOIN p b ON a.k = b.k AND a.source <= b.source GROUP BY ALL
                   UNION ALL
                   SELECT 'tp', a.source, b.source,
                          sum(CASE WHEN a.source = b.source THEN a.n * (a.n - 1) / 2 ELSE a.n * b.n END)
                   FROM c a JOIN c b ON a.k = b.k AND a.source <= b.source GROUP BY ALL)
            SELECT s1, s2, sum(n) FILTER (WHERE what = 'true'), sum(n) FILTER (WHERE what = 'pred'),
                   sum(n) FILTER (WHERE what = 'tp')
            FROM pairs GROUP BY ALL ORDER BY 1, 2"""
    )
    out = []
    for s1, s2, true_pairs, pred, tp in result:
        true_pairs, pred, tp = int(true_pairs or 0), int(pred or 0), int(tp or 0)
        if not true_pairs and not pred:
            continue
        p = tp / pred if pred else 1.0
        r = tp / true_pairs if true_pairs else 1.0
        out.append({"sources": f"{s1}–{s2}", "true_pairs": true_pairs, "predicted_pairs": pred,
                    "true_positive_pairs": tp, "precision": p, "recall": r, "f1": _f1(p, r)})
    return out


def _scores(e: Engine, where: str) -> dict[str, Any]:
    """Pairwise and B-cubed scores over the records matching ``where`` (pairs and clusters
    restricted to them)."""
    cells = f"""
        WITH ev AS (SELECT * FROM _ev WHERE {where}),
        cell AS (SELECT golden_id, person_id, count(*) AS n FROM ev GROUP BY ALL),
        cs AS (SELECT golden_id, count(*) AS n FROM ev GROUP BY ALL),
        ps AS (SELECT person_id, count(*) AS n FROM ev GROUP BY ALL)
    """
    tp, pred, true_pairs, records = e.rows(
        cells + """SELECT (SELECT sum(n * (n - 1) / 2) FROM cell), (SELECT sum(n * (n - 1) / 2) FROM cs),
                          (SELECT sum(n * (n - 1) / 2) FROM ps), (SELECT sum(n) FROM cs)"""
    )[0]
    tp, pred, true_pairs = float(tp or 0), float(pred or 0), float(true_pairs or 0)
    p = tp / pred if pred else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    bp, br = e.rows(
        cells + """SELECT sum(cell.n * cell.n / cs.n) / sum(cell.n), sum(cell.n * cell.n / ps.n) / sum(cell.n)
                   FROM cell JOIN cs USING (golden_id) JOIN ps USING (person_id)"""
    )[0]
    bp, br = float(bp or 1.0), float(br or 1.0)
    return {
        "records": int(records or 0),
        "pairwise": {"precision": p, "recall": r, "f1": _f1(p, r), "true_pairs": int(true_pairs),
                     "predicted_pairs": int(pred), "true_positive_pairs": int(tp)},
        "bcubed": {"precision": bp, "recall": br, "f1": _f1(bp, br)},
    }


def _wechat(e: Engine) -> list[dict[str, Any]]:
    """WeChat followers by what their record carries: how many have other records of the
    same person, and how many of those were linked to them (rightly or wrongly)."""
    rows = e.rows(
        """WITH w AS (
             SELECT ev.unique_id, ev.golden_id, ev.person_id,
                    li.mobile_bi IS NOT NULL AS has_mobile, li.name_bi IS NOT NULL AS has_name
             FROM _ev ev JOIN identity.link_input li USING (unique_id) WHERE li.source = 'wechat'),
           others AS (SELECT DISTINCT person_id FROM _ev WHERE unique_id NOT LIKE 'wechat:%'),
           mates AS (
             SELECT w.unique_id,
                    bool_or(x.person_id = w.person_id) AS right_link,
                    bool_or(x.person_id <> w.person_id) AS wrong_link
             FROM w JOIN _ev x ON x.golden_id = w.golden_id AND x.unique_id <> w.unique_id
             GROUP BY w.unique_id)
           SELECT w.has_mobile, w.has_name, count(*), count(o.person_id),
                  count(*) FILTER (WHERE m.right_link), count(*) FILTER (WHERE m.wrong_link)
           FROM w LEFT JOIN others o USING (person_id) LEFT JOIN mates m USING (unique_id)
           GROUP BY ALL ORDER BY ALL"""
    )
    keys = ("bound_mobile", "real_name_nickname", "followers", "with_other_records", "linked_to_own_records",
            "linked_to_someone_else")
    return [dict(zip(keys, r, strict=True)) for r in rows]
