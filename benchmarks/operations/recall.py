"""Recall and fast-track benchmark: the whole chain's recall list, one clinic's, and the
fast-track queue for one slot, each repetition in a child process (the predict benchmark's
runner: wall including imports, time after imports, peak RSS; medians). Reads only.
Raw JSON goes to benchmarks/out/recall.json.

    uv run python benchmarks/operations/recall.py /tmp/ops/demo.duckdb --clinic C01 \
        --department periodontics --slot "2026-11-03 14:00"
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
from pathlib import Path

_spec = importlib.util.spec_from_file_location("predict_run", Path(__file__).parents[1] / "predict" / "run.py")
_predict = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_predict)
run_child = _predict.run_child

CHILD = r"""
import json, sys, time
from datetime import datetime, timedelta
from molar.warehouse import open_warehouse
from molar.operations.fasttrack import Slot, queue
from molar.operations.recall import recalls
from molar.operations.series import data_end
path, clinic, department, slot = sys.argv[1:5]
with open_warehouse(path=path) as engine:
    t = time.perf_counter()
    day = data_end(engine)
    chain = recalls(engine, as_of=day, due_by=day + timedelta(days=30))
    chain_s = time.perf_counter() - t
    s = time.perf_counter()
    one = recalls(engine, as_of=day, clinics=[clinic], due_by=day + timedelta(days=30))
    clinic_s = time.perf_counter() - s
    s = time.perf_counter()
    ranked = queue(engine, Slot(clinic, department, datetime.strptime(slot, "%Y-%m-%d %H:%M")), as_of=day)
    queue_s = time.perf_counter() - s
    print("RESULT " + json.dumps({"compute_s": time.perf_counter() - t, "chain_s": chain_s, "clinic_s": clinic_s,
                                  "queue_s": queue_s, "chain_rows": len(chain), "clinic_rows": len(one),
                                  "eligible": len(ranked)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="a warehouse after ingest, identity and profile (read only)")
    parser.add_argument("--clinic", default="C01")
    parser.add_argument("--department", default="periodontics")
    parser.add_argument("--slot", default="2026-11-03 14:00")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        runs.append(run_child(CHILD, str(args.warehouse), args.clinic, args.department, args.slot))
        r = runs[-1]["result"]
        print(f"wall {runs[-1]['wall_s']} s; chain {r['chain_s']:.2f} s ({r['chain_rows']} rows), clinic "
              f"{r['clinic_s']:.2f} s ({r['clinic_rows']}), queue {r['queue_s']:.2f} s ({r['eligible']} eligible); "
              f"peak RSS {runs[-1]['peak_rss_mb']} MB", flush=True)
    summary = {"warehouse": str(args.warehouse), "runs": runs,
               "median_wall_s": statistics.median(r["wall_s"] for r in runs),
               **{f"median_{k}": round(statistics.median(r["result"][k] for r in runs), 2)
                  for k in ("chain_s", "clinic_s", "queue_s")},
               "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
    out = Path(__file__).resolve().parents[1] / "out"
    out.mkdir(exist_ok=True)
    (out / "recall.json").write_text(json.dumps(summary, indent=2))
    print(f"median wall {summary['median_wall_s']} s: chain {summary['median_chain_s']} s, clinic "
          f"{summary['median_clinic_s']} s, queue {summary['median_queue_s']} s; peak RSS "
          f"{summary['median_peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
