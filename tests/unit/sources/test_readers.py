from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from molar.sources import FileRejected, SourceFile


def rows(path, fields):
    out = []
    for batch in SourceFile.open(path).batches(fields):
        out.extend(batch.to_pylist())
    return out


def test_gbk_detected_and_stray_byte_flags_only_its_row(tmp_path):
    p = tmp_path / "patients.csv"
    p.write_bytes("姓名,手机\r\n张伟,13812345678\r\n".encode("gbk") + b"\x81\x20bad,1\r\n" + "李娜,139\r\n".encode("gbk"))
    sf = SourceFile.open(p)
    assert sf.encoding == "gb18030"
    got = rows(p, ["姓名", "手机"])
    assert [r["_row_number"] for r in got] == [2, 3, 4]
    assert [r["_problem"] for r in got] == [None, "encoding_error", None]
    assert got[0]["姓名"] == "张伟" and got[2]["姓名"] == "李娜"


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")])
def test_encodings_detected(tmp_path, encoding, expected):
    p = tmp_path / "m.csv"
    p.write_bytes("会员卡号,姓名\n1,王芳\n".encode(encoding))
    assert SourceFile.open(p).encoding == expected
    assert rows(p, [])[0]["姓名"] == "王芳"


def test_structural_damage_switches_to_exact_parse(tmp_path):
    p = tmp_path / "v.csv"
    p.write_text(
        'a,b,c\n1,2,3\n4,5\n6,7,8,9\n"x,y,z\n10,11,12\n"multi\nline",13,14\n\n15,16,17\n', encoding="utf-8"
    )
    got = rows(p, ["a", "b", "c"])
    by_line = {r["_row_number"]: r for r in got}
    assert by_line[2]["_problem"] is None and by_line[2]["c"] == "3"
    assert by_line[3]["_problem"] == "wrong_column_count"
    assert by_line[4]["_problem"] == "wrong_column_count"
    assert by_line[5]["_problem"] == "unbalanced_quote"
    assert by_line[6]["a"] == "10" and by_line[6]["_problem"] is None
    assert by_line[7]["a"] == "multi\nline" and by_line[7]["_problem"] is None
    assert by_line[9]["_problem"] == "blank_line"  # reported as ignored, not a record
    assert by_line[10]["c"] == "17"
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 9, 10]  # every record accounted for (7 spans two lines)


def test_empty_and_header_only_files(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileRejected) as exc:
        SourceFile.open(empty)
    assert exc.value.code == "file_empty" and "空文件" in exc.value.message_zh
    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n", encoding="utf-8")
    assert rows(header_only, ["a", "b"]) == []


def test_unknown_format_is_rejected(tmp_path):
    p = tmp_path / "x.doc"
    p.write_text("hello")
    with pytest.raises(FileRejected, match="unsupported file type"):
        SourceFile.open(p)


def test_xlsx_merged_title_rows_and_multiple_sheets(tmp_path):
    p = tmp_path / "appointments_2025.xlsx"
    wb = xlsxwriter.Workbook(p)
    bold = wb.add_format({"bold": True})
    for name, first in (("预约", 1), ("预约_2", 3)):
        ws = wb.add_worksheet(name)
        ws.merge_range(0, 0, 0, 2, "2025 年预约明细", bold)  # merged title above the header
        ws.write_row(1, 0, ["预约单号", "手机", "预约时间"])
        ws.write_row(2, 0, [f"A{first}", 13812345678])
        ws.write_datetime(2, 2, datetime(2025, 3, 1, 9, 30), wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}))
        ws.write_row(3, 0, [f"A{first + 1}", "139 1234 5678", "2025-03-02"])
    wb.close()
    got = rows(p, ["预约单号", "手机", "预约时间"])
    assert [(r["_part"], r["_row_number"], r["预约单号"]) for r in got] == [
        ("预约", 3, "A1"), ("预约", 4, "A2"), ("预约_2", 3, "A3"), ("预约_2", 4, "A4"),
    ]
    assert got[0]["手机"] == "13812345678"  # a number typed into Excel keeps no ".0"
    assert got[0]["预约时间"] == "2025-03-01 09:30:00"


def test_xlsx_without_expected_header_is_rejected(tmp_path):
    p = tmp_path / "customers.xlsx"
    wb = xlsxwriter.Workbook(p)
    wb.add_worksheet("Sheet1").write_row(0, 0, ["foo", "bar"])
    wb.close()
    with pytest.raises(FileRejected, match="expected header"):
        rows(p, ["客户ID", "姓名"])


def test_corrupt_xlsx_is_rejected(tmp_path):
    p = tmp_path / "customers.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileRejected) as exc:
        rows(p, ["客户ID"])
    assert exc.value.code == "file_unreadable"


def test_jsonl_invalid_lines_flagged_with_line_numbers(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text('{"a": 1, "b": "x"}\n\n{bad json\n[1, 2]\n{"a": 2.5, "c": {"z": 1}}\n', encoding="utf-8")
    got = rows(p, ["a", "b", "c"])
    assert [(r["_row_number"], r["_problem"]) for r in got] == [
        (1, None), (3, "json_invalid"), (4, "json_invalid"), (5, None),
    ]
    assert got[0]["a"] == "1" and got[3]["a"] == "2.5" and got[3]["c"] == '{"z":1}'


def test_parquet_fields_arrive_as_text(tmp_path):
    p = tmp_path / "district_population.parquet"
    pq.write_table(pa.table({"district": ["锦江区"], "year": [2025], "population": [12345]}), p)
    got = rows(p, ["district", "year", "population", "age_band"])
    assert got == [{
        "district": "锦江区", "year": "2025", "population": "12345", "age_band": None,
        "_row_number": 1, "_part": None, "_problem": None, "_problem_detail": None,
    }]


def test_fingerprint_changes_with_content(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a\n1\n")
    first = SourceFile.open(p).sha256
    p.write_text("a\n2\n")
    assert SourceFile.open(p).sha256 != first


def test_a_quoted_line_break_keeps_later_rows_on_their_physical_lines(tmp_path):
    # Arrow's parser accepts this file whole; the row numbers must still be editor lines.
    p = tmp_path / "b.csv"
    p.write_text('id,note\r\nA,"two\r\nlines"\r\nB,x\u2028y\r\nC,\r\n', encoding="utf-8-sig")
    got = rows(p, ["id", "note"])
    assert [(r["_row_number"], r["id"]) for r in got] == [(2, "A"), (4, "B"), (5, "C")]
    assert got[0]["note"] == "two\nlines" and got[1]["note"] == "x\u2028y"


def test_blank_xlsx_rows_between_records_are_reported_trailing_ones_are_not(tmp_path):
    p = tmp_path / "p.xlsx"
    wb = xlsxwriter.Workbook(str(p))
    ws = wb.add_worksheet("s")
    ws.write_row(0, 0, ["某诊所 患者导出"])
    ws.write_row(2, 0, ["病历号", "姓名"])
    ws.write_row(3, 0, ["1", "张伟"])
    ws.write_row(5, 0, ["2", "李娜"])
    ws.write_row(8, 0, [""])
    wb.close()
    got = rows(p, ["病历号", "姓名"])
    assert [(r["_row_number"], r["_problem"]) for r in got] == [(4, None), (5, "blank_line"), (6, None)]
