"""Erasure and suppression-check cost on a copy of a warehouse.

    uv run python benchmarks/privacy/bench_erase.py /tmp/pdemo/molar.duckdb --runs 3

Copies the warehouse to a temporary folder, erases the first golden ID with three or
more member records, then runs the suppression check: the first pass after an erasure
reads every load, later passes only loads not checked yet. Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from molar.privacy import keys, rights
from molar.privacy.blind_index import BlindIndexer
from molar.warehouse import open_warehouse


def timed(step, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    result = step(*args, **kwargs)
    return time.perf_counter() - t, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.warehouse.exists():
        sys.exit(f"error: {args.warehouse} not found; run `molar demo` first")
    erase, first, later = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "molar.duckdb"
            shutil.copy(args.warehouse, copy)
            with open_warehouse(path=copy) as engine:
                indexer = BlindIndexer.from_keyring(keys.open_keyring(engine, bytes(range(32))))
                golden = engine.scalar("SELECT golden_id FROM identity.golden WHERE members >= 3 "
                                       "AND status = 'active' ORDER BY golden_id LIMIT 1")
                seconds, result = timed(rights.erase_patient, engine, golden, indexer)
                erase.append(seconds)
                first.append(timed(rights.apply_suppression, engine, indexer)[0])
                later.append(timed(rights.apply_suppression, engine, indexer)[0])
                records = engine.count("std.patient")
    print(f"{records:,} person records; erased {golden}: {sum(result['rows_removed'].values()):,} rows "
          f"in {len(result['rows_removed'])} tables")
    print("| step | median s |\n|---|---:|")
    for name, values in (("erase (find, delete, suppress)", erase), ("suppression check, first after erasure", first),
                         ("suppression check, nothing new loaded", later)):
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
