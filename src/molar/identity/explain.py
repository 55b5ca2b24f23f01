"""Why a golden ID holds the records it holds, as plain data.

``explain(engine, golden_id)`` re-scores every pair of the person's records with the
model of the latest run (Splink's ``score_pairs``, term frequencies taken from the whole
link input) and returns, per pair, the prior and each comparison's level and match
weight — the numbers of a Splink waterfall chart — plus whether the pair was linked and
by which rule, the events that touched the ID and the overrides on its records.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyarrow as pa

from molar.identity.features import close_link_input, open_link_input
from molar.warehouse import Engine

# Pairs re-scored at most (a cluster of 40 records has 780 pairs).
MAX_EXPLAINED_RECORDS = 40

MEMBER_COLUMNS = (
    "unique_id", "source", "source_patient_key", "name", "sex", "birth_date", "mobile", "mobile_names",
    "id_number", "district", "wechat_unionid", "registered_on",
)


# Term-frequency columns that identity.link_input stores only as blind indexes.
BLIND = {"name": "name_bi", "name_py": "name_py_bi", "given_py": "given_py_bi"}


class ExplainError(LookupError):
    """Nothing to explain; the message says why."""


def latest_model(engine: Engine) -> dict[str, Any] | None:
    raw = engine.scalar(
        "SELECT model_json FROM identity.run WHERE model_json IS NOT NULL ORDER BY started_at DESC, run_id DESC LIMIT 1"
    )
    return json.loads(raw) if raw else None


def _tf_columns(model_json: dict[str, Any]) -> list[str]:
    cols = []
    for comp in model_json.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            col = level.get("tf_adjustment_column")
            if col and col not in cols:
                cols.append(col)
    return cols


def _level_labels(model_json: dict[str, Any]) -> dict[str, dict[int, str]]:
    """comparison → gamma value → level label."""
    out: dict[str, dict[int, str]] = {}
    for comp in model_json.get("comparisons", []):
        levels = comp.get("comparison_levels", [])
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {-1: "null (one side missing)"}
        for i, lv in enumerate(non_null):
            labels[len(non_null) - 1 - i] = lv.get("label_for_charts") or lv.get("sql_condition", "")
        out[comp["output_column_name"]] = labels
    return out


def score_members(engine: Engine, members: list[str], model_json: dict[str, Any]) -> pa.Table:
    """Splink scores (with per-comparison Bayes factors) for all pairs of ``members``."""
    from molar.identity.linker import new_linker

    tf_select = []
    for col in _tf_columns(model_json):
        key = BLIND.get(col, col)   # names are counted by their blind indexes
        tf_select.append(
            f"(SELECT CAST(count(*) AS DOUBLE) FROM identity.link_input x WHERE x.{key} = li.{key})"
            f" / nullif((SELECT count({key}) FROM identity.link_input), 0) AS tf_{col}"
        )
    extra = (", " + ", ".join(tf_select)) if tf_select else ""
    try:
        plain = open_link_input(engine, members)
        records = engine.arrow(f"SELECT li.*{extra} FROM {plain} li ORDER BY unique_id")
    finally:
        close_link_input(engine)
    linker, con = new_linker(records, model_json)
    try:
        df = linker.table_management.register_table(records, "__molar_explain_records", overwrite=True)
        scored = linker.inference.score_pairs(df, df)
        out = con.sql(
            f"SELECT * FROM {scored.physical_name} WHERE unique_id_l < unique_id_r "
            "ORDER BY match_weight DESC, unique_id_l, unique_id_r"
        ).to_arrow_table()
    finally:
        con.close()
    return out


def explain(engine: Engine, golden_id: str) -> dict[str, Any]:
    """Members, pairwise waterfall data, events and overrides of one golden ID."""
    status = engine.rows("SELECT status, merged_into, created_at, members FROM identity.golden WHERE golden_id = ?", [golden_id])
    if not status:
        raise ExplainError(f"no golden ID {golden_id!r}")
    state, merged_into, created_at, _ = status[0]
    cols = ", ".join(f"li.{c}" for c in MEMBER_COLUMNS)
    ids = [u for (u,) in engine.rows("SELECT unique_id FROM identity.cluster WHERE golden_id = ?", [golden_id])]
    try:
        plain = open_link_input(engine, ids)
        member_rows = engine.rows(f"SELECT {cols} FROM {plain} li ORDER BY li.unique_id")
    finally:
        close_link_input(engine)
    members = [dict(zip(MEMBER_COLUMNS, r, strict=True)) for r in member_rows]
    events = [
        {"event_type": t, "golden_ids": list(g), "detail": json.loads(d) if d else None, "occurred_at": at}
        for t, g, d, at in engine.rows(
            "SELECT event_type, golden_ids, detail, occurred_at FROM identity.event "
            "WHERE list_contains(golden_ids, ?) ORDER BY occurred_at, event_id",
            [golden_id],
        )
    ]
    ids = [m["unique_id"] for m in members]
    overrides = []
    if ids:
        placeholders = ", ".join("?" * len(ids))
        overrides = [
            {"override_id": o, "kind": k, "unique_ids": list(u), "reason": r, "created_at": at}
            for o, k, u, r, at in engine.rows(
                f"""SELECT override_id, kind, unique_ids, reason, created_at FROM identity.override
                    WHERE list_has_any(unique_ids, [{placeholders}]) ORDER BY created_at""",
                ids,
            )
        ]
    result: dict[str, Any] = {
        "golden_id": golden_id,
        "status": state,
        "merged_into": merged_into,
        "created_at": created_at,
        "members": members,
        "pairs": [],
        "events": events,
        "overrides": overrides,
    }
    if len(ids) < 2:
        return result
    model_json = latest_model(engine)
    if model_json is None:
        return result
    shown = ids[:MAX_EXPLAINED_RECORDS]
    result["pairs_truncated"] = len(ids) > len(shown)
    scored = score_members(engine, shown, model_json).to_pylist()
    stored = {
        (a, b): (linked, rule, veto)
        for a, b, linked, rule, veto in engine.rows(
            f"""SELECT unique_id_l, unique_id_r, linked, rule, veto FROM identity.pair
                WHERE unique_id_l IN ({", ".join("?" * len(shown))})""",
            shown,
        )
    }
    labels = _level_labels(model_json)
    prior = float(model_json.get("probability_two_random_records_match") or 0)
    prior_weight = math.log2(prior / (1 - prior)) if 0 < prior < 1 else 0.0
    for row in scored:
        a, b = row["unique_id_l"], row["unique_id_r"]
        link = stored.get((a, b)) or stored.get((b, a))
        comparisons = []
        for comp, level_labels in labels.items():
            gamma = row.get(f"gamma_{comp}")
            weight = float(row.get(f"mw_{comp}") or 0.0)
            tf_weight = float(row.get(f"mw_tf_adj_{comp}") or 0.0)
            comparisons.append({
                "comparison": comp,
                "gamma": gamma,
                "level": level_labels.get(gamma, str(gamma)),
                "weight": weight,
                "tf_adjustment": tf_weight,
                "left": _value(row, comp, "_l"),
                "right": _value(row, comp, "_r"),
            })
        result["pairs"].append({
            "unique_id_l": a,
            "unique_id_r": b,
            "prior_weight": prior_weight,
            "comparisons": comparisons,
            "match_weight": row["match_weight"],
            "match_probability": row["match_probability"],
            "scored_in_run": link is not None,
            "linked": bool(link[0]) if link else False,
            "rule": link[1] if link else None,
            "vetoed": bool(link[2]) if link else False,
        })
    return result


def _value(row: dict[str, Any], comp: str, side: str) -> Any:
    for key in (f"{comp}{side}", f"{comp}_py{side}"):
        if key in row:
            return row[key]
    return None


def render(data: dict[str, Any]) -> str:
    """Plain-text rendering of ``explain`` output (the CLI prints this)."""
    lines = [f"{data['golden_id']} ({data['status']}"
             + (f", merged into {data['merged_into']}" if data.get("merged_into") else "")
             + f"), {len(data['members'])} records"]
    for m in data["members"]:
        shown = {k: ("" if v is None else v) for k, v in m.items()}
        lines.append(
            "  {unique_id:<24} {name!s:<8} {sex!s:<2} {birth_date!s:<10} {mobile!s:<15} "
            "{id_number!s:<18} {district!s}".format(**shown).rstrip()
        )
    for p in data["pairs"]:
        if not p["scored_in_run"]:
            how = "not a candidate pair (joined through other records)"
        elif p["linked"]:
            how = f"linked by {p['rule']}"
        elif p["vetoed"]:
            how = "not linked: the names rule it out"
        else:
            how = "not linked directly (below the threshold)"
        lines.append("")
        lines.append(f"{p['unique_id_l']} ↔ {p['unique_id_r']}: weight {p['match_weight']:+.2f} "
                     f"(p = {p['match_probability']:.4f}), {how}")
        lines.append(f"  {'prior':<16}{p['prior_weight']:+7.2f}")
        for c in p["comparisons"]:
            tf = f"  (term frequency {c['tf_adjustment']:+.2f})" if abs(c["tf_adjustment"]) > 1e-9 else ""
            lines.append(f"  {c['comparison']:<16}{c['weight'] + c['tf_adjustment']:+7.2f}  {c['level']}{tf}")
    for e in data["events"]:
        lines.append(f"event {e['occurred_at']} {e['event_type']}: {', '.join(e['golden_ids'])}")
    for o in data["overrides"]:
        lines.append(f"override {o['created_at']} {o['kind']} {', '.join(o['unique_ids'])}"
                     + (f" — {o['reason']}" if o.get("reason") else ""))
    return "\n".join(lines)
