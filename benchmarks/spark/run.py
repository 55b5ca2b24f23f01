"""Spark benchmark: the profile steps that run on Spark today, timed on DuckDB and on
Spark local mode over the same input tables.

A synthetic chain is generated, ingested, identity-resolved and profiled once on DuckDB
(not timed); the profile's input tables are then copied to a Spark warehouse. Each step
(RFM-Health value scores, lifecycle stages, value tiers) runs ``--repeat`` times on each
engine; the medians are reported, with Spark's session start-up and the copy timed apart.

    uv run python benchmarks/spark/run.py --patients 2000 --repeat 3
    uv run python benchmarks/spark/run.py --patients 20000 --repeat 3 --master 'local[2]'
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from molar.config import load_settings
from molar.identity import resolve
from molar.ingest import ingest_paths
from molar.profile.lifecycle import compute_lifecycle
from molar.profile.rfm import compute_value_scores
from molar.profile.run import compute_profile
from molar.profile.tiers import compute_tiers
from molar.synth import SynthConfig, generate
from molar.warehouse import open_spark_warehouse, open_warehouse

INPUTS = ("person", "visits", "treatments", "charges", "appointments", "texts", "new_tag")
PROFILE_TABLES = ("profile.churn_risk", "profile.tier_model")


def _timed(step, repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default=load_settings().spark_master,
                        help="Spark master URL (default: spark_master in molar.toml / MOLAR_SPARK_MASTER, else local[2])")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    out = Path(tempfile.mkdtemp(prefix="molar-spark-bench-"))
    config = SynthConfig(out_dir=out / "data", patients=args.patients, clinics=4, seed=args.seed)
    generate(config)
    as_of = config.end_date
    duck = open_warehouse(path=out / "molar.duckdb")
    ingest_paths(duck, [out / "data" / "sources"], today=as_of)
    resolve(duck, as_of=as_of)
    compute_profile(duck, as_of)

    started = time.perf_counter()
    spark = open_spark_warehouse(load_settings().with_overrides(spark_master=args.master), out / "spark")
    session_start = time.perf_counter() - started
    started = time.perf_counter()
    for table in (*INPUTS, *PROFILE_TABLES):
        spark.load(table, duck.arrow(f"SELECT * FROM {table}"))
    copy = time.perf_counter() - started

    run_at = datetime(as_of.year, as_of.month, as_of.day)
    steps = {
        "value_scores": lambda e: compute_value_scores(e, as_of, "P-bench"),
        "lifecycle": lambda e: compute_lifecycle(e, as_of, "P-bench"),
        "tiers": lambda e: compute_tiers(e, "P-bench", run_at),
    }
    result = {
        "patients": args.patients,
        "golden_ids": duck.count("person"),
        "visits": duck.count("visits"),
        "master": args.master,
        "repeat": args.repeat,
        "spark_session_start_s": round(session_start, 2),
        "copy_inputs_to_spark_s": round(copy, 2),
        "median_s": {},
    }
    for name, step in steps.items():
        result["median_s"][name] = {
            "duckdb": _timed(lambda step=step: step(duck), args.repeat),
            "spark": _timed(lambda step=step: step(spark), args.repeat),
        }
    print(json.dumps(result, indent=2))
    spark.close()
    spark.spark.stop()
    duck.close()


if __name__ == "__main__":
    main()
