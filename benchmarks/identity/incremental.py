"""Incremental identity linking against a full re-link, side by side, on an ingested chain.

One record in ``--every`` (default 100: 1 %) of ``std.patient`` is held back (chosen by a
hash of its key), the rest resolved in full once; then the held-back records are put
back and, ``--repeat`` times on fresh copies of that warehouse, resolved once
incrementally (``molar identity resolve --incremental``) and once in full (which
retrains the model). Reported: the median wall time of each, the agreement — the
share of records whose cluster (as a set of records) is the same under both — and the
pairs each links (the model trained without the new records, and the retrained one).

``--same-model`` adds a third run per repeat: every record opened and scored with the
stored model through the incremental path (nothing known). Its agreement with the
incremental run isolates what scoring only the new records' neighbourhood leaves out
from what retraining on 1 % more records changes.

    uv run molar synth generate /tmp/c20k --patients 20000
    uv run molar ingest /tmp/c20k/sources -w /tmp/c20k/molar.duckdb --as-of 2026-10-31
    uv run python benchmarks/identity/incremental.py /tmp/c20k/molar.duckdb --repeat 3 --threads 2

The warehouse's key file (``molar.duckdb.key``) is copied with it; with
``MOLAR_MASTER_KEY`` set, that key is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from molar.identity.incremental import resolve_incremental
from molar.identity.resolve import resolve
from molar.warehouse import DuckDBEngine, migrate

AS_OF = date(2026, 10, 31)


def copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    key = source.with_name(source.name + ".key")
    if key.exists():
        shutil.copy(key, target.with_name(target.name + ".key"))
    return target


def clusters(engine: DuckDBEngine) -> set[frozenset[str]]:
    rows = engine.rows("SELECT list(unique_id) FROM identity.cluster GROUP BY golden_id")
    return {frozenset(r[0]) for r in rows}


def linked_pairs(engine: DuckDBEngine) -> int:
    return engine.rows("SELECT count(*) FROM identity.pair WHERE linked")[0][0]


def timed(path: Path, threads: int | None, incremental: bool,
          everything: bool = False) -> tuple[float, dict, set[frozenset[str]]]:
    engine = DuckDBEngine(str(path), threads=threads)
    try:
        if everything:   # nothing known: every record is opened and scored with the stored model
            for table in ("identity.link_input", "identity.pair", "identity.cluster"):
                engine.execute(f"DELETE FROM {table}")
        t = time.perf_counter()
        summary = (resolve_incremental if incremental else resolve)(engine, threads=threads, as_of=AS_OF)
        wall = time.perf_counter() - t
        summary["linked_pairs"] = linked_pairs(engine)
        return wall, summary, clusters(engine)
    finally:
        engine.close()


def prepare(source: Path, work: Path, every: int, threads: int | None) -> Path:
    """A copy of the warehouse resolved without one record in ``every``, which are then
    put back as the new batch."""
    base = copy(source, work / "base.duckdb")
    engine = DuckDBEngine(str(base), threads=threads)
    try:
        migrate(engine)
        held = f"hash(source_patient_key) % {every} = 0"
        engine.execute(f"CREATE TABLE main.later AS SELECT * FROM std.patient WHERE {held}")
        engine.execute(f"DELETE FROM std.patient WHERE {held}")
        resolve(engine, threads=threads, as_of=AS_OF)
        engine.execute("INSERT INTO std.patient SELECT * FROM main.later")
        engine.execute("DROP TABLE main.later")
        engine.execute("CHECKPOINT")
    finally:
        engine.close()
    return base


def agreement(a: set[frozenset[str]], b: set[frozenset[str]]) -> tuple[int, int]:
    """(records whose cluster is the same set in ``a`` and ``b``, records)."""
    return sum(len(c) for c in a & b), sum(len(c) for c in b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path, help="an ingested molar.duckdb (not changed)")
    ap.add_argument("--every", type=int, default=100, help="hold back one record in this many (100: 1 %%)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--same-model", action="store_true", help="also score everything with the stored model")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    threads = args.threads or None
    runs = []
    with tempfile.TemporaryDirectory(dir=args.warehouse.parent) as tmp:
        work = Path(tmp)
        base = prepare(args.warehouse, work, args.every, threads)
        for i in range(args.repeat):
            load = os.getloadavg()[0]
            inc_wall, inc_summary, inc_clusters = timed(copy(base, work / f"inc{i}.duckdb"), threads, True)
            full_wall, full_summary, full_clusters = timed(copy(base, work / f"full{i}.duckdb"), threads, False)
            same, records = agreement(inc_clusters, full_clusters)
            run = {"incremental_seconds": round(inc_wall, 2), "full_seconds": round(full_wall, 2),
                   "load_average_1min_before": round(load, 1), "incremental_steps": inc_summary["seconds"],
                   **{k: inc_summary.get(k) for k in ("new_records", "records_fresh", "records_candidates",
                                                       "records_region", "pairs_rescored")},
                   "records": records, "records_same_cluster": same, "agreement": same / records,
                   # the stored model (trained without the new records) against the retrained one
                   "linked_pairs_incremental": inc_summary["linked_pairs"],
                   "linked_pairs_full": full_summary["linked_pairs"],
                   "full_warnings": full_summary.get("warnings", [])}
            if args.same_model:
                _, _, all_clusters = timed(copy(base, work / f"all{i}.duckdb"), threads, True, everything=True)
                run["agreement_same_model"] = agreement(inc_clusters, all_clusters)[0] / records
            for path in work.glob(f"*{i}.duckdb*"):
                path.unlink()
            runs.append(run)
            print(json.dumps(run), flush=True)
    result = {
        "warehouse": str(args.warehouse), "every": args.every, "threads": threads, "runs": runs,
        "median_incremental_seconds": statistics.median(r["incremental_seconds"] for r in runs),
        "median_full_seconds": statistics.median(r["full_seconds"] for r in runs),
        "agreement_min": min(r["agreement"] for r in runs),
    }
    if args.same_model:
        result["agreement_same_model_min"] = min(r["agreement_same_model"] for r in runs)
    print(f"records {runs[0]['records']:,}, new {runs[0]['new_records']:,}: "
          f"incremental {result['median_incremental_seconds']:.1f} s, full {result['median_full_seconds']:.1f} s "
          f"(medians of {len(runs)}); same cluster as the full re-link for {result['agreement_min']:.4%} of records")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
