"""XLSX writing: the bulk fast path equals xlsxwriter's own output; sheets split at the row limit."""

from __future__ import annotations

import math
import zipfile

import numpy as np
from python_calamine import CalamineWorkbook

from molar.synth.writers import CsvFile, XlsxFile, _special_rows

TRICKY = np.array(["plain", "", "a & b <c>", " leading", "trailing ", "张伟", "_x0041_ literal", "tab\there",
                   "中文，逗号", None, "x"], dtype=object)


def _columns(n: int):
    rng = np.random.default_rng(0)
    s = TRICKY[rng.integers(0, TRICKY.size, n)]
    ids = np.array([f"YY{i:06d}" for i in range(n)], dtype=object)
    serial = 45000 + rng.random(n) * 500
    serial[rng.random(n) < 0.2] = np.nan
    whole = np.floor(45000 + rng.random(n) * 500)
    return [ids, s, serial, whole]


def _write(path, n, fast, limit=1_000_000):
    w = XlsxFile(path, "预约", ["预约单号", "备注", "预约时间", "日期"], ["s", "s", "n", "n"],
                 {2: "yyyy-mm-dd hh:mm", 3: "yyyy-mm-dd"}, row_limit=limit, tmpdir=path.parent / "tmp", fast=fast)
    cols = _columns(n)
    for k in range(0, n, 37):  # several appends, like chunks
        w.write([c[k:k + 37] for c in cols])
    w.close()
    return w, cols


def test_fast_path_is_byte_identical_to_xlsxwriter_api(tmp_path):
    _write(tmp_path / "fast.xlsx", 200, fast=True)
    _write(tmp_path / "slow.xlsx", 200, fast=False)
    assert (tmp_path / "fast.xlsx").read_bytes() == (tmp_path / "slow.xlsx").read_bytes()
    with zipfile.ZipFile(tmp_path / "fast.xlsx") as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "a &amp; b &lt;c&gt;" in xml and 'xml:space="preserve"' in xml and "_x005F_x0041_" in xml


def test_sheets_split_at_the_row_limit(tmp_path):
    w, cols = _write(tmp_path / "split.xlsx", 230, fast=True, limit=100)
    assert w.sheets == ["预约", "预约_2", "预约_3"]
    wb = CalamineWorkbook.from_path(str(tmp_path / "split.xlsx"))
    assert wb.sheet_names == ["预约", "预约_2", "预约_3"]
    got = []
    for i, name in enumerate(wb.sheet_names):
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        assert rows[0] == ["预约单号", "备注", "预约时间", "日期"]
        assert len(rows) - 1 == (100 if i < 2 else 30)
        got += [r[0] for r in rows[1:]]
    assert got == list(cols[0]), "rows keep their order across sheets"
    # dates come back as real datetimes, blanks as empty
    rows = wb.get_sheet_by_name("预约").to_python(skip_empty_area=False)
    serial = cols[2][:100]
    for r, v in zip(rows[1:], serial, strict=True):
        assert (r[2] == "") if math.isnan(v) else hasattr(r[2], "year")


def test_generated_appointments_split_into_sheets(chain):
    limit = chain.config.sheet_row_limit
    for rel, info in chain.manifest["files"].items():
        if not rel.startswith("sources/booking/appointments_"):
            continue
        sheets = chain.xlsx(rel.removeprefix("sources/"))
        assert list(sheets) == info["sheets"]
        names = ["预约"] + [f"预约_{i}" for i in range(2, len(sheets) + 1)]
        assert list(sheets) == names
        sizes = [len(df) for df in sheets.values()]
        assert all(s == limit for s in sizes[:-1]) and 0 < sizes[-1] <= limit
        assert sum(sizes) == info["rows"]
    assert any(len(i.get("sheets", [])) > 1 for i in chain.manifest["files"].values())


def test_csv_quotes_only_what_needs_it(tmp_path):
    import csv

    w = CsvFile(tmp_path / "x.csv", ["a", "b"], "gbk", crlf=True)
    rows = [["1,280.00", '说"好"的'], ["plain", "多行\n文本"], ["", "张伟"]]
    w.write([np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object)])
    w.close()
    raw = (tmp_path / "x.csv").read_bytes()
    assert raw.startswith("a,b\r\n".encode("gbk"))
    back = list(csv.reader(raw.decode("gbk").splitlines(keepends=True)))
    assert back[1:] == rows
    assert w.rows == 3


def test_special_rows_finds_escapes_and_whitespace():
    vals = np.array(["ok", " lead", "mid dle", "trail ", "a&b", "fine"], dtype=object)
    assert _special_rows(vals).tolist() == [1, 3, 4]
