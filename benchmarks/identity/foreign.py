"""Identity on the independent generator (tests/foreign/identity): link-file end to end,
pairwise precision / recall / F1 overall and per source pair, beside the oracle ceiling
(the recall of linking exactly the true pairs that share a mobile, ID number or unionid).

    uv run python benchmarks/identity/foreign.py --people 20000 --seed 0
    uv run python benchmarks/identity/foreign.py --handwritten      # the hand-written hard cases
    # score links made by another version: records.csv/truth.csv from `python -m foreign.identity`
    uv run python benchmarks/identity/foreign.py --records /tmp/f20k --links /tmp/f20k/links-main.csv

The linker never sees the truth; it is read only to score.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from foreign.identity import generate, shared_identifier_pairs  # noqa: E402
from molar.identity.evaluate import source_pair_scores  # noqa: E402
from molar.identity.link_file import link_file  # noqa: E402

HANDWRITTEN = Path(__file__).resolve().parents[2] / "tests" / "foreign" / "identity"


def _pair_key(a: str, b: str) -> str:
    return "–".join(sorted((a, b)))


def score(records: pd.DataFrame, truth: pd.DataFrame, links: pd.DataFrame) -> dict:
    con = duckdb.connect()
    frame = truth.merge(links, on=["source", "record_id"], how="left", validate="one_to_one")
    con.register("t", frame[["source", "golden_id", "person_id"]])
    by_pair = source_pair_scores(lambda q: con.execute(q).fetchall(), "t")
    oracle = shared_identifier_pairs(records, truth)
    oracle["sources"] = [_pair_key(a, b) for a, b in zip(oracle["source_l"], oracle["source_r"], strict=True)]
    ceiling = oracle.groupby("sources")["shared"].mean().to_dict()
    for row in by_pair:
        row["oracle_recall"] = ceiling.get(row["sources"])
    tp = sum(r["true_positive_pairs"] for r in by_pair)
    pred = sum(r["predicted_pairs"] for r in by_pair)
    true = sum(r["true_pairs"] for r in by_pair)
    p, r = (tp / pred if pred else 1.0), (tp / true if true else 1.0)
    total = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
             "oracle_recall": float(oracle["shared"].mean()) if len(oracle) else 1.0,
             "true_pairs": true, "predicted_pairs": pred}
    return {"total": total, "by_source_pair": by_pair}


def run(records: pd.DataFrame, truth: pd.DataFrame) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "records.csv", Path(tmp) / "links.csv"
        records.to_csv(src, index=False, encoding="utf-8")
        t = time.perf_counter()
        result = link_file(src, out)
        seconds = time.perf_counter() - t
        links = pd.read_csv(out, dtype=str, keep_default_na=False)
    links["source"] = records["source"].to_numpy()  # output is in input order
    scores = score(records, truth, links)
    scores["seconds"] = seconds
    scores["records"] = len(records)
    scores["warnings"] = result["resolve"].get("warnings", [])
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--handwritten", action="store_true", help="score the hand-written hard cases instead")
    ap.add_argument("--records", type=Path, default=None, help="folder with records.csv and truth.csv")
    ap.add_argument("--links", type=Path, default=None, help="score this record_id,golden_id file (with --records)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    read = dict(dtype=str, keep_default_na=False)
    if args.handwritten:
        records = pd.read_csv(HANDWRITTEN / "handwritten.csv", **read)
        truth = pd.read_csv(HANDWRITTEN / "handwritten_truth.csv", **read)
    elif args.records:
        records = pd.read_csv(args.records / "records.csv", **read)
        truth = pd.read_csv(args.records / "truth.csv", **read)
    else:
        records, truth = generate(args.people, seed=args.seed)
    if args.links:
        links = pd.read_csv(args.links, **read)
        links["source"] = records["source"].to_numpy()
        result = {**score(records, truth, links), "records": len(records), "seconds": float("nan"), "warnings": []}
    else:
        result = run(records, truth)
    t = result["total"]
    print(f"{result['records']:,} records · link-file {result['seconds']:.1f} s")
    for w in result["warnings"]:
        print(f"warning: {w}")
    print(f"{'sources':<18}{'true pairs':>11}{'linked':>9}{'P':>8}{'R':>8}{'F1':>8}{'oracle R':>10}")
    for row in [*result["by_source_pair"], {"sources": "all", **t}]:
        oracle = row.get("oracle_recall")
        print(f"{row['sources']:<18}{row['true_pairs']:>11,}{row['predicted_pairs']:>9,}{row['precision']:>8.4f}"
              f"{row['recall']:>8.4f}{row['f1']:>8.4f}{'' if oracle is None else f'{oracle:>10.4f}'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
