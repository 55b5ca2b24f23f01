"""Run `molar demo` in this process and print wall and CPU seconds per stage as one JSON line.

    uv run python benchmarks/privacy/demo_stages.py OUT_DIR [--patients 20000] [--without crm]

Wraps the demo's stage functions (whichever this checkout has) with timers, so the same
script times checkouts from before and after a change: CPU seconds are user + system over
all threads of the process (DuckDB's, the demo server's), from `time.process_time`.
``--without FOLDER`` deletes that source folder (``data/sources/FOLDER``) right after the
chain is generated, so a checkout whose generator writes more sources can load the same rows
as an older one (for the benchmark only). ``rows_read`` in the output is what ingest read.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import shutil
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


def _leave_out(generate, folders: list[str]):
    """``generate`` followed by deleting the source ``folders`` it wrote."""
    def wrapper(data_dir, *args, **kwargs):
        manifest = generate(data_dir, *args, **kwargs)
        for folder in folders:
            path = Path(data_dir) / "sources" / folder
            if not path.is_dir():
                raise SystemExit(f"--without {folder}: no source folder {path}")
            shutil.rmtree(path)
        return manifest
    return wrapper


def _counted(run, rows: dict[str, int]):
    def wrapper(*args, **kwargs):
        results = run(*args, **kwargs)
        rows["rows_read"] = sum(r.rows_read for r in results)
        return results
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--without", action="append", default=[], metavar="FOLDER",
                        help="leave this source folder out of the generated chain (repeatable)")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {}
    rows: dict[str, int] = {}
    synth, ingest = importlib.import_module("molar.synth.cli"), importlib.import_module("molar.ingest.cli")
    synth.generate_with_progress = _leave_out(synth.generate_with_progress, args.without)
    ingest.run_ingest = _counted(ingest.run_ingest, rows)
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
    print(json.dumps({**seconds, **rows}))


if __name__ == "__main__":
    main()
