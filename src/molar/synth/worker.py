"""Part B of a generation run (booking workbooks, WeChat) in its own process.

Started by :func:`molar.synth.generator.generate` as ``python -m molar.synth.worker`` with
the configuration as JSON on stdin; writes ``OUT/.part_b/summary.json`` when done.
"""

from __future__ import annotations

import json
import sys

from molar.synth.config import SynthConfig
from molar.synth.generator import run_part_b
from molar.synth.output import PART_DIR


def main() -> None:
    config = SynthConfig.from_json(sys.stdin.read())
    summary = run_part_b(config)
    path = config.out_dir / PART_DIR / "summary.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    main()
