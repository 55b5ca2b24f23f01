"""Shared shape of what every reader yields: Arrow batches of text columns.

Each batch has one VARCHAR column per header (named as in the file, trimmed), plus
``_row_number`` (CSV: the physical line, header = 1; XLSX: the sheet row; Parquet and
JSON lines: the record's line/ordinal), ``_part`` (XLSX sheet name) and ``_problem``/
``_problem_detail`` for rows that could not be read as a record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

ROW_NUMBER = "_row_number"
PART = "_part"
PROBLEM = "_problem"
PROBLEM_DETAIL = "_problem_detail"
META_COLUMNS = (ROW_NUMBER, PART, PROBLEM, PROBLEM_DETAIL)


def clean_header(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\ufeff", "").replace("\u3000", " ").strip()


def make_batch(
    headers: Sequence[str],
    columns: Sequence[Sequence[str | None]] | Sequence[pa.Array],
    row_numbers: Sequence[int] | pa.Array,
    *,
    part: str | None = None,
    problems: Sequence[str | None] | None = None,
    details: Sequence[str | None] | None = None,
) -> pa.RecordBatch:
    n = len(row_numbers)
    arrays = [pa.array(c, pa.string()) if not isinstance(c, pa.Array) else c for c in columns]
    arrays.append(pa.array(row_numbers, pa.int64()))
    arrays.append(pa.array([part] * n, pa.string()))
    arrays.append(pa.array(problems if problems is not None else [None] * n, pa.string()))
    arrays.append(pa.array(details if details is not None else [None] * n, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=[*headers, *META_COLUMNS])


def line_numbers(first: int, n: int) -> pa.Array:
    return pa.array(np.arange(first, first + n, dtype=np.int64))


def unique_headers(headers: Sequence[str]) -> list[str]:
    """Blank or repeated headers get positional names so every column stays addressable."""
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(headers):
        name = h or f"_column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


Batches = Iterator[pa.RecordBatch]
