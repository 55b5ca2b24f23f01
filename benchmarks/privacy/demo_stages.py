"""Run `molar demo` in this process and print wall and CPU seconds per stage as one JSON line.

    uv run python benchmarks/privacy/demo_stages.py OUT_DIR [--patients 20000]

Wraps the demo's stage functions (whichever this checkout has) with timers, so the same
script times checkouts from before and after a change: CPU seconds are user + system over
all threads of the process (DuckDB's, the demo server's), from `time.process_time`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import time
from pathlib import Path

STAGES = {
    "generate": ("molar.synth.cli", "generate_with_progress"),
    "ingest": ("molar.ingest.cli", "run_ingest"),
    "identity": ("molar.demo", "_resolve_identity"),
    "profile": ("molar.profile.cli", "run_profile"),
    "live_events": ("molar.demo_live", "day_events"),
    "demo_user": ("molar.demo", "_add_demo_user"),
    "realtime": ("molar.demo_live", "replay_day"),
    "scan": ("molar.privacy.scan", "scan"),
}


def _timed(name: str, run, seconds: dict[str, list[float]]):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return run(*args, **kwargs)
        finally:
            seconds[name] = [round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)]
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=20_000)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {}
    for name, (module_name, function) in STAGES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:   # a checkout without this stage
            continue
        if hasattr(module, function):
            setattr(module, function, _timed(name, getattr(module, function), seconds))
    from molar.demo import demo

    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        demo(patients=args.patients, out=args.out, as_json=True)
    seconds["total"] = [round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)]
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
