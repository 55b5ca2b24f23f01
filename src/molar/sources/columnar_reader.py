"""Parquet and JSON-lines readers: every field arrives as text, like a CSV cell."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from molar.sources.detect import REPLACEMENT, Utf8Stream
from molar.sources.problems import FileRejected
from molar.sources.tabular import line_numbers, make_batch

_LINE = "line"


def read_parquet(path: Path, fields: Sequence[str], batch_rows: int = 200_000) -> Iterator[pa.RecordBatch]:
    try:
        pfile = pq.ParquetFile(path)
    except Exception as exc:
        raise FileRejected(
            "file_unreadable",
            f"{path.name} is not a readable Parquet file ({exc})",
            f"{path.name} 不是可读取的 Parquet 文件（{exc}）",
        ) from exc
    present = set(pfile.schema_arrow.names)
    row = 1
    for batch in pfile.iter_batches(batch_size=batch_rows):
        n = batch.num_rows
        columns = []
        for f in fields:
            if f in present:
                col = batch.column(f)
                if pa.types.is_timestamp(col.type):
                    col = pc.strftime(col, format="%Y-%m-%d %H:%M:%S")
                columns.append(pc.cast(col, pa.string()))
            else:
                columns.append(pa.nulls(n, pa.string()))
        yield make_batch(list(fields), columns, line_numbers(row, n))
        row += n


_extractor = None


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_fields(lines: pa.Array, fields: Sequence[str]) -> tuple[list[pa.Array], pa.Array]:
    """Pull top-level fields out of JSON text lines with DuckDB's vectorised JSON functions."""
    global _extractor
    if _extractor is None:
        _extractor = duckdb.connect()
    tbl = pa.table({_LINE: lines})
    paths = "[" + ", ".join(_sql_literal("$." + json.dumps(f, ensure_ascii=False)) for f in fields) + "]"
    # One JSON parse per line for all fields (the list form of json_extract_string).
    selects = ", ".join(f"v[{i + 1}] AS c{i}" for i in range(len(fields)))
    problem = (
        f"CASE WHEN NOT coalesce(json_valid({_LINE}), false) OR json_type({_LINE}) <> 'OBJECT' "
        f"THEN 'json_invalid' WHEN contains({_LINE}, '{REPLACEMENT}') THEN 'encoding_error' END AS p"
    )
    _extractor.register("_json_lines", tbl)
    try:
        out = _extractor.sql(
            f"SELECT {selects}, p FROM (SELECT CASE WHEN json_valid({_LINE}) THEN "
            f"json_extract_string({_LINE}, {paths}) END AS v, {problem} FROM _json_lines)"
        ).to_arrow_table()
    finally:
        _extractor.unregister("_json_lines")
    cols = [out.column(f"c{i}").combine_chunks() for i in range(len(fields))]
    return cols, out.column("p").combine_chunks()


def read_jsonl(
    path: Path, encoding: str, fields: Sequence[str], batch_rows: int = 200_000
) -> Iterator[pa.RecordBatch]:
    """One JSON object per line; row number = line number; blank lines are skipped."""
    stream = Utf8Stream(path, encoding)
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=[_LINE], block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter="\x1e", quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={_LINE: pa.string()}, strings_can_be_null=False, null_values=[]
            ),
        )
        line = 1
        for batch in reader:
            n = batch.num_rows
            numbers = line_numbers(line, n)
            line += n
            text = batch.column(0)
            keep = pc.invert(pc.equal(pc.utf8_trim_whitespace(text), ""))
            text, numbers = pc.filter(text, keep), pc.filter(numbers, keep)
            if len(text) == 0:
                continue
            cols, problems = _json_fields(text, fields)
            details = pc.if_else(pc.is_null(problems), pa.scalar(None, pa.string()), pc.utf8_slice_codeunits(text, 0, 200))
            yield make_batch(list(fields), cols, numbers, problems=problems, details=details)
    except pa.ArrowInvalid as exc:
        raise FileRejected(
            "file_unreadable",
            f"{path.name} cannot be read as JSON lines: {exc}",
            f"{path.name} 无法按 JSON Lines 读取：{exc}",
        ) from exc
    finally:
        stream.close()
