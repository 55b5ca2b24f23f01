"""How well profile.text_sentiment matches a synthetic chain's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molar.model.codes import SENTIMENTS
from molar.profile.sentiment.score import LIVE_SOURCE
from molar.warehouse import Engine


def evaluate_on_truth(engine: Engine, truth_dir: str | Path) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1 and the confusion matrix (rows: truth, columns:
    predicted) of the consult labels in profile.text_sentiment against
    ``truth_dir/consult_labels.parquet`` (consult_id, sentiment), joined on consult_id.
    Only the batch scores count: the real-time stage's rows for the same consults (source
    'live', e.g. the demo's replayed day) would count those consults twice."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

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
    truth = [t for t, _ in pairs]
    pred = [p for _, p in pairs]
    labels = list(SENTIMENTS)
    p, r, f, s = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    return {
        "consults": len(pairs),
        "truth_rows": int(truth_rows),
        "unmatched_truth_rows": int(truth_rows) - len(pairs),
        "accuracy": sum(a == b for a, b in pairs) / len(pairs),
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(truth, pred, labels=labels).tolist()},
    }
