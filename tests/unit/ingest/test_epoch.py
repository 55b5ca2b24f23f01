from datetime import date, datetime

import duckdb
import pytest

from molar.ingest.standardise import get_standardiser


@pytest.mark.parametrize(
    "raw,output,value,problem",
    [
        ("1636001070", "timestamp", datetime(2021, 11, 4, 12, 44, 30), None),  # 04:44:30 UTC = 12:44:30 CST
        ("1636001070123", "timestamp", datetime(2021, 11, 4, 12, 44, 30), None),  # milliseconds
        ("1636001070", "date", date(2021, 11, 4), None),
        (" 1636001070 ", "date", date(2021, 11, 4), None),
        ("2021-11-04", "date", None, "timestamp_invalid"),
        ("163600107", "date", date(1975, 3, 9), None),  # 1975-03-08 21:41 UTC
        ("16360010701", "date", None, "timestamp_invalid"),
        ("1893456000", "date", None, "date_in_future"),  # 2030-01-01
        ("", "date", None, None),
    ],
)
def test_unix_seconds_to_clinic_local_time(raw, output, value, problem):
    s = get_standardiser("epoch", output=output, not_after=date(2026, 10, 31))
    got = duckdb.connect().execute(f"SELECT {s.value_sql('x')}, {s.problem_sql('x')} FROM (VALUES (?)) t(x)", [raw]).fetchall()
    assert got == [(value, problem)]
