"""Doctor matching on a past day against who then treated the case; similar-case timing.

    uv run python benchmarks/operations/matching.py WAREHOUSE [--cut 2025-10-31] [--end 2026-10-31]

Prints JSON: agreement per group (complex / routine / all) with the baselines, and seconds for
the evaluation, one `match` and one `similar` call (single runs; see README for the machine load).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from molar.operations.matching import Request, match
from molar.operations.matching_eval import evaluate_matching
from molar.operations.similar import similar
from molar.warehouse import open_warehouse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--cut", type=date.fromisoformat, default=date(2025, 10, 31))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 10, 31))
    args = parser.parse_args()
    engine = open_warehouse(path=args.warehouse)
    t0 = time.perf_counter()
    result = evaluate_matching(engine, args.cut, args.end)
    result["seconds_evaluation"] = round(time.perf_counter() - t0, 1)
    patient = engine.rows("""SELECT k.golden_id FROM std.treatment t JOIN std.visit v USING (source, visit_id)
                             JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
                             WHERE t.item_code = 'IMP' ORDER BY v.visit_date DESC, k.golden_id LIMIT 1""")[0][0]
    t0 = time.perf_counter()
    match(engine, patient, Request(treatment="IMP"), as_of=args.end)
    result["seconds_match"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    similar(engine, golden_id=patient, as_of=args.end)
    result["seconds_similar"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(result, default=str, indent=2))


if __name__ == "__main__":
    main()
