"""Append-only writers for CSV (any encoding), JSON Lines, XLSX and Parquet.

Writers receive whole chunks of columns and never hold more than one chunk.  Output is
byte-identical for identical input: no timestamps, no dict-order or locale dependence.

XLSX goes through xlsxwriter in ``constant_memory`` mode.  Writing a million rows through
``worksheet.write_*`` costs about 9 µs per cell, so rows are rendered to the exact XML
xlsxwriter itself would produce and appended to the worksheet's row-data file in bulk
(:func:`_fast_rows`); ``tests/unit/synth/test_synth_writers.py`` checks the output is
byte-identical to the public API's.  If a future xlsxwriter changes those internals the
writer falls back to the public API.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xlsxwriter

XLSX_CREATED = datetime(2026, 1, 1, 0, 0, 0)  # fixed document timestamp (reproducible files)


def lines(template: str, *cols) -> list[str]:
    """Render one line per row: ``template.format(col0[i], col1[i], …)`` (fast path for JSONL)."""
    return list(map(template.format, *[c.tolist() if isinstance(c, np.ndarray) else c for c in cols]))


_CSV_SPECIAL = re.compile(r'[",\r\n]')


def _csv_column(values: list[str]) -> list[str]:
    """Quote the fields that need it (RFC 4180, like ``csv.QUOTE_MINIMAL``)."""
    joined = "\x1e".join(values)
    if not _CSV_SPECIAL.search(joined):
        return values
    return ['"' + v.replace('"', '""') + '"' if _CSV_SPECIAL.search(v) else v for v in values]


class CsvFile:
    """CSV with a header row; ``encoding`` 'gbk' (CRLF), 'utf-8-sig' (BOM) or 'utf-8'.

    A chunk is joined in memory (only fields containing a comma, quote or line break are
    quoted) and encoded in one call.
    """

    def __init__(self, path: Path, header: list[str], encoding: str, crlf: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.encoding = encoding
        self._terminator = "\r\n" if crlf else "\n"
        self._fh = open(path, "wb")  # noqa: SIM115
        if encoding == "utf-8-sig":
            self._fh.write(codecs.BOM_UTF8)
            self._codec = "utf-8"
        else:
            self._codec = encoding
        self.rows = 0
        self._emit([[h] for h in header])

    def _emit(self, cols) -> None:
        cols = [_csv_column(c) for c in cols]
        text = self._terminator.join(map(",".join, zip(*cols, strict=True))) + self._terminator
        self._fh.write(text.encode(self._codec))

    def write(self, cols: list) -> None:
        n = len(cols[0])
        if n:
            self._emit([c.tolist() if isinstance(c, np.ndarray) else list(c) for c in cols])
        self.rows += n

    def close(self) -> None:
        self._fh.close()


class JsonlFile:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.rows = 0

    def write_lines(self, lines) -> None:
        if len(lines):
            self._fh.write("\n".join(lines))
            self._fh.write("\n")
        self.rows += len(lines)

    def close(self) -> None:
        self._fh.close()


class ParquetFile:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self._w = pq.ParquetWriter(path, schema, compression="zstd")
        self.rows = 0

    def write(self, cols: dict) -> None:
        arrays = {}
        for f in self.schema:
            v = cols[f.name]
            arrays[f.name] = v if isinstance(v, pa.Array) else pa.array(v, type=f.type)
        t = pa.table(arrays, schema=self.schema)
        if t.num_rows:
            self._w.write_table(t)
        self.rows += t.num_rows

    def close(self) -> None:
        self._w.close()


# ---------------------------------------------------------------------------------------
# XLSX

_SEP = "\ue000"  # a private-use character: never in generated text, not whitespace, not escaped
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f]|_x[0-9a-fA-F]{4}_|\ufffe|\uffff|(?:^|\ue000)\s|\s(?=\ue000|$)")


def _special_rows(values: np.ndarray) -> np.ndarray:
    """Rows whose text needs XML escaping or xml:space="preserve" (found on one joined string)."""
    joined = _SEP.join(values.tolist())
    hits = [m.start() for m in _NEEDS_ESCAPE.finditer(joined)]
    if not hits:
        return np.empty(0, dtype=np.int64)
    ends = np.cumsum(np.fromiter(map(len, values.tolist()), dtype=np.int64, count=values.size) + 1)
    pos = np.array(hits, dtype=np.int64)
    # a leading-whitespace match starts on the separator before the row
    rows = np.searchsorted(ends, pos, side="right")
    lead = np.array([joined[p] == _SEP for p in hits], dtype=bool)
    rows = np.where(lead, rows + 1, rows)
    return np.unique(rows[rows < values.size])


def _col_letters(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _fast_supported(ws) -> bool:
    return all(hasattr(ws, a) for a in ("row_data_fh", "previous_row", "dim_rowmin", "dim_rowmax",
                                        "dim_colmin", "dim_colmax", "table", "_write_single_row"))


def _fast_rows(ws, first_row: int, cols: list, kinds: list[str], style_idx: list[int]) -> None:
    """Append rows ``first_row..`` exactly as xlsxwriter's constant_memory writer would.

    ``kinds[j]`` is 's' (inline string; '' or None = blank cell) or 'n' (number; NaN = blank).
    ``style_idx[j]`` is the xf index of the column's format (0 = none).  Each row is one
    ``str.format`` call; columns with blanks or text needing escapes are pre-rendered.
    """
    n = len(cols[0])
    if n == 0:
        return
    rn = list(range(first_row + 1, first_row + n + 1))
    template = ['<row r="{0}">']
    args: list[list] = [rn]
    for j, (vals, kind) in enumerate(zip(cols, kinds, strict=True)):
        col = _col_letters(j)
        s_attr = f' s="{style_idx[j]}"' if style_idx[j] else ""
        if kind == "n":
            v = np.asarray(vals, dtype=np.float64)
            if not np.isnan(v).any():
                template.append(f'<c r="{col}{{0}}"{s_attr}><v>{{{len(args)}:.16G}}</v></c>')
                args.append(v.tolist())
                continue
            cells = ["" if x != x else f'<c r="{col}{r}"{s_attr}><v>{x:.16G}</v></c>'
                     for r, x in zip(rn, v.tolist(), strict=True)]
        else:
            vv = [x if x else "" for x in (vals.tolist() if isinstance(vals, np.ndarray) else vals)]
            special = set(_special_rows(np.array(vv, dtype=object)).tolist())
            if not special and all(vv):
                template.append(f'<c r="{col}{{0}}"{s_attr} t="inlineStr"><is><t>{{{len(args)}}}</t></is></c>')
                args.append(vv)
                continue
            cells = [
                "" if not x else f'<c r="{col}{r}"{s_attr}'
                + (_escape_inline(x) if i in special else f' t="inlineStr"><is><t>{x}</t></is></c>')
                for i, (r, x) in enumerate(zip(rn, vv, strict=True))
            ]
        template.append(f"{{{len(args)}}}")
        args.append(cells)
    template.append("</row>")
    ws.row_data_fh.write("".join(map("".join(template).format, *args)))
    last = first_row + n - 1
    ws.previous_row = last
    ws.dim_rowmin = 0 if ws.dim_rowmin is None else min(ws.dim_rowmin, first_row)
    ws.dim_rowmax = last if ws.dim_rowmax is None else max(ws.dim_rowmax, last)
    ws.dim_colmin = 0 if ws.dim_colmin is None else min(ws.dim_colmin, 0)
    ws.dim_colmax = len(cols) - 1 if ws.dim_colmax is None else max(ws.dim_colmax, len(cols) - 1)


def _escape_inline(s: str) -> str:
    """' t="inlineStr">…</c>' tail for one string with XML escapes and whitespace preserve."""
    s2 = re.sub(r"(_x[0-9a-fA-F]{4}_)", r"_x005F\1", s)
    s2 = re.sub(r"([\x00-\x08\x0b-\x1f])", lambda m: f"_x{ord(m.group(1)):04X}_", s2)
    s2 = s2.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    t_attr = ' xml:space="preserve"' if (s[:1].isspace() or s[-1:].isspace()) else ""
    return f' t="inlineStr"><is><t{t_attr}>{s2}</t></is></c>'


class XlsxFile:
    """One workbook, one logical table split over sheets of at most ``row_limit`` data rows.

    Sheets are named ``base``, ``base_2``, ``base_3`` …; every sheet repeats the header.
    ``formats`` maps a column index to an Excel number format (dates, datetimes).
    """

    def __init__(self, path: Path, sheet: str, header: list[str], kinds: list[str],
                 formats: dict[int, str] | None = None, row_limit: int = 1_000_000,
                 tmpdir: Path | None = None, fast: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.base = sheet
        self.header = header
        self.kinds = kinds
        self.row_limit = row_limit
        self.rows = 0
        self.sheets: list[str] = []
        opts = {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                "strings_to_urls": False}
        if tmpdir is not None:
            tmpdir.mkdir(parents=True, exist_ok=True)
            opts["tmpdir"] = str(tmpdir)
        self.wb = xlsxwriter.Workbook(str(path), opts)
        self.wb.use_zip64()
        self.wb.set_properties({"created": XLSX_CREATED})
        self._formats = {j: self.wb.add_format({"num_format": f}) for j, f in (formats or {}).items()}
        self._fast = fast
        self._ws = None
        self._sheet_rows = 0

    def _new_sheet(self) -> None:
        name = self.base if not self.sheets else f"{self.base}_{len(self.sheets) + 1}"
        self.sheets.append(name)
        ws = self.wb.add_worksheet(name)
        for j, fmt in self._formats.items():
            ws.set_column(j, j, 19, fmt)
        self._fast = self._fast and _fast_supported(ws)
        if self._fast:  # like write_row(): cells without a format take the column's format
            _fast_rows(ws, 0, [np.array([h], dtype=object) for h in self.header], ["s"] * len(self.header),
                       self._styles())
        else:
            ws.write_row(0, 0, self.header)
        self._ws = ws
        self._sheet_rows = 0

    def write(self, cols: list) -> None:
        n = len(cols[0])
        pos = 0
        while pos < n:
            if self._ws is None or self._sheet_rows >= self.row_limit:
                self._new_sheet()
            take = min(n - pos, self.row_limit - self._sheet_rows)
            part = [c[pos:pos + take] for c in cols]
            first = self._sheet_rows + 1
            if self._fast:
                _fast_rows(self._ws, first, part, self.kinds, self._styles())
            else:
                self._slow_rows(first, part)
            self._sheet_rows += take
            self.rows += take
            pos += take

    def _styles(self) -> list[int]:
        return [self._formats[j]._get_xf_index() if j in self._formats else 0 for j in range(len(self.header))]

    def _slow_rows(self, first: int, part: list) -> None:
        ws = self._ws
        for i in range(len(part[0])):
            r = first + i
            for j, (vals, kind) in enumerate(zip(part, self.kinds, strict=True)):
                v = vals[i]
                fmt = self._formats.get(j)
                if kind == "n":
                    if not np.isnan(v):
                        ws.write_number(r, j, float(v), fmt)
                elif v:
                    ws.write_string(r, j, v, fmt)

    def close(self) -> None:
        if self._ws is None:
            self._new_sheet()
        self.wb.close()
