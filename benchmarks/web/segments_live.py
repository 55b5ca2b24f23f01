"""Time the per-event segment stage of `molar serve`: recomputing the five shipped segments for
a batch of patients after a full refresh (on a copy of the warehouse: it writes).

    cp /tmp/demo20k/molar.duckdb /tmp/seg.duckdb; cp /tmp/demo20k/molar.duckdb.key /tmp/seg.duckdb.key
    uv run python benchmarks/web/segments_live.py /tmp/seg.duckdb --as-of 2026-10-31
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

from molar.segments.catalogue import load_catalogue
from molar.segments.members import refresh, refresh_patients
from molar.warehouse import open_warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    today = date.fromisoformat(args.as_of)
    engine = open_warehouse(path=args.warehouse)
    segments = load_catalogue(engine)
    refresh(engine, segments.values(), today, datetime.combine(today, dtime(23)))
    ids = [g for (g,) in engine.rows("SELECT golden_id FROM identity.patient ORDER BY hash(golden_id) LIMIT ?",
                                     [args.batch * args.repeat])]
    walls = []
    for i in range(args.repeat):
        t = time.perf_counter()
        refresh_patients(engine, segments.values(), today, datetime.combine(today, dtime(23, 30)),
                         ids[i * args.batch:(i + 1) * args.batch])
        walls.append(time.perf_counter() - t)
    print(f"{len(segments)} segments, batches of {args.batch} patients: median {statistics.median(walls):.3f} s "
          f"(runs {', '.join(f'{w:.3f}' for w in walls)})")
    engine.close()


if __name__ == "__main__":
    main()
