"""Explain a patient's profile: every tag, score, tier, stage and sentiment with the inputs
and the rule that produced it. ``explain_patient`` is the Python entry point the API uses;
``molar profile show`` prints it.
"""

from __future__ import annotations

import json
from typing import Any

from molar.profile.catalogue import Tag, load_catalogue
from molar.profile.rfm import ValueWeights
from molar.profile.tiers import TREE_FEATURES, matching_rule
from molar.warehouse import Engine


class UnknownPatient(LookupError):
    """No such golden ID (the message says what to check)."""


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _golden(engine: Engine, golden_id: str) -> str:
    row = engine.rows("SELECT status, merged_into FROM identity.golden WHERE golden_id = ?", [golden_id])
    if not row:
        raise UnknownPatient(
            f"no patient with golden ID {golden_id!r}; golden IDs look like G0000001234 "
            "(see `molar identity explain` to find a patient's ID)"
        )
    status, merged_into = row[0]
    if status == "retired" and merged_into:
        return _golden(engine, merged_into)
    return golden_id


def explain_patient(engine: Engine, golden_id: str, tags: list[Tag] | None = None) -> dict[str, Any]:
    """Everything the profile says about one patient, each item with its inputs and rule."""
    asked = golden_id
    golden_id = _golden(engine, golden_id)
    catalogue = {t.key: t for t in (tags or load_catalogue())}
    run = engine.rows("SELECT run_id, as_of, finished_at FROM profile.run ORDER BY finished_at DESC LIMIT 1")
    out: dict[str, Any] = {
        "golden_id": golden_id,
        "asked_for": asked if asked != golden_id else None,
        "profile_run": {"run_id": run[0][0], "as_of": str(run[0][1])} if run else None,
    }
    values = engine.rows(
        "SELECT tag_key, value, value_num, evidence, valid_from FROM profile.tag_value WHERE golden_id = ? ORDER BY tag_key",
        [golden_id],
    )
    tag_items = []
    for key, value, _value_num, evidence, valid_from in values:
        tag = catalogue.get(key)
        history = engine.rows(
            "SELECT value, valid_from, valid_to FROM profile.tag_history WHERE golden_id = ? AND tag_key = ? "
            "ORDER BY valid_from DESC LIMIT 5",
            [golden_id, key],
        )
        tag_items.append({
            "key": key,
            "dimension": tag.dimension if tag else None,
            "name_en": tag.name_en if tag else key,
            "name_zh": tag.name_zh if tag else key,
            "value": value,
            "unit": tag.unit if tag else None,
            "since": str(valid_from),
            "inputs": _json(evidence),
            "rule": tag.description_en if tag else None,
            "defined_in": tag.defined_in if tag else None,
            "history": [{"value": v, "from": str(f), "to": str(t) if t else None} for v, f, t in history],
        })
    out["tags"] = tag_items

    score = engine.arrow("SELECT * FROM profile.value_score WHERE golden_id = ?", [golden_id]).to_pylist()
    weights = ValueWeights()
    if score:
        s = score[0]
        out["value_score"] = {
            "value_score": s["value_score"],
            "components": {
                "recency": {"days_since_last_visit": s["recency_days"], "score": s["r_score"], "weight": weights.recency},
                "frequency": {"visits_per_year": s["frequency"], "score": s["f_score"], "weight": weights.frequency},
                "monetary": {"spend_24m_yuan": s["monetary_yuan"], "score": s["m_score"], "weight": weights.monetary},
                "health": {"health_risk": s["health_risk"], "recall_adherence": s["recall_adherence"],
                           "score": s["h_score"], "weight": weights.health},
            },
            "rule": (
                "value = 100 × (0.25·recency + 0.25·frequency + 0.35·monetary + 0.15·health); recency, "
                "frequency and monetary are percentiles against the chain; health = ½(1 − risk) + ½ recall adherence"
            ),
        }
    else:
        out["value_score"] = None

    tier = engine.rows("SELECT tier, cluster, distance, run_id FROM profile.tier WHERE golden_id = ?", [golden_id])
    if tier:
        name, cluster, distance, run_id = tier[0]
        item: dict[str, Any] = {"tier": name, "cluster": cluster, "distance_to_centroid": distance}
        if cluster == -1 and score:
            item["rule"] = "too few scored patients to cluster: everyone is potential until there are at least four"
        elif cluster == -1:
            item["rule"] = "no visit yet: people who have not been treated are potential customers (not clustered)"
        else:
            model = engine.rows("SELECT method, rules_json FROM profile.tier_model WHERE run_id = ?", [run_id])
            item["rule"] = f"{model[0][0] if model else 'kmeans'} cluster nearest to the {name} prototype"
            if model and model[0][1] and score:
                match = matching_rule(json.loads(model[0][1]), {k: score[0].get(k) for k in TREE_FEATURES})
                if match:
                    item["in_plain_words"] = {"tier": match[0], "if": match[1]["if"], "purity": match[1]["purity"]}
        out["tier"] = item
    else:
        out["tier"] = None

    stage = engine.arrow("SELECT * FROM profile.lifecycle WHERE golden_id = ?", [golden_id]).to_pylist()
    if stage:
        st = stage[0]
        out["lifecycle"] = {
            "stage": st["stage"], "since": str(st["since"]), "reason": st["reason"],
            "inputs": {
                "days_since_last_visit": st["days_since_last"],
                "expected_interval_days": st["expected_interval_days"],
                "overdue_ratio": st["overdue_ratio"], "spend_trend": st["spend_trend"],
            },
            "transitions": [
                {"from": f, "to": t, "on": str(o), "reason": r}
                for f, t, o, r in engine.rows(
                    "SELECT from_stage, to_stage, occurred_on, reason FROM profile.lifecycle_event "
                    "WHERE golden_id = ? ORDER BY occurred_on DESC, event_id LIMIT 10",
                    [golden_id],
                )
            ],
        }
    else:
        out["lifecycle"] = None

    out.update(_predictions(engine, golden_id))

    keys = engine.rows("SELECT source, source_patient_key FROM identity.cluster WHERE golden_id = ?", [golden_id])
    texts, complaint = [], []
    if keys:
        cond = " OR ".join("(source = ? AND source_patient_key = ?)" for _ in keys)
        params = [v for k in keys for v in k]
        as_of_cut = ""
        if run:
            as_of_cut = f" AND occurred_at < DATE '{run[0][1]}' + INTERVAL 1 DAY"
        texts = engine.rows(
            f"SELECT kind, text_id, occurred_at, label, confidence, aspects FROM profile.text_sentiment WHERE ({cond}){as_of_cut} "
            "ORDER BY occurred_at DESC LIMIT 5",
            params,
        )
        complaint = engine.rows(
            f"SELECT aspects FROM profile.text_sentiment WHERE ({cond}){as_of_cut} AND label = 'complaint' "
            "ORDER BY occurred_at DESC LIMIT 1",
            params,
        )
    out["sentiment"] = {
        "latest": texts[0][3] if texts else None,
        "latest_complaint_aspects": list(complaint[0][0] or []) if complaint else None,
        "recent_texts": [
            {"kind": k, "id": i, "at": str(a), "label": lab, "confidence": c, "aspects": asp}
            for k, i, a, lab, c, asp in texts
        ],
    }
    return out


def _predictions(engine: Engine, golden_id: str) -> dict[str, Any]:
    """The latest churn risk (with reasons) and lifetime value from ``molar churn|clv score``."""
    risk = engine.arrow("SELECT risk, band, horizon_days, reasons, as_of, model_id FROM profile.churn_risk "
                        "WHERE golden_id = ?", [golden_id]).to_pylist()
    clv = engine.arrow("SELECT * EXCLUDE (golden_id) FROM profile.clv WHERE golden_id = ?", [golden_id]).to_pylist()
    out: dict[str, Any] = {"churn_risk": None, "clv": None}
    if risk:
        r = risk[0]
        out["churn_risk"] = {**r, "as_of": str(r["as_of"]), "reasons": _json(r["reasons"]),
                             "rule": f"probability of no visit in the next {r['horizon_days']} days (LightGBM, "
                                     "calibrated); reasons are the features that raise it most"}
    if clv:
        c = clv[0]
        out["clv"] = {**c, "as_of": str(c["as_of"]),
                      "rule": "BG/NBD expected visits × Gamma-Gamma expected spend per visit, undiscounted"}
    return out
