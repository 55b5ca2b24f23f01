"""Profile benchmark: full profile recompute on a synthetic chain — wall time and peak RSS.

A fresh copy of an ingested warehouse is identity-resolved once (not timed). Each
repetition then recomputes the whole profile in a child process (`compute_profile`:
consult/review sentiment, input tables, every catalogue tag, RFM-Health, tiers,
lifecycle, publish with history); wall time and the child's peak RSS are recorded and
medians reported. The first repetition publishes into an empty profile; later ones are
reruns (history diffed, tiers warm-started), which is the steady state. Finally the
lifecycle stages are scored against the chain's churn ground truth.

    uv run molar synth generate /tmp/i1m --patients 1000000
    uv run molar ingest /tmp/i1m/sources -w /tmp/i1m/molar.duckdb --as-of 2026-10-31
    uv run python benchmarks/profile/run.py /tmp/i1m --repeat 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

PREPARE = r"""
import sys
from molar.warehouse import DuckDBEngine, migrate
from molar.identity.resolve import resolve
engine = DuckDBEngine(sys.argv[1], threads=int(sys.argv[2]) or None)
migrate(engine)
if not engine.count("identity.patient"):
    resolve(engine)
engine.close()
"""

CHILD = r"""
import json, sys, time
from datetime import date
from molar.warehouse import DuckDBEngine, migrate
from molar.profile import compute_profile
engine = DuckDBEngine(sys.argv[1], threads=int(sys.argv[2]) or None, memory_limit=sys.argv[4] or None)
migrate(engine)
t = time.perf_counter()
summary = compute_profile(engine, date.fromisoformat(sys.argv[3]))
summary["wall_inside"] = time.perf_counter() - t
engine.close()
print("RESULT " + json.dumps(summary, default=str))
"""


def run_child(code: str, *args: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"child failed (exit {os.waitstatus_to_exitcode(status)}); run it directly to see the error")
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    summary = json.loads(line[len("RESULT "):]) if line else {}
    return {"wall_seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chain", type=Path, help="folder with molar.duckdb (ingested) and truth/")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (0 = all cores)")
    ap.add_argument("--memory-limit", default="", help="DuckDB memory limit, e.g. 4GB (default: DuckDB's)")
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/out"), help="where the warehouse copy goes")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    source = args.chain / "molar.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} not found: generate and ingest a chain first (see --help)")
    args.work.mkdir(parents=True, exist_ok=True)
    copy = args.work / f"profile-{args.chain.name}.duckdb"
    if not copy.exists():
        shutil.copy(source, copy)
    print("preparing: identity resolution (not timed) …", flush=True)
    run_child(PREPARE, str(copy), str(args.threads))
    runs = []
    for i in range(args.repeat):
        r = run_child(CHILD, str(copy), str(args.threads), args.as_of, args.memory_limit)
        s = r["summary"]
        runs.append(r)
        print(f"run {i + 1}: {r['wall_seconds']:.1f} s wall, {r['peak_rss_mb']:.0f} MB peak RSS, "
              f"{s['patients']:,} patients · steps {s['seconds']}", flush=True)
    from molar.profile.evaluate import evaluate_lifecycle
    from molar.warehouse import DuckDBEngine

    engine = DuckDBEngine(copy, threads=args.threads or None)
    as_of = date.fromisoformat(args.as_of)
    cutoffs = [date(as_of.year - 1, as_of.month, as_of.day), date(as_of.year, 4, 30), as_of]
    lifecycle = evaluate_lifecycle(engine, args.chain / "truth", cutoffs)
    sentiment = None
    try:
        from molar.profile.sentiment import evaluate_on_truth

        sentiment = evaluate_on_truth(engine, args.chain / "truth")
    except ImportError:
        pass
    engine.close()
    result = {
        "chain": str(args.chain),
        "threads": args.threads,
        "runs": runs,
        "median_wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "lifecycle_vs_truth": lifecycle,
        "sentiment_vs_truth": sentiment,
    }
    print(f"median: {result['median_wall_seconds']:.1f} s wall, {result['median_peak_rss_mb']:.0f} MB peak RSS")
    for when, data in lifecycle["cutoffs"].items():
        print(f"lifecycle on {when}: " + "; ".join(
            f"{g}: {v['decline_or_churn']:.1%} of {v['patients']:,} in decline/churn"
            for g, v in data["summary"].items() if v["patients"]))
    out = args.json or args.work / f"profile-{args.chain.name}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"results → {out}")


if __name__ == "__main__":
    main()
