"""XLSX reader (calamine): every sheet whose header row holds the expected headers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path

import pyarrow as pa
from python_calamine import CalamineWorkbook

from molar.sources.problems import FileRejected
from molar.sources.tabular import clean_header, make_batch, unique_headers

HEADER_SEARCH_ROWS = 10  # merged title rows above the real header are skipped


def cell_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Phone and ID numbers typed into Excel arrive as floats: keep them whole.
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.time() != time() else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return str(value)


def _open(path: Path) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for damaged files
        raise FileRejected(
            "file_unreadable",
            f"{path.name} is not a readable Excel workbook ({exc}); save it again as .xlsx",
            f"{path.name} 不是可读取的 Excel 工作簿（{exc}）；请重新另存为 .xlsx",
        ) from exc


def _find_header(rows: Sequence[Sequence[object]], expected: set[str]) -> int | None:
    best, best_hits = None, 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = len(expected & {clean_header(v) for v in row})
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def sheet_names(path: Path) -> list[str]:
    return list(_open(path).sheet_names)


def read_xlsx(
    path: Path, expected_headers: Sequence[str], batch_rows: int = 100_000
) -> Iterator[pa.RecordBatch]:
    """Yield batches from each sheet whose header row contains any expected header.

    Sheets are normalised to the union of expected headers so batches share one schema;
    a sheet without a matching header row is skipped (reported by the caller as unmapped).
    """
    workbook = _open(path)
    expected = set(expected_headers)
    found_any = False
    for name in workbook.sheet_names:
        sheet = workbook.get_sheet_by_name(name)
        rows_iter = iter(sheet.iter_rows())
        head: list[list[object]] = []
        for row in rows_iter:
            head.append(list(row))
            if len(head) >= HEADER_SEARCH_ROWS:
                break
        header_at = _find_header(head, expected)
        if header_at is None:
            continue
        found_any = True
        headers = unique_headers([clean_header(v) for v in head[header_at]])
        positions = {h: i for i, h in enumerate(headers)}
        out_headers = list(expected_headers)
        first_row = sheet.start[0] if sheet.start else 0

        cols: list[list[str | None]] = [[] for _ in out_headers]
        numbers: list[int] = []

        def flush() -> pa.RecordBatch:
            return make_batch(out_headers, cols, numbers, part=name)

        def take(row: Sequence[object], index: int) -> None:
            if all(v is None or v == "" for v in row):
                return  # blank spreadsheet rows are formatting, not records
            numbers.append(first_row + index + 1)
            for col, h in zip(cols, out_headers, strict=True):
                pos = positions.get(h)
                col.append(cell_text(row[pos]) if pos is not None and pos < len(row) else None)

        index = header_at + 1
        for row in head[header_at + 1 :]:
            take(row, index)
            index += 1
        for row in rows_iter:
            take(row, index)
            index += 1
            if len(numbers) >= batch_rows:
                yield flush()
                cols = [[] for _ in out_headers]
                numbers = []
        if numbers:
            yield flush()
    if not found_any:
        raise FileRejected(
            "header_missing",
            f"{path.name}: no sheet has the expected header row ({', '.join(expected_headers)})",
            f"{path.name}：没有任何工作表包含预期的表头（{'、'.join(expected_headers)}）",
        )
