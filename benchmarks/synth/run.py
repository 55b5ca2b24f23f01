"""Benchmark ``molar.synth.generate``: wall time and peak RSS per run, median of N runs.

Each run happens in a fresh child process (so peak RSS is that run's alone) that this
script samples with psutil every 50 ms, children included.  Results are printed and, with
``--write-readme``, written into the results table of benchmarks/synth/README.md.

    uv run python benchmarks/synth/run.py                 # 1,000,000 people, 3 runs
    uv run python benchmarks/synth/run.py --people 20000 --runs 3
    uv run python benchmarks/synth/run.py --write-readme
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

CHILD = r"""
import json, sys, time
from pathlib import Path
from molar.synth import SynthConfig, generate
t = time.perf_counter()
r = generate(SynthConfig(out_dir=Path(sys.argv[1]), patients=int(sys.argv[2]), seed=int(sys.argv[3])))
print(json.dumps({"seconds": time.perf_counter() - t,
                  "rows": sum(f["rows"] for k, f in r.manifest["files"].items() if k.startswith("sources/"))}))
"""


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(people: int, seed: int, out_dir: Path) -> dict:
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out_dir), str(people), str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    loads = []
    while proc.poll() is None:
        peak = max(peak, _tree_rss(ps))
        loads.append(os.getloadavg()[0])
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"generation failed:\n{err}")
    cpu = _children_cpu() - cpu0  # the child and the worker it waited for
    info = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "generate_s": info["seconds"], "cpu_s": cpu, "peak_rss_mib": peak / 2**20,
            "load": statistics.fmean(loads) if loads else os.getloadavg()[0],
            "source_rows": info["rows"], "output_mib": _dir_size(out_dir) / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: a temp dir, removed)")
    ap.add_argument("--write-readme", action="store_true", help="write the results table into README.md")
    args = ap.parse_args()
    base = args.out or Path(tempfile.mkdtemp(prefix="molar-synth-bench-"))
    results = []
    try:
        for i in range(args.runs):
            r = run_once(args.people, args.seed, base / "out")
            results.append(r)
            print(f"run {i + 1}: wall {r['wall_s']:.1f} s (generate {r['generate_s']:.1f} s), cpu {r['cpu_s']:.1f} s, "
                  f"load {r['load']:.1f}, "
                  f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['source_rows']:,} source rows, "
                  f"{r['output_mib']:.0f} MiB on disk", flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"median: wall {med['wall_s']:.1f} s, cpu {med['cpu_s']:.1f} s, peak RSS {med['peak_rss_mib']:.0f} MiB")
    if args.write_readme:
        _write_readme(args, results, med)


def _write_readme(args, results, med) -> None:
    cpu = platform.processor() or platform.machine()
    lines = [
        BEGIN,
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs ({cpu}), "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}; "
        f"`--people {args.people} --runs {args.runs} --seed {args.seed}`. The machine is shared: "
        f"*load* is the mean 1-minute load average during the run (2.0 = both CPUs busy; our two "
        f"processes alone make about 2).",
        "",
        "| run | wall time (s) | generate() (s) | CPU time, all processes (s) | peak RSS incl. children (MiB) "
        "| load | source rows | output on disk (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(results, 1):
        lines.append(f"| {i} | {r['wall_s']:.1f} | {r['generate_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['peak_rss_mib']:.0f} | {r['load']:.1f} | {r['source_rows']:,} | {r['output_mib']:.0f} |")
    lines.append(f"| **median** | **{med['wall_s']:.1f}** | **{med['generate_s']:.1f}** | **{med['cpu_s']:.1f}** | "
                 f"**{med['peak_rss_mib']:.0f}** | {med['load']:.1f} | {med['source_rows']:,.0f} | "
                 f"{med['output_mib']:.0f} |")
    lines.append(END)
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        text = pre + "\n".join(lines) + post
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README}")


if __name__ == "__main__":
    main()
