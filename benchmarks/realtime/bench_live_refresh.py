"""CPU and SQL statements per live profile refresh (`LiveProfile.refresh`) on a demo warehouse.

    uv run python benchmarks/realtime/bench_live_refresh.py molar-demo/molar.duckdb [--refreshes 10]
    PYTHONPATH=../other/src uv run python benchmarks/realtime/bench_live_refresh.py …   # another checkout

Works on a copy of the warehouse (its key file beside it, or MOLAR_MASTER_KEY). Each refresh
takes 30 random patients (every fifth: 160, like the demo's evening telemetry batch), as of
the day of the latest live event, inside a transaction that is rolled back, so every
refresh sees the same warehouse. Prints CPU and wall seconds per refresh, the statements per
refresh and the statements that took longest.
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from molar.profile.live import LiveProfile
from molar.warehouse.duckdb_engine import DuckDBEngine


def _count_statements(stats: dict[str, list[float]]) -> None:
    for name in ("execute", "rows", "arrow"):
        original = getattr(DuckDBEngine, name)

        def timed(self, sql, params=None, _original=original):
            started = time.perf_counter()
            try:
                return _original(self, sql, params)
            finally:
                entry = stats[" ".join(sql.split())[:80]]
                entry[0] += 1
                entry[1] += time.perf_counter() - started

        setattr(DuckDBEngine, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="DuckDB threads")
    parser.add_argument("--top", type=int, default=8, help="slowest statements to print")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / args.warehouse.name
        shutil.copyfile(args.warehouse, copy)
        key = args.warehouse.with_suffix(".duckdb.key")
        if key.exists():
            shutil.copyfile(key, copy.with_suffix(".duckdb.key"))
        engine = DuckDBEngine(copy, threads=args.threads)
        day = engine.scalar("SELECT max(occurred_at)::DATE FROM ops.rt_event")
        if day is None:
            raise SystemExit(f"{args.warehouse} has no live events; run `molar demo` to make one")
        ids = [r[0] for r in engine.rows("SELECT golden_id FROM identity.patient ORDER BY golden_id")]
        live, rng = LiveProfile(today=lambda: day), random.Random(1)
        stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        _count_statements(stats)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(args.refreshes):
            patients = sorted(rng.sample(ids, 160 if i % 5 == 0 else 30))
            engine.execute("BEGIN TRANSACTION")
            live.refresh(engine, patients, day, f"bench-{i}", datetime.combine(day, datetime.min.time()))
            engine.execute("ROLLBACK")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        engine.close()
    n = args.refreshes
    print(f"{n} refreshes as of {day}: {cpu / n:.3f} s CPU and {wall / n:.3f} s wall per refresh, "
          f"{sum(v[0] for v in stats.values()) / n:.0f} statements per refresh")
    for sql, (count, seconds) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:args.top]:
        print(f"{seconds / n * 1000:7.1f} ms  {count / n:4.1f}×  {sql}")


if __name__ == "__main__":
    main()
