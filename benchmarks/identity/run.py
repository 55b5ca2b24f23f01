"""Identity resolution benchmark: wall time, peak RSS and accuracy on a synthetic chain.

For each repetition, a fresh copy of an ingested warehouse is resolved in a child
process (``molar.identity.resolve``: features, unsupervised training, scoring,
clustering, golden IDs, golden records); wall time and the child's peak RSS are
recorded and the median is reported. Then the last copy is resolved once more (a rerun
with nothing new: IDs must all be kept) and scored against the chain's ground truth.

    uv run molar synth generate /tmp/i1m --patients 1000000
    uv run molar ingest /tmp/i1m/sources -w /tmp/i1m/molar.duckdb --as-of 2026-10-31
    uv run python benchmarks/identity/run.py /tmp/i1m --repeat 3 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from molar.warehouse import DuckDBEngine, migrate
from molar.identity.resolve import resolve
threads = int(sys.argv[2]) or None
engine = DuckDBEngine(sys.argv[1], threads=threads)
migrate(engine)
t = time.perf_counter()
summary = resolve(engine, threads=threads)
summary["wall_inside"] = time.perf_counter() - t
engine.close()
print("RESULT " + json.dumps(summary, default=str))
"""


def run_child(warehouse: Path, threads: int) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(warehouse), str(threads)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"resolve failed (exit {proc.returncode}); run it directly to see the error")
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    summary = json.loads(line[len("RESULT "):])
    return {"wall_seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chain", type=Path, help="folder with molar.duckdb (ingested) and truth/")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (0 = all cores)")
    ap.add_argument("--tmp", type=Path, default=None, help="where to put the warehouse copies")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    source = args.chain / "molar.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} not found: generate and ingest a chain first (see --help)")
    runs = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        copy = Path(tmp) / "molar.duckdb"
        for i in range(args.repeat):
            shutil.copy(source, copy)
            r = run_child(copy, args.threads)
            s = r["summary"]
            runs.append(r)
            print(f"run {i + 1}: {r['wall_seconds']:.1f} s wall, {r['peak_rss_mb']:.0f} MB peak RSS, "
                  f"{s['records']:,} records → {s['ids']['golden_ids']:,} golden IDs · {s['seconds']}", flush=True)
        rerun = run_child(copy, args.threads)
        print(f"rerun: {rerun['wall_seconds']:.1f} s wall, kept {rerun['summary']['ids']['kept']:,} "
              f"of {rerun['summary']['ids']['golden_ids']:,} IDs", flush=True)
        from molar.identity.evaluate import evaluate
        from molar.warehouse import DuckDBEngine

        engine = DuckDBEngine(copy)
        truth = next((p for p in (args.chain / "truth", args.chain / "data" / "truth") if p.exists()), None)
        if truth is None:
            raise SystemExit(f"no truth/ (or data/truth/) folder in {args.chain}")
        quality = evaluate(engine, truth)
        engine.close()
    result = {
        "records": runs[0]["summary"]["records"],
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "median_wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
        "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
        "runs": [{"wall_seconds": r["wall_seconds"], "peak_rss_mb": r["peak_rss_mb"],
                  "steps": r["summary"]["seconds"], "warnings": r["summary"].get("warnings", [])}
                 for r in runs],
        "rerun": {"wall_seconds": rerun["wall_seconds"], "ids": rerun["summary"]["ids"]},
        "quality": quality,
    }
    print(json.dumps(result, indent=2))
    print(f"\n{result['records']:,} records · median {result['median_wall_seconds']:.1f} s wall, "
          f"{result['median_peak_rss_mb']:.0f} MB peak RSS ({args.threads} DuckDB threads, {os.cpu_count()} CPUs)")
    for warning in runs[0]["summary"].get("warnings", []):
        print(f"training: {warning}")
    for name, scope in quality["scopes"].items():
        if isinstance(scope, dict):
            pw, b3 = scope["pairwise"], scope["bcubed"]
            print(f"{name:<16} pairwise P {pw['precision']:.4f} R {pw['recall']:.4f} F1 {pw['f1']:.4f} · "
                  f"B-cubed P {b3['precision']:.4f} R {b3['recall']:.4f} F1 {b3['f1']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
