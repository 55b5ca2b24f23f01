"""Train the patient model on a synthetic chain and save it as the default parameters.

The default parameters (``src/molar/identity/default_model.json``) are used when an input
is too small to train on (``LinkModel.min_train_records``): crafted test data,
``molar identity link-file`` on a short file. Training is the same unsupervised training
``resolve`` does (no ground truth is read).

    uv run molar synth generate /tmp/i200k --patients 200000
    uv run molar ingest /tmp/i200k/sources -w /tmp/i200k/molar.duckdb --as-of 2026-10-31
    uv run python benchmarks/identity/train_default.py /tmp/i200k/molar.duckdb
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import date
from pathlib import Path

from molar.identity.features import build_link_input
from molar.identity.linker import new_linker, train
from molar.identity.model import DEFAULT_PARAMETERS_FILE, patient_model
from molar.identity.resolve import link_input_arrow
from molar.privacy.fields import open_patients
from molar.warehouse import open_warehouse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path, help="warehouse with std.patient filled (it is copied, not changed)")
    ap.add_argument("--out", type=Path, default=DEFAULT_PARAMETERS_FILE)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date.today(), help="the chain's as-of date")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "w.duckdb"
        shutil.copy(args.warehouse, copy)
        engine = open_warehouse(path=copy)
        build_link_input(engine, args.as_of, source_table=open_patients(engine))
        records = link_input_arrow(engine)
        engine.close()
    n = records.num_rows
    model = patient_model()
    linker, con = new_linker(records, model.settings())
    con.register("_u_input", records)
    prior = train(linker, model, print, con)
    params = linker.misc.save_model_to_json()
    con.close()
    params["duplicate_pairs_per_record"] = prior * (n - 1) / 2
    params.pop("linker_uid", None)
    args.out.write_text(json.dumps(params, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"trained on {n:,} records (λ = {prior:.3g}); wrote {args.out}")


if __name__ == "__main__":
    main()
