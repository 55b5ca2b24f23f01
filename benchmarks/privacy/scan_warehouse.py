"""Which text columns of a warehouse hold plaintext mobiles, ID numbers or patient names?

    uv run python benchmarks/privacy/scan_warehouse.py molar-demo/molar.duckdb

Reads every VARCHAR / VARCHAR[] / JSON column of every table (opened read-only) and counts
the values that contain
- a mainland mobile: 11 digits starting 13–19, optionally after +86/86, not inside a longer number;
- a resident ID number: 18 characters, region digits, a birth date 1900–2029, check character;
- a patient name: equal to a person's name in the chain's ground truth
  (``data/truth/persons.parquet`` beside a ``molar demo`` warehouse, or ``--names FILE``),
  or containing one of three or more characters (two-character names are left out of the
  "contains" test: too many words are also names). The names come from outside the
  warehouse: ``std.patient.name`` is encrypted.
Prints one Markdown row per column with any hit. A regex is a scan, not a proof: it
misses a mobile written with spaces and counts a 11-digit order number that looks like one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from molar.warehouse import DuckDBEngine

MOBILE = r"(^|[^0-9])(\+?86)?1[3-9][0-9]{9}([^0-9]|$)"
ID_NUMBER = r"(^|[^0-9])[1-9][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]([^0-9]|$)"


def scan(path: Path, names: Path) -> list[dict]:
    engine = DuckDBEngine(path, read_only=True)
    try:
        engine.execute("CREATE TEMP TABLE _names AS SELECT DISTINCT name FROM read_parquet(?) "
                       "WHERE name IS NOT NULL AND length(name) >= 2", [str(names)])
        columns = engine.rows(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
            "AND c.data_type IN ('VARCHAR', 'VARCHAR[]', 'JSON') ORDER BY 1, 2, 3")
        found = []
        for schema, table, column, dtype in columns:
            col = '"' + column.replace('"', '""') + '"'
            text = f"array_to_string({col}, ' ')" if dtype.endswith("[]") else f"CAST({col} AS VARCHAR)"
            engine.execute(f'CREATE OR REPLACE TEMP TABLE _v AS SELECT DISTINCT {text} AS v '
                           f'FROM {schema}."{table}" WHERE {col} IS NOT NULL')
            mobiles, ids, rows = engine.rows(
                f"SELECT count(*) FILTER (WHERE regexp_matches(v, '{MOBILE}')), "
                f"count(*) FILTER (WHERE regexp_matches(v, '{ID_NUMBER}')), count(*) FROM _v")[0]
            exact = engine.scalar("SELECT count(*) FROM _v JOIN _names n ON v = n.name")
            inside = engine.scalar("SELECT count(DISTINCT v) FROM _v JOIN _names n "
                                   "ON length(n.name) >= 3 AND v <> n.name AND contains(v, n.name)")
            if mobiles or ids or exact or inside:
                found.append({"column": f"{schema}.{table}.{column}", "distinct values": rows, "mobiles": mobiles,
                              "ID numbers": ids, "names": exact, "text with a name": inside})
        return found
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--names", type=Path, default=None,
                        help="Parquet file with a `name` column (default: the demo's data/truth/persons.parquet)")
    args = parser.parse_args()
    if not args.warehouse.exists():
        sys.exit(f"error: {args.warehouse} not found; run `molar demo` first or give the warehouse file")
    names = args.names or args.warehouse.parent / "data" / "truth" / "persons.parquet"
    if not names.exists():
        sys.exit(f"error: no names to search for: {names} not found; give --names FILE.parquet")
    t = time.perf_counter()
    found = scan(args.warehouse, names)
    keys = ("column", "distinct values", "mobiles", "ID numbers", "names", "text with a name")
    print("| " + " | ".join(keys) + " |\n|---|" + "---:|" * (len(keys) - 1))
    for row in found:
        print("| " + " | ".join(f"`{row[k]}`" if k == "column" else f"{row[k]:,}" for k in keys) + " |")
    print(f"\n{len(found)} columns hold plaintext personal data (distinct values counted; "
          f"scan took {time.perf_counter() - t:.1f} s)")


if __name__ == "__main__":
    main()
