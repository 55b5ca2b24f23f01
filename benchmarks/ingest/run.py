"""Ingest benchmark: load every source file of a synthetic chain into a fresh warehouse.

    uv run python benchmarks/ingest/run.py --patients 1000000 --runs 3

Generates the chain once (cached under benchmarks/out/), then for each run loads all of
it into a new warehouse in a child process and reports wall time, rows/s and peak RSS;
prints per-file times of the median run and writes results.json next to the data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time
from datetime import date
from pathlib import Path
from molar.ingest import ingest_paths
from molar.warehouse import open_warehouse
src, db = Path(sys.argv[1]), Path(sys.argv[2])
engine = open_warehouse(path=db)
t0 = time.perf_counter()
results = ingest_paths(engine, [src], today=date(2026, 10, 31))
wall = time.perf_counter() - t0
engine.close()
print(json.dumps({"wall": wall, "files": [
    {"file": Path(r.file).name, "status": r.status, "rows": r.rows_read, "seconds": r.seconds,
     "loaded": r.rows_loaded, "quarantined": r.rows_quarantined} for r in results]}))
"""


def peak_rss_of(proc: subprocess.Popen) -> tuple[str, int]:
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(err)
    return out, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    out = ROOT / "benchmarks" / "out" / f"chain-{args.patients}"
    if not (out / "manifest.json").exists():
        from molar.synth import SynthConfig, generate

        print(f"generating {args.patients:,} people into {out} …", flush=True)
        generate(SynthConfig(out_dir=out, patients=args.patients, seed=args.seed))
    runs = []
    for i in range(args.runs):
        db = out.parent / f"ingest-{args.patients}.duckdb"
        for f in (db, db.with_suffix(".duckdb.wal")):
            f.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out / "sources"), str(db)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, peak = peak_rss_of(proc)
        result = json.loads(stdout.strip().splitlines()[-1])
        rows = sum(f["rows"] for f in result["files"])
        result.update(rows=rows, rows_per_s=rows / result["wall"], peak_rss_gib=peak / 2**30)
        runs.append(result)
        print(f"run {i + 1}: {rows:,} rows in {result['wall']:.1f}s = {result['rows_per_s']:,.0f} rows/s, "
              f"peak RSS {result['peak_rss_gib']:.2f} GiB", flush=True)
    median = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    print(f"\nmedian of {len(runs)}: {median['rows']:,} rows in {statistics.median(r['wall'] for r in runs):.1f}s "
          f"= {statistics.median(r['rows_per_s'] for r in runs):,.0f} rows/s, "
          f"peak RSS {statistics.median(r['peak_rss_gib'] for r in runs):.2f} GiB")
    print("\nper file (median run):")
    for f in sorted(median["files"], key=lambda f: -f["seconds"]):
        rate = f["rows"] / f["seconds"] if f["seconds"] else 0
        print(f"  {f['file']:<32} {f['rows']:>11,} rows {f['seconds']:7.1f}s {rate:>12,.0f} rows/s")
    (out.parent / f"ingest-{args.patients}.json").write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
