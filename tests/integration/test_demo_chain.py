"""Ingest of a generated chain quarantines exactly the rows the generator made invalid."""

import json
from pathlib import Path

import duckdb
import pytest

from molar.ingest import ingest_paths
from molar.synth import SynthConfig, generate
from molar.warehouse import open_warehouse
from support import assert_accounting

# What the generator calls each defect, and the reason ingest must give for it.
EXPECTED_CODE = {
    "duplicate_row": "duplicate_key",
    "invalid_date": "date_invalid",
    "future_visit_date": "date_in_future",
    "invalid_id_checksum": "id_bad_checksum",
    "invalid_phone_length": "mobile_wrong_length",
    "negative_amount": "amount_negative",
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    # seed 2: a visit on the export date whose charge the generator would pay the next day
    config = SynthConfig(out_dir=out / "data", patients=1500, clinics=4, seed=2)
    generate(config)
    engine = open_warehouse(path=out / "molar.duckdb")
    results = ingest_paths(engine, [out / "data" / "sources"], today=config.end_date)
    yield out, engine, results
    engine.close()


def test_every_file_loads_with_exact_accounting(chain):
    """Each file's row count as the generator wrote it = rows in std + rows in quarantine."""
    out, engine, results = chain
    written = json.loads((out / "data" / "manifest.json").read_text(encoding="utf-8"))["files"]
    sources = {rel: entry["rows"] for rel, entry in written.items() if rel.startswith("sources/")}
    assert sorted(Path(r.file).relative_to(out / "data").as_posix() for r in results) == sorted(sources)
    for r in results:
        assert_accounting(engine, r, sources[Path(r.file).relative_to(out / "data").as_posix()])


def test_quarantine_equals_the_generators_invalid_rows(chain):
    out, engine, _ = chain
    truth = duckdb.connect().execute(
        f"SELECT file, row_number, defect FROM '{out}/data/truth/invalid_rows.parquet'"
    ).fetchall()
    expected = set()
    for file, row, defect in truth:
        # The generator counts data rows; Molar reports the row a spreadsheet shows (header = 1).
        shown = row + 1 if file.endswith((".csv", ".xlsx")) else row
        expected.add((file, shown, EXPECTED_CODE[defect]))
    got = {
        (path.split("/data/", 1)[1].split("#")[0], row, code)
        for path, row, code in engine.rows(
            "SELECT DISTINCT file_path, row_number, code FROM quarantine.issue WHERE severity = 'error'"
        )
    }
    assert got == expected
