"""How the link threshold trades precision for recall: the model's own estimate against
ground truth, on one synthetic chain.

Resolves a copy of the chain's warehouse once (pairs are kept down to threshold − 6),
then for each threshold re-decides the links from the stored pairs, re-clusters and
scores against truth. The model's estimate comes from the scored pairs' match
probabilities (no truth): it is what ``resolve`` can see on a real chain.

    uv run python benchmarks/identity/thresholds.py /tmp/i200k --thresholds -2 0 2 4 6 8 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from molar.identity.evaluate import evaluate
from molar.identity.overrides import recluster
from molar.identity.resolve import relink, resolve
from molar.warehouse import open_warehouse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chain", type=Path)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[-2, 0, 2, 4, 6, 8, 10])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    truth = next(p for p in (args.chain / "truth", args.chain / "data" / "truth") if p.exists())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "molar.duckdb"
        shutil.copy(args.chain / "molar.duckdb", db)
        engine = open_warehouse(path=db)
        summary = resolve(engine, threshold_weight=min(args.thresholds) + 6)
        curve = json.loads(engine.scalar(
            "SELECT summary_json FROM identity.run WHERE run_id = ?", [summary["run_id"]]))["curve"]
        estimate = {c["weight"]: c for c in curve}
        for t in args.thresholds:
            links = relink(engine, t)
            recluster(engine)
            q = evaluate(engine, truth)
            scope = q["scopes"].get("without_wechat", q["scopes"]["all_records"])
            est = estimate.get(float(t), {})
            rows.append({
                "threshold": t, "links": links,
                "estimated_precision": est.get("precision"), "estimated_recall": est.get("recall"),
                "precision": scope["pairwise"]["precision"], "recall": scope["pairwise"]["recall"],
                "f1": scope["pairwise"]["f1"],
                "all_records_precision": q["scopes"]["all_records"]["pairwise"]["precision"],
                "all_records_recall": q["scopes"]["all_records"]["pairwise"]["recall"],
            })
            r = rows[-1]
            print(f"{t:+5.1f}  links {links:>9,}  estimated P {r['estimated_precision'] or 0:.4f} "
                  f"R {r['estimated_recall'] or 0:.4f} · measured (without WeChat) P {r['precision']:.4f} "
                  f"R {r['recall']:.4f} F1 {r['f1']:.4f} · all records P {r['all_records_precision']:.4f} "
                  f"R {r['all_records_recall']:.4f}", flush=True)
        engine.close()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
