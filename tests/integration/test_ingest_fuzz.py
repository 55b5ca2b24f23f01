"""Random bytes and random rows into every reader: never an unhandled error, accounting exact."""

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molar.ingest.loader import load_file
from molar.ingest.mapping import load_mappings
from molar.warehouse import open_warehouse
from support import PATIENT_HEADER, TODAY, assert_accounting, examples

MAPPINGS = load_mappings()
FILE_MAPS = {
    "patients.csv": MAPPINGS["his"].files[2],
    "users.jsonl": MAPPINGS["wechat"].files[0],
    "customers.xlsx": MAPPINGS["booking"].files[0],
    "district_population.parquet": MAPPINGS["region"].files[0],
}
# A warehouse per example (~1 s): fewer examples than the profile, more and fixed in CI.
FUZZ = settings(max_examples=examples(ci=50, local=15), suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(engine, path, name, source_rows: int | None = None):
    """Load one file: rejected with a message, or every row in std or quarantine.

    ``source_rows``: the data rows the test wrote; when the input is too wild to count
    (random bytes, quotes across lines) the rows that landed in raw stand in for it."""
    result = load_file(engine, path, FILE_MAPS[name], today=TODAY)
    assert result.status in ("complete", "rejected")
    if result.status == "complete":
        if source_rows is None:
            source_rows = engine.scalar(
                f"SELECT count(*) FROM {FILE_MAPS[name].raw_table} WHERE _load_id = ?", [result.load_id])
        assert_accounting(engine, result, source_rows)
    else:
        assert result.message_en and result.message_zh
    return result


@FUZZ
@given(name=st.sampled_from(sorted(FILE_MAPS)), data=st.binary(max_size=2000))
def test_random_bytes_never_crash(tmp_path_factory, name, data):
    d = tmp_path_factory.mktemp("fuzz")
    path = d / name
    path.write_bytes(data)
    with open_warehouse(path=d / "w.duckdb") as engine:
        check(engine, path, name)


cell = st.text(alphabet=st.characters(codec="gb18030", exclude_categories=["Cs"]), max_size=12)


# Characters that end a line or a CSV value: rows containing them have no simple count.
_SEPARATORS = set(',"\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029')


@FUZZ
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=12), max_size=30), gbk=st.booleans())
def test_random_csv_rows(tmp_path_factory, rows, gbk):
    d = tmp_path_factory.mktemp("fuzz")
    path = d / "patients.csv"
    text = PATIENT_HEADER + "".join(",".join(r) + "\r\n" for r in rows)
    path.write_bytes(text.encode("gb18030" if gbk else "utf-8"))
    plain = not any(_SEPARATORS & set(c) for r in rows for c in r)
    with open_warehouse(path=d / "w.duckdb") as engine:
        result = check(engine, path, "patients.csv", len(rows) if plain else None)
        if result.status == "complete":
            assert engine.count("std.patient") == result.rows_loaded


@FUZZ
@given(values=st.lists(st.tuples(cell, st.one_of(st.none(), st.integers(-10**6, 10**9))), max_size=20))
def test_random_parquet_and_jsonl_rows(tmp_path_factory, values):
    import json

    d = tmp_path_factory.mktemp("fuzz")
    pq.write_table(
        pa.table({"district": [v[0] for v in values], "year": [v[1] for v in values],
                  "age_band": ["18-29"] * len(values), "population": [v[1] for v in values]}),
        d / "district_population.parquet",
    )
    (d / "users.jsonl").write_text(
        "".join(json.dumps({"unionid": v[0], "nickname": v[0], "sex": v[1], "mobile": v[1]}, ensure_ascii=False) + "\n" for v in values),
        encoding="utf-8",
    )
    with open_warehouse(path=d / "w.duckdb") as engine:
        check(engine, d / "district_population.parquet", "district_population.parquet", len(values))
        check(engine, d / "users.jsonl", "users.jsonl", len(values))
