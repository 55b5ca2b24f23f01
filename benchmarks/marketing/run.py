"""Marketing benchmark: next-best-treatment rules and a patient's suggestions on a warehouse,
the plan.unaccepted hand-over of a first night (rolled back), and the uplift coverage harness
over 20 seeds. Medians of ``--repeat`` runs, in this process. Raw JSON goes to
benchmarks/out/marketing.json.

    uv run python benchmarks/marketing/run.py /tmp/mkt2_wh/molar.duckdb --as-of 2026-10-31
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from molar.marketing.nbt import next_for_patient, sequence_rules
from molar.marketing.plans import unaccepted_events
from molar.synth.uplift_truth import coverage
from molar.warehouse import open_warehouse


def timed(fn, repeat: int):
    walls, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t)
    return result, round(statistics.median(walls), 3), [round(w, 3) for w in walls]


class Rollback(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--as-of", default="2026-10-31")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    as_of = date.fromisoformat(args.as_of)
    out: dict = {"warehouse": args.warehouse, "as_of": args.as_of}
    with open_warehouse(path=args.warehouse) as engine:
        rules, med, walls = timed(lambda: sequence_rules(engine, as_of, min_patients=20), args.repeat)
        out["rules"] = {"count": len(rules), "median_s": med, "runs": walls,
                        "lift_ge_2": [r.as_dict() for r in rules if r.lift >= 2]}
        patient = engine.scalar("SELECT golden_id FROM identity.cluster ORDER BY golden_id LIMIT 1")
        if patient:
            _, med, walls = timed(lambda: next_for_patient(engine, patient, as_of, rules), args.repeat)
            out["next_for_patient"] = {"median_s": med, "runs": walls}
        night = datetime.combine(as_of, datetime.min.time()) + timedelta(hours=2)
        try:
            with engine.transaction():
                first = unaccepted_events(engine, as_of, 14, night)
                again = unaccepted_events(engine, as_of, 14, night + timedelta(hours=1))
                raise Rollback
        except Rollback:
            pass
        out["plan_unaccepted"] = {"first_night": len(first), "within_7_days": sum(
            e.occurred_at >= night - timedelta(days=7) for e in first), "second_run": len(again)}
    with tempfile.TemporaryDirectory() as tmp, open_warehouse(path=Path(tmp) / "scratch.duckdb") as scratch:
        t = time.perf_counter()
        runs = coverage(scratch, range(20))
        wall = round(time.perf_counter() - t, 1)
    per_rule = defaultdict(list)
    for r in runs:
        per_rule[r["rule"]].append(r)
    out["uplift_coverage"] = {"wall_s": wall, "covered": sum(r["covered"] for r in runs), "runs": len(runs), "rules": {
        k: {"true_effect": v[0]["true_effect"], "covered": sum(r["covered"] for r in v),
            "mean_effect": round(statistics.mean(r["effect"] for r in v), 4),
            "mean_width": round(statistics.mean(r["ci95"][1] - r["ci95"][0] for r in v), 4),
            "excludes_zero": sum(r["ci95"][0] > 0 for r in v)} for k, v in sorted(per_rule.items())}}
    target = Path(__file__).parents[1] / "out" / "marketing.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "rules"}, indent=1, default=str))
    print("rules:", out["rules"]["count"], "median", out["rules"]["median_s"], "s", out["rules"]["runs"])


if __name__ == "__main__":
    main()
