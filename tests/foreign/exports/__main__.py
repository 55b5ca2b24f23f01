"""`python -m foreign.exports OUT_DIR [SEED]` writes the export set and its expected outcomes."""

import json
import sys

from foreign.exports.build import build

if len(sys.argv) not in (2, 3):
    sys.exit("usage: python -m foreign.exports OUT_DIR [SEED]")
summary = build(sys.argv[1], seed=int(sys.argv[2]) if len(sys.argv) == 3 else 0)
print(json.dumps(summary["totals"], ensure_ascii=False))
