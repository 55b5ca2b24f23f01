"""Operations benchmark: `molar ops forecast` (evaluation + forecast + store) and `molar ops
staffing` on a copy of a warehouse, each repetition in a child process (the predict
benchmark's runner: wall including imports, time after imports, peak RSS; medians).
Raw JSON goes to benchmarks/out/operations.json.

    uv run python benchmarks/operations/run.py /tmp/ops/demo.duckdb
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import tempfile
from pathlib import Path

_spec = importlib.util.spec_from_file_location("predict_run", Path(__file__).parents[1] / "predict" / "run.py")
_predict = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_predict)
run_child = _predict.run_child

CHILD = r"""
import json, sys, time
from molar.warehouse import open_warehouse
from molar.operations.forecast import run_forecast
from molar.operations.staffing import staffing
with open_warehouse(path=sys.argv[1]) as engine:
    t = time.perf_counter()
    result = run_forecast(engine)
    forecast_s = time.perf_counter() - t
    s = time.perf_counter()
    plan = staffing(engine)
    staffing_s = time.perf_counter() - s
    m = result["metrics"].get("appointments", {})
    print("RESULT " + json.dumps({"compute_s": time.perf_counter() - t, "forecast_s": forecast_s,
                                  "staffing_s": staffing_s, "slots": result["slots"],
                                  "history_weeks": result["history_weeks"], "mape": m.get("mape"),
                                  "seasonal_naive_mape": m.get("seasonal_naive_mape")}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path, help="a warehouse with appointments (copied; the original is not changed)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            copy = Path(tmp) / "molar.duckdb"
            shutil.copyfile(args.warehouse, copy)
            runs.append(run_child(CHILD, str(copy)))
            r = runs[-1]
            print(f"wall {r['wall_s']} s; forecast {r['result']['forecast_s']:.1f} s, staffing "
                  f"{r['result']['staffing_s']:.1f} s; peak RSS {r['peak_rss_mb']} MB", flush=True)
    summary = {"warehouse": str(args.warehouse), "runs": runs,
               "median_wall_s": statistics.median(r["wall_s"] for r in runs),
               "median_forecast_s": round(statistics.median(r["result"]["forecast_s"] for r in runs), 1),
               "median_staffing_s": round(statistics.median(r["result"]["staffing_s"] for r in runs), 1),
               "median_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
    out = Path(__file__).resolve().parents[1] / "out"
    out.mkdir(exist_ok=True)
    (out / "operations.json").write_text(json.dumps(summary, indent=2))
    print(f"median wall {summary['median_wall_s']} s (forecast {summary['median_forecast_s']} s, staffing "
          f"{summary['median_staffing_s']} s), peak RSS {summary['median_peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
