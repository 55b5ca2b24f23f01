"""CSV reader: a fast Arrow path, and an exact line-by-line path for damaged files."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from molar.sources.detect import REPLACEMENT, Utf8Stream, read_text
from molar.sources.problems import FileRejected, NeedsExactParse
from molar.sources.tabular import clean_header, line_numbers, make_batch, unique_headers

_MAX_JOINED_LINES = 50  # a quoted value may span lines; give up on a quote after this many


def _delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    return max(counts, key=counts.__getitem__) if any(counts.values()) else ","


def read_header(path: Path, encoding: str) -> tuple[list[str], str]:
    with Utf8Stream(path, encoding) as stream:
        head = stream.read(1 << 16).decode("utf-8", errors="replace")
    first = head.splitlines()[0] if head.strip() else ""
    if not first.strip():
        raise FileRejected(
            "file_empty",
            f"{path.name} is empty (no header row); export it again",
            f"{path.name} 是空文件（没有表头）；请重新导出",
        )
    delim = _delimiter(path, first)
    headers = [clean_header(h) for h in next(csv.reader([first], delimiter=delim))]
    return unique_headers(headers), delim


def read_csv(path: Path, encoding: str, batch_rows: int = 200_000) -> Iterator[pa.RecordBatch]:
    headers, delim = read_header(path, encoding)
    try:
        yield from _fast(path, encoding, headers, delim)
    except NeedsExactParse as restart:
        yield from _exact(path, encoding, headers, delim, batch_rows, restart.from_line)


def _fast(path: Path, encoding: str, headers: list[str], delim: str) -> Iterator[pa.RecordBatch]:
    """Every physical line is one record: row number = line number. Anything else → exact path."""

    def structural_problem(_row: pacsv.InvalidRow) -> str:
        return "error"  # surfaces as ArrowInvalid below, which switches to the exact path

    stream = Utf8Stream(path, encoding)
    line = 2
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                column_names=headers, skip_rows=1, block_size=1 << 24, use_threads=True
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delim,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=structural_problem,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
        for batch in reader:
            n = batch.num_rows
            # A quoted line break makes one record span lines: row number ≠ line number.
            if any(pc.any(pc.match_substring_regex(col, "[\r\n]")).as_py() for col in batch.columns):
                raise NeedsExactParse(line)
            bad = None
            for col in batch.columns:
                hit = pc.match_substring(col, REPLACEMENT)
                bad = hit if bad is None else pc.or_(bad, hit)
            problems = pc.if_else(bad, pa.scalar("encoding_error"), pa.scalar(None, pa.string())) if bad is not None else None
            if problems is not None and problems.null_count == n:
                problems = None
            rows = line_numbers(line, n)
            line += n
            yield make_batch(
                headers,
                batch.columns,
                rows,
                problems=problems.to_pylist() if problems is not None else None,
            )
    except pa.ArrowInvalid as exc:
        if "CSV parse error" in str(exc) or "quote" in str(exc).lower():
            raise NeedsExactParse(line) from exc
        raise FileRejected(
            "file_unreadable",
            f"{path.name} cannot be read as CSV: {exc}",
            f"{path.name} 无法按 CSV 读取：{exc}",
        ) from exc
    finally:
        stream.close()


def _exact(
    path: Path, encoding: str, headers: list[str], delim: str, batch_rows: int, from_line: int = 2
) -> Iterator[pa.RecordBatch]:
    """Parse each physical line on its own, joining lines only to close a quoted value.
    Records starting before ``from_line`` were read by the fast path and are skipped."""
    lines = _physical_lines(read_text(path, encoding))
    width = len(headers)
    cols: list[list[str | None]] = [[] for _ in headers]
    rows: list[int] = []
    problems: list[str | None] = []
    details: list[str | None] = []

    def emit(line_no: int, values: list[str] | None, problem: str | None, detail: str | None):
        if line_no < from_line:
            return
        rows.append(line_no)
        problems.append(problem)
        details.append(detail)
        for i, col in enumerate(cols):
            col.append(values[i] if values is not None and i < len(values) else None)

    i = 1  # lines[0] is the header
    while i < len(lines):
        line_no = i + 1
        text = lines[i]
        consumed = 1
        if not text.strip():  # a blank line is not a record: reported as ignored
            emit(line_no, None, "blank_line", None)
            i += 1
            continue
        values = _parse_line(text, delim)
        if values is None:  # an open quote: try to close it with following lines
            joined = text
            for extra in range(1, min(_MAX_JOINED_LINES, len(lines) - i)):
                joined += "\n" + lines[i + extra]
                values = _parse_line(joined, delim)
                if values is not None and len(values) == width:
                    consumed = extra + 1
                    break
                values = None
        if values is None:
            emit(line_no, None, "unbalanced_quote", text[:200])
        elif len(values) != width:
            emit(line_no, values, "wrong_column_count", f"expected={width};actual={len(values)}")
        elif any(REPLACEMENT in v for v in values):
            emit(line_no, values, "encoding_error", None)
        else:
            emit(line_no, values, None, None)
        i += consumed
        if len(rows) >= batch_rows:
            yield make_batch(headers, cols, rows, problems=problems, details=details)
            cols = [[] for _ in headers]
            rows, problems, details = [], [], []
    if rows:
        yield make_batch(headers, cols, rows, problems=problems, details=details)


def _physical_lines(text: str) -> list[str]:
    """Lines as an editor numbers them: split at LF (CRLF and CR alone too), never at the
    other characters str.splitlines() breaks on (U+2028, U+0085, form feed …), which may
    sit inside a value and would shift every later row number."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _parse_line(text: str, delim: str) -> list[str] | None:
    """Values of one record, or None when a quote opened in it is not closed."""
    try:
        parsed = list(csv.reader([text], delimiter=delim, strict=True))
    except csv.Error:
        return None
    return parsed[0] if parsed else []
