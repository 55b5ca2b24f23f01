"""Wall and CPU time of `molar ingest` + `molar identity resolve`, or of `molar demo`, in two
checkouts side by side.

    uv run python benchmarks/privacy/before_after.py --before ../before --after . \
        --data /tmp/chain --runs 3
    uv run python benchmarks/privacy/before_after.py --before ../before --after . --demo
    uv run python benchmarks/privacy/before_after.py --before ../before --after . --demo --after-without crm

Each run loads the same chain into a fresh warehouse with each checkout's own `molar`
command, alternating which goes first, so both see the same machine load. Prints each run
and the medians per checkout and step, wall time and CPU time (user + system over all
threads; less disturbed than wall time when other jobs share the machine). With ``--demo``
each checkout runs ``demo_stages.py`` (beside this file), which also prints wall and CPU
seconds per demo stage, and the medians are given per stage too. ``--after-without crm``
leaves the later checkout's CRM exports out of its generated chain, so that both load the
same rows (each run prints the rows its ingest read).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

PIPELINE = ("ingest", "identity")
DEMO_STAGES = Path(__file__).with_name("demo_stages.py").resolve()


def timed(tree: Path, args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, all threads) and stdout of one command run
    in the checkout ``tree`` (``molar …``, or ``python …``)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    command = args if args[0] == "python" else ["molar", *args]
    done = subprocess.run(
        ["uv", "run", "--quiet", "--frozen", "--directory", str(tree), *command],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.perf_counter() - started, _children_cpu() - cpu_before, done.stdout


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(tree: Path, data: Path | None, as_of: str, patients: int,
            without: list[str]) -> dict[str, tuple[float, float, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        if data is None:
            return {"demo": timed(tree, ["python", str(DEMO_STAGES), str(Path(tmp) / "demo"),
                                         "--patients", str(patients), *(f"--without={w}" for w in without)])}
        warehouse = str(Path(tmp) / "molar.duckdb")
        return {
            "ingest": timed(tree, ["ingest", str(data / "sources"), "--as-of", as_of, "-w", warehouse, "--json"]),
            "identity": timed(tree, ["identity", "resolve", "-w", warehouse, "--json"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the earlier commit")
    parser.add_argument("--after", type=Path, required=True, help="checkout of the later commit")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", type=Path, help="time ingest + identity of this chain (folder with sources/, manifest.json)")
    what.add_argument("--demo", action="store_true", help="time the whole default `molar demo` instead")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=20_000, help="people in the demo chain (with --demo)")
    parser.add_argument("--after-without", action="append", default=[], metavar="FOLDER",
                        help="with --demo: leave this source folder out of the later checkout's chain")
    args = parser.parse_args()
    steps = ("demo",) if args.demo else PIPELINE
    data = None if args.demo else args.data.resolve()
    as_of = "" if data is None else json.loads((data / "manifest.json").read_text())["config"]["end_date"]
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    times: dict[str, dict[str, list[tuple[float, float, str]]]] = {name: {s: [] for s in steps} for name in trees}
    stages: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    for i in range(args.runs):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            took = one_run(trees[name], data, as_of, args.patients, args.after_without if name == "after" else [])
            load = os.getloadavg()[0]
            summary = ", ".join(f"{s} {took[s][0]:.1f} s wall / {took[s][1]:.1f} s CPU" for s in steps)
            print(f"run {i + 1} {name}: {summary} (load {load:.1f})", flush=True)
            if args.demo:
                stages[name].append(json.loads(took["demo"][2].strip().splitlines()[-1]))
                print(f"  stages [wall, CPU] s: {json.dumps(stages[name][-1])}", flush=True)
            for s in steps:
                times[name][s].append(took[s])
    for s in steps:
        for kind, index in (("wall", 0), ("CPU", 1)):
            before, after = (statistics.median(t[index] for t in times[n][s]) for n in trees)
            print(f"median {s} {kind}: before {before:.1f} s, after {after:.1f} s ({after / before - 1:+.0%})")
    for stage in dict.fromkeys(k for runs in stages.values() for run in runs for k in run if k != "rows_read"):
        cpu = {n: statistics.median(run[stage][1] for run in runs if stage in run) if any(stage in r for r in runs)
               else None for n, runs in stages.items()}
        print(f"median demo stage {stage} CPU: " + ", ".join(
            f"{n} {'—' if v is None else f'{v:.1f} s'}" for n, v in cpu.items()))


if __name__ == "__main__":
    main()
