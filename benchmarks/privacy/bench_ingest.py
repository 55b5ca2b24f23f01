"""Wall time of `molar ingest` of a demo chain's source files into a fresh warehouse.

    uv run python benchmarks/privacy/bench_ingest.py /tmp/demo/molar-demo/data --runs 3

Prints each run and the median; the warehouse of each run is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from molar.ingest.cli import run_ingest
from molar.ui.options import open_engine, settings_from


def one_run(data: Path, today: date) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from(Path(tmp) / "molar.duckdb")
        with open_engine(settings) as engine:
            started = time.perf_counter()
            results = run_ingest(engine, [data / "sources"], today, show_progress=False)
            seconds = time.perf_counter() - started
    return seconds, sum(r.rows_read for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a demo chain's data folder (with sources/ and manifest.json)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    today = date.fromisoformat(json.loads((args.data / "manifest.json").read_text())["config"]["end_date"])
    times = []
    for i in range(args.runs):
        seconds, rows = one_run(args.data, today)
        times.append(seconds)
        print(f"run {i + 1}: {seconds:.1f} s, {rows:,} rows read", flush=True)
    print(f"median of {args.runs}: {statistics.median(times):.1f} s")


if __name__ == "__main__":
    main()
