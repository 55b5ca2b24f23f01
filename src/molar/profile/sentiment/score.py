"""Classify every consult message and review text in the warehouse into profile.text_sentiment."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from molar.model.codes import SENTIMENTS
from molar.privacy import fields
from molar.profile.sentiment.aspects import complaint_aspects
from molar.profile.sentiment.model import SentimentModel, default_model
from molar.warehouse import Engine

BATCH = 20_000
TABLE = "profile.text_sentiment"
# Rows the real-time stage (molar.profile.live) writes for texts that reached it as events and
# are not in std yet; a batch run keeps them (they have no std row to be re-derived from).
LIVE_SOURCE = "live"

# text_id, kind, source, source_patient_key, occurred_at, text — one query per kind.
_QUERIES = {
    "consult": """
        SELECT consult_id AS text_id, source, source_patient_key, occurred_at, text
        FROM std.consult
    """,
    # Reviews without text say nothing about sentiment beyond their star rating: skipped.
    "review": """
        SELECT review_id AS text_id, source, source_patient_key,
               CAST(posted_on AS TIMESTAMP) AS occurred_at, text
        FROM std.review
        WHERE text IS NOT NULL AND trim(text) <> ''
    """,
}

_SCHEMA = pa.schema([
    ("text_id", pa.string()),
    ("kind", pa.string()),
    ("source", pa.string()),
    ("source_patient_key", pa.string()),
    ("occurred_at", pa.timestamp("us")),
    ("label", pa.string()),
    ("confidence", pa.float64()),
    ("model_version", pa.string()),
    ("aspects", pa.list_(pa.string())),
])


_ID_COLUMN = {"consult": ("std.consult", "consult_id"), "review": ("std.review", "review_id")}


def score_texts(
    engine: Engine,
    model: SentimentModel | None = None,
    progress: Callable[[int, int], Any] | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Classify std.consult and std.review texts into profile.text_sentiment in one transaction,
    with the aspects of every complaint (``aspects.complaint_aspects``)
    (rows of source 'live', written by the real-time stage for texts not in std, are kept).

    Incremental by default: a text already labelled by the same model version is not
    classified again, and labels of texts no longer in std are dropped; ``full=True``
    reclassifies everything. Texts are classified in batches of 20,000; a text seen before
    (templates, copy-pasted replies) is not classified again.

    ``progress(done, total)`` is called after every batch. Returns counts per kind and label.
    """
    started = time.perf_counter()
    model = model or default_model()
    inputs = {}
    cipher = fields.cipher_for(engine)
    for kind, sql in _QUERIES.items():
        if not full:
            sql = f"""SELECT * FROM ({sql}) q WHERE NOT EXISTS (
                        SELECT 1 FROM {TABLE} s WHERE s.kind = '{kind}' AND s.text_id = q.text_id
                          AND s.model_version = ? AND s.source <> '{LIVE_SOURCE}')"""
            rows = engine.arrow(sql, [model.version])
        else:
            rows = engine.arrow(sql)
        # the texts are decrypted here, in memory, and only their labels are written
        inputs[kind] = fields.open_rows(_ID_COLUMN[kind][0], rows, cipher, key="text_id")
    total = sum(t.num_rows for t in inputs.values())
    seen: dict[str, tuple[str, float, list[str] | None]] = {}
    done = 0
    out: list[pa.Table] = []
    counts: dict[str, dict[str, int]] = {}
    for kind, table in inputs.items():
        counts[kind] = dict.fromkeys(SENTIMENTS, 0)
        for start in range(0, table.num_rows, BATCH):
            batch = table.slice(start, BATCH)
            texts = [t or "" for t in batch.column("text").to_pylist()]
            if len(seen) > 500_000:
                seen.clear()  # bound the memory; a batch's own texts are always added back
            new = list(dict.fromkeys(t for t in texts if t not in seen))
            if new:
                labels, confs = model.predict_proba(new)
                for text, label, conf in zip(new, labels, confs, strict=True):
                    seen[text] = (label, conf, complaint_aspects(text) if label == "complaint" else None)
            labels = [seen[t][0] for t in texts]
            confs = [seen[t][1] for t in texts]
            aspects = [seen[t][2] for t in texts]
            for label in labels:
                counts[kind][label] = counts[kind].get(label, 0) + 1
            n = batch.num_rows
            out.append(pa.Table.from_arrays([
                batch.column("text_id").cast(pa.string()),
                pa.array([kind] * n, pa.string()),
                batch.column("source").cast(pa.string()),
                batch.column("source_patient_key").cast(pa.string()),
                batch.column("occurred_at").cast(pa.timestamp("us")),
                pa.array(labels, pa.string()),
                pa.array(confs, pa.float64()),
                pa.array([model.version] * n, pa.string()),
                pa.array(aspects, pa.list_(pa.string())),
            ], schema=_SCHEMA))
            done += n
            if progress:
                progress(done, total)
    with engine.transaction():
        if full:
            engine.execute(f"DELETE FROM {TABLE} WHERE source <> ?", [LIVE_SOURCE])
        else:
            engine.execute("CREATE OR REPLACE TEMP TABLE rescored (kind VARCHAR, text_id VARCHAR)")
            for t in out:
                engine.append("rescored", t.select(["kind", "text_id"]))
            # Drop labels being replaced and labels of texts that left std.
            engine.execute(
                f"""DELETE FROM {TABLE} s WHERE s.source <> '{LIVE_SOURCE}' AND (
                      EXISTS (SELECT 1 FROM rescored r WHERE r.kind = s.kind AND r.text_id = s.text_id)
                      OR (s.kind = 'consult' AND NOT EXISTS (SELECT 1 FROM std.consult c WHERE c.consult_id = s.text_id))
                      OR (s.kind = 'review' AND NOT EXISTS (
                            SELECT 1 FROM std.review r WHERE r.review_id = s.text_id AND r.text IS NOT NULL AND trim(r.text) <> '')))"""
            )
            engine.execute("DROP TABLE rescored")
        for t in out:
            engine.append(TABLE, t)
    by_label = {label: sum(c.get(label, 0) for c in counts.values()) for label in SENTIMENTS}
    return {
        "texts": total,
        "model_version": model.version,
        "by_kind": counts,
        "by_label": by_label,
        "seconds": round(time.perf_counter() - started, 2),
    }
