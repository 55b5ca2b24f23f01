"""Incremental linking: the records new since the last identity run, against the rest.

A full run (``resolve``) trains the model and scores every candidate pair of the chain.
An incremental run keeps the last run's trained model, pairs and golden IDs, and touches
only what the new records can change:

1. **batch**: records in no earlier run, and those a load replaced since the last run
   began; records that left ``std.patient`` (erased) are **gone**;
2. **fresh** features (``features_sql``, the path a full run uses) for the batch and
   every record sharing a mobile with a batch or gone record, opened from the sealed
   ``std.patient``: "one person on this phone" depends on all of them;
3. **candidates**: earlier records that meet a batch record in a blocking rule of the
   stored model, found on the stored blind indexes (``name_py_bi`` for ``name_py`` …)
   and plain features; no plaintext is read to find them. They are opened too, with the
   phone features stored for them (unchanged: nobody new shares their phone);
4. Splink scores fresh and candidate records (the **scope**) with the stored model as it
   is, term frequencies counted over the whole link input by blind index, so a pair
   weighs what it would in a full run with that model; the new pairs replace the stored
   pairs inside the scope and every pair of a batch or gone record;
5. the **region** — the scope and every record sharing a linked component, a golden ID
   or a manual override with it — is clustered again (components, conflict splits,
   overrides as in a full run), its golden IDs reassigned by overlap and its golden
   records rebuilt; everything outside keeps its golden ID and record untouched.

Steps 4–5 run in one transaction: a failure leaves the previous result as it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from molar.identity import golden, patient
from molar.identity.explain import BLIND
from molar.identity.features import NAMES, features_sql, open_name_parse, store_link_input
from molar.identity.linker import LinkResult, new_linker, score_pairs
from molar.identity.model import LinkModel, patient_model
from molar.identity.resolve import (
    cluster_records,
    finish_run,
    link_input_arrow,
    new_run_id,
    store_pairs,
)
from molar.privacy import fields, keys
from molar.privacy.rights import apply_suppression
from molar.warehouse import Engine

Progress = Callable[[str], None]

# Blocking-rule columns → what identity.link_input stores for them (a blind index, or the
# feature itself when it identifies no one).
BLOCK_KEYS = {**BLIND, "mobile": "mobile_bi", "mobile_key": "mobile_key_bi", "id_number": "id_number_bi",
              "wechat_unionid": "unionid_bi", "birth_date": "birth_date", "birth_y": "birth_y",
              "birth_m": "birth_m", "birth_d": "birth_d", "sex": "sex", "district": "district"}
_RULE_COLUMN = re.compile(r'\b([lr])\."?(\w+)"?')

PLAIN = "_inc_plain"   # TEMP: the opened link input of the scope (and region), this run only
_TEMP = ("_inc_batch", "_inc_batch_li", "_inc_gone", "_inc_fresh", "_inc_cand", "_inc_scope", "_inc_region",
         "_inc_region_idx", "_inc_open", "_inc_rest", "_inc_shared_unionid", PLAIN)
_RECORD = "(source, source_patient_key)"


class IncrementalError(ValueError):
    """An incremental run cannot start; the message says why and what to run instead."""


def _full_run_needed(why: str, why_zh: str) -> IncrementalError:
    return IncrementalError(f"{why}: run a full `molar identity resolve` "
                            f"/ {why_zh}：请运行一次完整的 molar identity resolve")


def last_run(engine: Engine) -> tuple[str, datetime, dict[str, Any], float, dict[str, Any]]:
    """(run ID, start, trained Splink model, threshold weight, summary) of the latest
    finished run that linked (full or incremental)."""
    rows = engine.rows(
        "SELECT run_id, started_at, model_json, threshold_weight, summary_json FROM identity.run "
        "WHERE finished_at IS NOT NULL AND model_json IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
    )
    if not rows:
        raise _full_run_needed("no trained identity model yet", "尚无已训练的身份识别模型")
    if engine.rows("SELECT 1 FROM identity.link_input WHERE mobile_bi IS NOT NULL AND mobile_key_bi IS NULL LIMIT 1"):
        raise _full_run_needed("the link input was stored before it kept every blocking key",
                               "身份识别输入缺少分块键（旧版本生成）")
    run_id, started, model_json, threshold, summary = rows[0]
    return run_id, started, json.loads(model_json), float(threshold), json.loads(summary or "{}")


def blind_rule(sql: str) -> str:
    """A blocking rule of the linker rewritten onto the stored columns of
    ``identity.link_input`` (equal values have equal blind indexes)."""
    def column(match: re.Match) -> str:
        side, name = match.groups()
        if name not in BLOCK_KEYS:
            raise _full_run_needed(f"the stored model blocks on {name}, which is not stored as a key",
                                   f"已存模型按 {name} 分块，但该键未存储")
        return f"{side}.{BLOCK_KEYS[name]}"
    return _RULE_COLUMN.sub(column, sql)


def _changes(engine: Engine, since: datetime) -> tuple[int, int]:
    """``_inc_batch`` (records new or reloaded since ``since``) and ``_inc_gone`` (stored
    records no longer in std.patient); returns their sizes."""
    engine.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_batch AS
           SELECT source || ':' || source_patient_key AS unique_id, source, source_patient_key FROM std.patient p
           WHERE NOT EXISTS (SELECT 1 FROM identity.link_input li
                             WHERE li.source = p.source AND li.source_patient_key = p.source_patient_key)
              OR _load_id IN (SELECT load_id FROM ops.load WHERE finished_at >= ?)""",
        [since],
    )
    engine.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_gone AS
           SELECT unique_id, mobile_bi FROM identity.link_input li
           WHERE NOT EXISTS (SELECT 1 FROM std.patient p
                             WHERE p.source = li.source AND p.source_patient_key = li.source_patient_key)"""
    )
    return engine.count("_inc_batch"), engine.count("_inc_gone")


def _open(engine: Engine, ids: str, as_of: date, keyring: keys.Keyring, *, fresh: bool) -> int:
    """Add the link input of the std.patient records listed in ``ids`` (``source``,
    ``source_patient_key``) to
    :data:`PLAIN`, through ``features_sql`` as a full run builds it. ``fresh``: the phone
    features as computed here (``ids`` holds everyone on those phones) and new record
    numbers for new records; else the record number and phone features stored for them."""
    source = fields.read_patients(
        engine, where=f"WHERE {_RECORD} IN (SELECT source, source_patient_key FROM {ids})", keyring=keyring)
    engine.register("_inc_source", source)
    try:
        open_name_parse(engine, "_inc_source", keyring)
        engine.execute(f"CREATE OR REPLACE TEMP TABLE _inc_open AS {features_sql('_inc_source', as_of)}")
    finally:
        engine.unregister("_inc_source")
        engine.execute(f"DROP TABLE IF EXISTS {NAMES}")
    if fresh:
        opened = """SELECT o.* REPLACE (coalesce(li.idx, n.top + row_number() OVER (
                               PARTITION BY li.idx IS NULL ORDER BY o.unique_id)) AS idx)
                    FROM _inc_open o LEFT JOIN identity.link_input li USING (unique_id),
                         (SELECT coalesce(max(idx), -1) AS top FROM identity.link_input
                          WHERE unique_id NOT IN (SELECT unique_id FROM _inc_gone)) n"""
    else:
        opened = """SELECT o.* REPLACE (li.idx AS idx, li.mobile_names AS mobile_names,
                               CASE WHEN li.own_phone_bi IS NOT NULL THEN o.mobile END AS own_phone,
                               li.own_phone_bi AS own_phone_bi)
                    FROM _inc_open o JOIN identity.link_input li USING (unique_id)"""
    if engine.scalar(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{PLAIN}' AND temporary"):
        engine.execute(f"INSERT INTO {PLAIN} BY NAME {opened}")
    else:
        engine.execute(f"CREATE TEMP TABLE {PLAIN} AS {opened}")
    engine.execute("DROP TABLE _inc_open")
    return source.num_rows


def _candidates(engine: Engine, model_json: dict[str, Any]) -> int:
    """``_inc_cand``: earlier records (not fresh) that meet a batch record in a blocking
    rule, on stored keys; returns how many."""
    engine.execute("CREATE OR REPLACE TEMP TABLE _inc_batch_li AS SELECT * FROM identity.link_input "
                   "WHERE unique_id IN (SELECT unique_id FROM _inc_batch)")
    meets = " UNION ".join(
        "SELECT r.unique_id, r.source, r.source_patient_key FROM _inc_batch_li l JOIN identity.link_input r "
        f"ON {blind_rule(rule['blocking_rule'])} WHERE r.unique_id NOT IN (SELECT unique_id FROM _inc_fresh)"
        for rule in model_json["blocking_rules_to_generate_predictions"]
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE _inc_cand AS {meets}")
    return engine.count("_inc_cand")


def _term_frequencies(engine: Engine, linker, db_api, model_json: dict[str, Any]) -> None:
    """Register each term-frequency column's frequencies over the comparable records of
    the whole link input (a full run's counts, taken by blind index), for the values the
    scope holds."""
    engine.execute("CREATE OR REPLACE TEMP TABLE _inc_shared_unionid AS SELECT unionid_bi FROM identity.link_input "
                   "WHERE unionid_bi IS NOT NULL GROUP BY 1 HAVING count(*) > 1")
    comparable = ("(li.name_py_bi IS NOT NULL OR li.mobile_bi IS NOT NULL OR li.id_number_bi IS NOT NULL "
                  "OR li.unionid_bi IN (SELECT unionid_bi FROM _inc_shared_unionid))")
    columns = sorted({lv["tf_adjustment_column"] for c in model_json["comparisons"]
                      for lv in c["comparison_levels"] if lv.get("tf_adjustment_column")})
    for column in columns:
        key = BLOCK_KEYS.get(column, column)
        table = engine.arrow(
            f"""WITH wanted AS (SELECT DISTINCT {column}, {key} AS k FROM {PLAIN} WHERE {column} IS NOT NULL),
                    counts AS (SELECT li.{key} AS k, count(*) AS n FROM identity.link_input li
                               WHERE {comparable} AND li.{key} IN (SELECT k FROM wanted) GROUP BY 1),
                    total AS (SELECT count(li.{key}) AS n FROM identity.link_input li WHERE {comparable})
                SELECT w.{column}, CAST(c.n AS DOUBLE) / total.n AS tf_{column}
                FROM wanted w JOIN counts c USING (k), total"""
        )
        linker.table_management.register_term_frequency_lookup(
            db_api.register(table, table_name=f"__molar_tf_{column}"), column)


def _score(engine: Engine, model: LinkModel, model_json: dict[str, Any], threads: int | None,
           summary: dict[str, Any]) -> pa.Table:
    records = link_input_arrow(engine, PLAIN)
    summary["records_linked"] = records.num_rows
    if records.num_rows < 2:
        return pa.table({"unique_id_l": pa.array([], pa.int64()), "unique_id_r": pa.array([], pa.int64()),
                         "match_weight": pa.array([], pa.float64()), "match_probability": pa.array([], pa.float64()),
                         "rule": pa.array([], pa.string()), "veto": pa.array([], pa.bool_())})
    linker, con = new_linker(records, model_json, threads=threads)
    try:
        _term_frequencies(engine, linker, linker._db_api, model_json)
        pairs, _ = score_pairs(linker, con, [records], model, model.threshold_weight - 6)
        return pairs
    finally:
        con.close()


def _region(engine: Engine) -> int:
    """``_inc_region``: the scope, the records of the golden IDs it and the gone records
    had, closed under linked pairs, golden IDs and manual overrides; returns its size."""
    engine.execute(
        """CREATE OR REPLACE TEMP TABLE _inc_region AS
           SELECT unique_id FROM _inc_scope
           UNION SELECT unique_id FROM identity.cluster WHERE golden_id IN (
             SELECT golden_id FROM identity.cluster
             WHERE unique_id IN (SELECT unique_id FROM _inc_scope UNION ALL SELECT unique_id FROM _inc_gone))"""
    )
    size = engine.count("_inc_region")
    while True:
        engine.execute(
            """INSERT INTO _inc_region
               SELECT unique_id_r FROM identity.pair WHERE linked AND unique_id_l IN (SELECT unique_id FROM _inc_region)
               UNION SELECT unique_id_l FROM identity.pair
                     WHERE linked AND unique_id_r IN (SELECT unique_id FROM _inc_region)
               UNION SELECT unique_id FROM identity.cluster WHERE golden_id IN (
                     SELECT golden_id FROM identity.cluster WHERE unique_id IN (SELECT unique_id FROM _inc_region))
               UNION SELECT unnest(unique_ids) FROM identity.override
                     WHERE list_has_any(unique_ids, (SELECT list(unique_id) FROM _inc_region))
               EXCEPT SELECT unique_id FROM _inc_region"""
        )
        grown = engine.count("_inc_region")
        if grown == size:
            return size
        size = grown


def resolve_incremental(
    engine: Engine,
    *,
    model: LinkModel | None = None,
    threshold_weight: float | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    threads: int | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Link the records that arrived since the last identity run to the existing golden
    IDs (see the module docstring); returns a summary like ``resolve``'s with
    ``mode = "incremental"``. Needs a finished earlier run (its trained model and
    threshold). With nothing new or gone, nothing changes."""
    say = progress or (lambda _msg: None)
    model = model or patient_model()
    base_run, base_started, model_json, threshold, base_summary = last_run(engine)
    if threshold_weight is not None and float(threshold_weight) != threshold:
        raise _full_run_needed(f"the last run linked at threshold {threshold:+.1f}; another threshold changes "
                               "links everywhere", f"上次运行的阈值为 {threshold:+.1f}，改变阈值会影响全部关联")
    now = now or datetime.now()
    as_of = as_of or now.date()
    run_id = new_run_id(now)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    keyring = keys.open_keyring_from(None, engine)

    apply_suppression(engine)   # erased people never get a golden ID again (molar.privacy.rights)
    engine.execute("INSERT INTO identity.run (run_id, started_at) VALUES (?, ?)", [run_id, now])
    new, gone = _changes(engine, base_started)
    summary: dict[str, Any] = {"run_id": run_id, "mode": "incremental", "model_from_run": base_run,
                               "new_records": new, "records_gone": gone, "threshold_weight": threshold}
    try:
        if new or gone:
            _link(engine, model, model_json, threshold, run_id, now, as_of, keyring, summary, seconds, say, threads)
        else:
            summary["ids"] = {"golden_ids": int(engine.scalar(
                "SELECT count(*) FROM identity.golden WHERE status = 'active'")), "new": 0, "retired": 0}
    finally:
        for table in _TEMP:
            engine.execute(f"DROP TABLE IF EXISTS {table}")
    summary["records"] = engine.count("identity.link_input")
    summary["links"] = int(engine.scalar("SELECT count(*) FROM identity.pair WHERE linked"))
    summary["pairs_kept"] = engine.count("identity.pair")
    # the model and its precision/recall curve are the last full run's (stored again for
    # the next incremental run); the run's own estimate would cover the scope only
    result = LinkResult(pairs=pa.table({}), model_json=model_json,
                        prior=float(model_json["probability_two_random_records_match"]),
                        threshold_weight=threshold, curve=base_summary.get("curve", []))
    return finish_run(engine, run_id, summary, seconds, t0, result)


def _link(engine: Engine, model: LinkModel, model_json: dict[str, Any], threshold: float, run_id: str,
          now: datetime, as_of: date, keyring: keys.Keyring, summary: dict[str, Any], seconds: dict[str, float],
          say: Progress, threads: int | None) -> None:
    t = time.perf_counter()
    say("opening the new records and their phones")
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _inc_fresh AS
           SELECT unique_id, source, source_patient_key FROM _inc_batch
           UNION SELECT li.unique_id, li.source, li.source_patient_key FROM identity.link_input li
           WHERE li.mobile_bi IN (SELECT mobile_bi FROM std.patient
                                  WHERE {_RECORD} IN (SELECT source, source_patient_key FROM _inc_batch)
                                  UNION ALL SELECT mobile_bi FROM identity.link_input
                                  WHERE unique_id IN (SELECT unique_id FROM _inc_batch)
                                  UNION ALL SELECT mobile_bi FROM _inc_gone)
             AND li.unique_id NOT IN (SELECT unique_id FROM _inc_gone)"""
    )
    summary["records_fresh"] = _open(engine, "_inc_fresh", as_of, keyring, fresh=True)
    seconds["features"] = time.perf_counter() - t
    with engine.transaction():   # all of the result changes, or none of it
        t = time.perf_counter()
        engine.execute("DELETE FROM identity.pair WHERE unique_id_l IN (SELECT unique_id FROM _inc_gone) "
                       "OR unique_id_r IN (SELECT unique_id FROM _inc_gone)")
        store_link_input(engine, PLAIN, "unique_id IN (SELECT unique_id FROM _inc_fresh UNION ALL "
                         "SELECT unique_id FROM _inc_gone)", keyring)
        say("finding the records they meet")
        summary["records_candidates"] = _candidates(engine, model_json)
        _open(engine, "_inc_cand", as_of, keyring, fresh=False)
        engine.execute("CREATE OR REPLACE TEMP TABLE _inc_scope AS SELECT unique_id, idx FROM " + PLAIN)
        seconds["candidates"] = time.perf_counter() - t
        t = time.perf_counter()
        say("scoring the new records")
        pairs = _score(engine, model, model_json, threads, summary)
        seconds["link"] = time.perf_counter() - t
        t = time.perf_counter()
        say("storing pairs")
        in_scope = "IN (SELECT idx FROM _inc_scope)"
        batch = "IN (SELECT unique_id FROM _inc_batch)"
        store_pairs(engine, pairs, threshold, run_id,
                    f"(idx_l {in_scope} AND idx_r {in_scope}) OR unique_id_l {batch} OR unique_id_r {batch}")
        summary["pairs_rescored"] = pairs.num_rows
        seconds["pairs"] = time.perf_counter() - t
        t = time.perf_counter()
        say("clustering")
        summary["records_region"] = _region(engine)
        engine.execute("CREATE OR REPLACE TEMP TABLE _inc_region_idx AS SELECT idx FROM identity.link_input "
                       "WHERE unique_id IN (SELECT unique_id FROM _inc_region)")
        summary["clustering"] = cluster_records(engine, "_inc_region_idx")
        seconds["cluster"] = time.perf_counter() - t
        t = time.perf_counter()
        say("assigning golden IDs")
        summary["ids"] = golden.assign(engine, run_id, now, partial="_inc_region")
        seconds["golden_ids"] = time.perf_counter() - t
        t = time.perf_counter()
        say("building golden records")
        engine.execute("CREATE OR REPLACE TEMP TABLE _inc_rest AS SELECT source, source_patient_key "
                       "FROM identity.link_input WHERE unique_id IN (SELECT unique_id FROM _inc_region) "
                       "AND unique_id NOT IN (SELECT unique_id FROM _inc_scope)")
        _open(engine, "_inc_rest", as_of, keyring, fresh=False)
        engine.execute("DROP TABLE _inc_rest")
        summary["golden_records"] = patient.build(
            engine, now, PLAIN, replace="SELECT golden_id FROM _id_prev UNION SELECT golden_id FROM _id_assign")
        seconds["golden_records"] = time.perf_counter() - t
