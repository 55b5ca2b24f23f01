"""python -m foreign.identity OUT_DIR --people N --seed S: write records.csv and truth.csv."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from foreign.identity import generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m foreign.identity", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.people < 1:
        parser.error(f"--people must be at least 1, got {args.people}")
    started = time.perf_counter()
    records, truth = generate(args.people, seed=args.seed)
    try:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        records.to_csv(args.out_dir / "records.csv", index=False, encoding="utf-8")
        truth.to_csv(args.out_dir / "truth.csv", index=False, encoding="utf-8")
    except OSError as exc:
        parser.exit(
            1, f"cannot write to {args.out_dir}: {exc.strerror}; choose a writable folder\n"
        )
    print(
        f"{len(records):,} records of {args.people:,} people written to {args.out_dir} "
        f"in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
