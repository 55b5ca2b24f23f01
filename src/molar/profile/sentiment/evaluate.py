"""How well the sentiment model does: against a synthetic chain's ground truth, and on the
hand-labelled held-out split that ships with Molar and that training never reads."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from molar.model.codes import SENTIMENTS
from molar.profile.sentiment.aspects import ASPECTS, complaint_aspects
from molar.profile.sentiment.model import SentimentModel
from molar.profile.sentiment.score import LIVE_SOURCE
from molar.warehouse import Engine

HELDOUT_FILE = Path(__file__).parent / "heldout" / "heldout.tsv"


def _label_metrics(truth: list[str], pred: list[str]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(SENTIMENTS)
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {
        "accuracy": sum(a == b for a, b in zip(truth, pred, strict=True)) / len(truth),
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(truth, pred, labels=labels).tolist()},
    }


def evaluate_on_truth(engine: Engine, truth_dir: str | Path) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix (rows: truth, columns:
    predicted) of the consult labels in profile.text_sentiment against
    ``truth_dir/consult_labels.parquet`` (consult_id, sentiment), joined on consult_id.
    Only the batch scores count: the real-time stage's rows for the same consults (source
    'live', e.g. the demo's replayed day) would count those consults twice."""
    path = Path(truth_dir) / "consult_labels.parquet"
    if not path.is_file():
        raise ValueError(f"{path} not found; give the truth folder of a synthetic chain "
                         "(molar demo --out DIR writes DIR/data/truth)")
    truth_rows = engine.scalar("SELECT count(*) FROM read_parquet(?)", [str(path)])
    pairs = engine.rows(
        """
        SELECT t.sentiment, s.label
        FROM read_parquet(?) t
        JOIN profile.text_sentiment s ON s.kind = 'consult' AND s.text_id = t.consult_id AND s.source <> ?
        """,
        [str(path), LIVE_SOURCE],
    )
    if not pairs:
        raise ValueError("no consult in profile.text_sentiment matches the truth file; "
                         "run `molar sentiment score` on this chain's warehouse first")
    return {
        "consults": len(pairs),
        "truth_rows": int(truth_rows),
        "unmatched_truth_rows": int(truth_rows) - len(pairs),
        **_label_metrics([t for t, _ in pairs], [p for _, p in pairs]),
    }


def load_heldout(path: str | Path = HELDOUT_FILE) -> list[tuple[str, str, list[str]]]:
    """(text, label, aspects) of every held-out message; aspects are labelled for complaints."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        return [(row["text"], row["label"], [a for a in row["aspects"].split(",") if a])
                for row in csv.DictReader(f, delimiter="\t")]


def evaluate_heldout(model: SentimentModel, path: str | Path = HELDOUT_FILE) -> dict[str, Any]:
    """Labels on the held-out split (per-class P/R/F1, confusion, the complaints that came back
    satisfied), and the aspects of its complaints against their hand labels (P/R per aspect)."""
    rows = load_heldout(path)
    texts = [t for t, _, _ in rows]
    truth = [y for _, y, _ in rows]
    pred = model.predict(texts)
    complaints = [(t, set(a)) for t, y, a in rows if y == "complaint"]
    found = [set(complaint_aspects(t)) for t, _ in complaints]
    per_aspect = {}
    for code in ASPECTS:
        tp = sum(code in f and code in a for f, (_, a) in zip(found, complaints, strict=True))
        predicted = sum(code in f for f in found)
        actual = sum(code in a for _, a in complaints)
        per_aspect[code] = {
            "precision": tp / predicted if predicted else None,
            "recall": tp / actual if actual else None,
            "labelled": actual,
        }
    return {
        "messages": len(rows),
        **_label_metrics(truth, pred),
        "complaint_as_satisfied": [t for t, y, p in zip(texts, truth, pred, strict=True)
                                   if y == "complaint" and p == "satisfied"],
        "errors": [{"text": t, "truth": y, "predicted": p}
                   for t, y, p in zip(texts, truth, pred, strict=True) if y != p],
        "aspects": {"complaints": len(complaints), "per_aspect": per_aspect},
    }
