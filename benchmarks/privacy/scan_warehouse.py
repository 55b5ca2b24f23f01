"""Time `molar privacy scan` (molar.privacy.scan) on a warehouse and print what it finds.

    uv run python benchmarks/privacy/scan_warehouse.py molar-demo/molar.duckdb [--runs 3]

Opens the warehouse read-only (its key file or MOLAR_MASTER_KEY must open it), runs the
scan ``--runs`` times and prints one Markdown row per column with a hit and the median
wall time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from molar.privacy import keys, scan
from molar.warehouse import DuckDBEngine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.warehouse.exists():
        sys.exit(f"error: {args.warehouse} not found; run `molar demo` first or give the warehouse file")
    engine = DuckDBEngine(args.warehouse, read_only=True)
    try:
        keyring = keys.open_keyring_from(None, engine)
        results = [scan.scan(engine, keyring) for _ in range(args.runs)]
    finally:
        engine.close()
    keys_ = ("column", "values", "mobiles", "id_numbers", "names", "text_with_name")
    print("| " + " | ".join(keys_) + " |\n|---|" + "---:|" * (len(keys_) - 1))
    for hit in results[-1].hits:
        row = vars(hit)
        print("| " + " | ".join(f"`{row[k]}`" if k == "column" else f"{row[k]:,}" for k in keys_) + " |")
    seconds = sorted(round(r.seconds, 2) for r in results)
    print(f"\n{results[-1].summary()}\n{results[-1].columns_scanned} columns, {results[-1].patient_names:,} patient "
          f"names; scan took {statistics.median(seconds):.1f} s (median of {seconds})")


if __name__ == "__main__":
    main()
