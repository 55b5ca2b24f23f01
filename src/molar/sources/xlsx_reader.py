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


class _SheetRows:
    """Collects one sheet's data rows as text columns in the expected header order."""

    def __init__(self, headers: list[str], out_headers: list[str], first_row: int) -> None:
        self.positions = {h: i for i, h in enumerate(headers)}
        self.out_headers = out_headers
        self.first_row = first_row
        self.reset()

    def reset(self) -> None:
        self.cols: list[list[str | None]] = [[] for _ in self.out_headers]
        self.numbers: list[int] = []
        self.problems: list[str | None] = []
        self.pending_blank: list[int] = []

    def take(self, row: Sequence[object], index: int) -> None:
        number = self.first_row + index + 1
        if all(v is None or v == "" or (isinstance(v, str) and not v.strip()) for v in row):
            # Blank rows are reported as ignored lines; trailing ones are sheet formatting.
            self.pending_blank.append(number)
            return
        for blank in self.pending_blank:
            self._add(blank, [None] * len(self.out_headers), "blank_line")
        self.pending_blank = []
        values = []
        for h in self.out_headers:
            pos = self.positions.get(h)
            values.append(cell_text(row[pos]) if pos is not None and pos < len(row) else None)
        self._add(number, values, None)

    def _add(self, number: int, values: list[str | None], problem: str | None) -> None:
        self.numbers.append(number)
        self.problems.append(problem)
        for col, value in zip(self.cols, values, strict=True):
            col.append(value)

    def batch(self, part: str) -> pa.RecordBatch:
        pending = self.pending_blank
        out = make_batch(self.out_headers, self.cols, self.numbers, part=part, problems=self.problems)
        self.reset()
        self.pending_blank = pending
        return out


def _read_sheet(sheet, expected: set[str], out_headers: list[str], batch_rows: int) -> Iterator[pa.RecordBatch] | None:
    rows_iter = iter(sheet.iter_rows())
    head: list[list[object]] = []
    for row in rows_iter:
        head.append(list(row))
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    header_at = _find_header(head, expected)
    if header_at is None:
        return None
    headers = unique_headers([clean_header(v) for v in head[header_at]])
    collector = _SheetRows(headers, out_headers, sheet.start[0] if sheet.start else 0)

    def batches() -> Iterator[pa.RecordBatch]:
        index = header_at + 1
        for row in head[header_at + 1 :]:
            collector.take(row, index)
            index += 1
        for row in rows_iter:
            collector.take(row, index)
            index += 1
            if len(collector.numbers) >= batch_rows:
                yield collector.batch(sheet.name)
        if collector.numbers:
            yield collector.batch(sheet.name)

    return batches()


def read_xlsx(
    path: Path, expected_headers: Sequence[str], batch_rows: int = 100_000
) -> Iterator[pa.RecordBatch]:
    """Yield batches from each sheet whose header row contains any expected header.

    Sheets are normalised to the expected headers so batches share one schema; a sheet
    without a matching header row is skipped. No matching sheet at all rejects the file.
    """
    workbook = _open(path)
    found_any = False
    for name in workbook.sheet_names:
        batches = _read_sheet(workbook.get_sheet_by_name(name), set(expected_headers), list(expected_headers), batch_rows)
        if batches is None:
            continue
        found_any = True
        yield from batches
    if not found_any:
        raise FileRejected(
            "header_missing",
            f"{path.name}: no sheet has the expected header row ({', '.join(expected_headers)})",
            f"{path.name}：没有任何工作表包含预期的表头（{'、'.join(expected_headers)}）",
        )
