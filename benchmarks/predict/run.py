"""Predict benchmarks: CLV fit on CDNOW, CLV scoring and churn scoring on a warehouse.

Each repetition runs in a child process; wall time (including imports), the time after
imports (reading, fitting, scoring, writing) and the child's peak RSS are recorded and medians reported. Raw JSON goes to benchmarks/out/.

    uv run python benchmarks/predict/run.py cdnow ../shared/data/cdnow_sample.csv
    uv run python benchmarks/predict/run.py clv-score /tmp/pdemo/molar.duckdb --as-of 2026-10-31
    uv run python benchmarks/predict/run.py churn-score /tmp/pdemo/molar.duckdb --as-of 2026-10-31
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

CHILD = {
    "cdnow": r"""
import json, sys, time
from datetime import date
from pathlib import Path
from molar.predict.clv import BetaGeoModel, GammaGammaModel, read_transactions, summarise
t = time.perf_counter()
s = summarise(read_transactions(Path(sys.argv[1]), "customer_id", "date", "amount_usd"), date(1997, 9, 30))
b = BetaGeoModel().fit(s.frequency, s.recency, s.age)
g = GammaGammaModel().fit(s.frequency, s.monetary)
print("RESULT " + json.dumps({"compute_s": time.perf_counter() - t, "customers": b.customers_,
                              "bgnbd": b.as_dict(), "gamma_gamma": g.as_dict()}))
""",
    "clv-score": r"""
import json, sys, time
from datetime import date
from molar.warehouse import open_warehouse
from molar.predict.clv.score import score_clv
with open_warehouse(path=sys.argv[1]) as engine:
    t = time.perf_counter()
    result = score_clv(engine, date.fromisoformat(sys.argv[2]))
    print("RESULT " + json.dumps({"compute_s": time.perf_counter() - t, **result}))
""",
    "churn-score": r"""
import json, sys, time
from datetime import date
from molar.warehouse import open_warehouse
from molar.predict.churn.score import score_churn
with open_warehouse(path=sys.argv[1]) as engine:
    t = time.perf_counter()
    result = score_churn(engine, date.fromisoformat(sys.argv[2]))
    print("RESULT " + json.dumps({"compute_s": time.perf_counter() - t, **result}))
""",
}


def run_child(code: str, *args: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child failed with status {status}")
    result = json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))
    return {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024), "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=sorted(CHILD))
    parser.add_argument("path", type=Path, help="CDNOW CSV, or a warehouse file (copied; the original is not changed)")
    parser.add_argument("--as-of", default="2026-10-31")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            if args.what == "cdnow":
                runs.append(run_child(CHILD["cdnow"], str(args.path)))
            else:
                copy = Path(tmp) / "molar.duckdb"
                shutil.copyfile(args.path, copy)
                runs.append(run_child(CHILD[args.what], str(copy), args.as_of))
            run = runs[-1]
            print(f"{args.what}: {run['wall_s']} s ({run['result']['compute_s']:.2f} s after imports), "
                  f"peak RSS {run['peak_rss_mb']} MB", flush=True)
    summary = {"what": args.what, "path": str(args.path), "runs": runs,
               "median_wall_s": statistics.median(r["wall_s"] for r in runs),
               "median_compute_s": round(statistics.median(r["result"]["compute_s"] for r in runs), 2),
               "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
    out = Path(__file__).resolve().parents[1] / "out"
    out.mkdir(exist_ok=True)
    (out / f"predict-{args.what}.json").write_text(json.dumps(summary, indent=2))
    print(f"median {summary['median_wall_s']} s ({summary['median_compute_s']} s after imports), peak RSS {summary['median_peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
