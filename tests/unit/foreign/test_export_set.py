"""The foreign export set: files re-read independently agree with expected.csv, row by row."""

from __future__ import annotations

import csv
import functools
import io
import re
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from foreign.exports import FILES, build, read_expected
from foreign.exports.common import excel_serial

PATIENTS = "old_his/患者信息.xlsx"
VISITS = "old_his/就诊明细.csv"
BOOKINGS = "booking/预约记录.csv"
CLINICS = "reference/门诊列表.csv"
CSV_ENCODINGS = {VISITS: "gb18030", BOOKINGS: "utf-8-sig", CLINICS: "utf-8"}
PATIENT_HEADER = [
    "病历号",
    "姓名",
    "性别",
    "出生日期",
    "联系电话",
    "身份证号",
    "家庭住址",
    "初诊日期",
    "所属门诊",
]
VISIT_HEADER = ["病历号", "就诊时间", "科室", "项目名称", "医生", "实收金额"]
BOOKING_HEADER = ["预约号", "客户姓名", "手机", "预约时间", "门诊", "项目", "渠道", "状态", "备注"]
EXPORT_DATE = date(2026, 11, 30)


def check_digit(prefix17: str) -> str:
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(prefix17))
    return "10X98765432"[total % 11]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    summary = build(out)
    return out, summary, read_expected(out)


@functools.cache
def sheet_rows(out: Path) -> list[list]:
    sheet = CalamineWorkbook.from_path(str(out / PATIENTS)).get_sheet_by_name("患者信息")
    return sheet.to_python(skip_empty_area=False)


@functools.cache
def csv_records(out: Path, name: str) -> list[tuple[int, list[str]]]:
    """(physical line the record starts on, cells), header included, counting lines inside quotes."""
    text = (out / name).read_bytes().decode(CSV_ENCODINGS[name])
    reader = csv.reader(io.StringIO(text, newline=""))
    records, consumed = [], 0
    for cells in reader:
        records.append((consumed + 1, cells))
        consumed = reader.line_num
    return records


def rows_of(expected: list[dict], name: str) -> dict[int, dict]:
    return {row["physical_row"]: row for row in expected if row["file"] == name}


def physical_rows(out: Path, name: str) -> dict[int, list]:
    """Every data row of a file by physical row number (the header and rows above it left out)."""
    if name == PATIENTS:
        return {n: cells for n, cells in enumerate(sheet_rows(out), start=1) if n > 3}
    return {line: cells for line, cells in csv_records(out, name)[1:]}


# --- coverage and counts ---------------------------------------------------------------


@pytest.mark.parametrize("name", [PATIENTS, VISITS, BOOKINGS, CLINICS])
def test_expected_covers_every_physical_row_exactly_once(built, name):
    out, _, expected = built
    numbers = [row["physical_row"] for row in expected if row["file"] == name]
    assert len(numbers) == len(set(numbers))
    assert sorted(numbers) == sorted(physical_rows(out, name))


def test_files_are_listed_in_load_order(built):
    out, summary, _ = built
    assert FILES == (CLINICS, PATIENTS, VISITS, BOOKINGS) == tuple(summary["files"])
    assert all((out / name).is_file() for name in FILES)


def test_the_sheet_has_a_merged_title_a_blank_row_then_the_header(built):
    out, summary, _ = built
    rows = sheet_rows(out)
    assert rows[0][0] == "禾悦口腔 患者信息导出 2026-11-30"
    assert all(cell == "" for cell in rows[0][1:] + rows[1])
    assert rows[2] == PATIENT_HEADER
    assert summary["files"][PATIENTS]["header_row"] == 3
    with zipfile.ZipFile(out / PATIENTS) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert '<mergeCell ref="A1:I1"/>' in sheet_xml


def test_csv_headers(built):
    out, _, _ = built
    assert csv_records(out, VISITS)[0] == (1, VISIT_HEADER)
    assert csv_records(out, BOOKINGS)[0] == (1, BOOKING_HEADER)


def test_physical_rows_count_the_line_breaks_inside_quoted_notes(built):
    out, _, expected = built
    records = csv_records(out, BOOKINGS)
    spans = [b[0] - a[0] for a, b in zip(records, records[1:], strict=False)]
    assert max(spans) >= 3  # a note of three lines
    assert sum(span - 1 for span in spans) >= 100
    # Counted without the csv module: each booking's physical line starts with its number.
    lines = (out / BOOKINGS).read_bytes().decode("utf-8-sig").split("\n")
    for row in rows_of(expected, BOOKINGS).values():
        assert lines[row["physical_row"] - 1].startswith(row["expected"]["appointment_id"] + ",")
    assert max(rows_of(expected, BOOKINGS)) > len(records) + 100


def test_counts_in_the_summary_match_expected_csv(built):
    _, summary, expected = built
    for name, stats in summary["files"].items():
        rows = [row for row in expected if row["file"] == name]
        outcomes = Counter(row["outcome"] for row in rows)
        assert stats["rows"] == len(rows)
        for outcome in ("load", "load_with_warning", "reject", "ignore"):
            assert stats[outcome] == outcomes[outcome], (name, outcome)
        assert stats["reasons"] == dict(Counter(row["reason"] for row in rows if row["reason"]))
    assert 9_500 <= summary["totals"]["rows"] <= 10_500
    assert set(summary["totals"]) == {"rows", "load", "load_with_warning", "reject", "ignore"}


def test_about_three_percent_of_rows_are_invalid_for_every_reason_asked_for(built):
    _, summary, expected = built
    data = [row for row in expected if row["outcome"] != "ignore"]
    rejected = [row for row in data if row["outcome"] == "reject"]
    assert 0.025 <= len(rejected) / len(data) <= 0.035
    assert {row["reason"] for row in rejected} == {
        "bad_date",
        "phone_wrong_length",
        "id_checksum",
        "negative_amount",
        "future_visit",
        "duplicate",
        "unknown_patient",
        "unknown_clinic",
    }
    assert (
        summary["files"][PATIENTS]["reasons"]["excel_damaged_id"]
        / summary["files"][PATIENTS]["rows"]
        > 0.3
    )


def test_distinct_coded_values_in_the_summary_are_those_in_the_files(built):
    out, summary, expected = built
    columns = {
        PATIENTS: (PATIENT_HEADER, ("性别", "所属门诊")),
        VISITS: (VISIT_HEADER, ("科室", "项目名称", "医生")),
        BOOKINGS: (BOOKING_HEADER, ("门诊", "项目", "渠道", "状态")),
    }
    for name, (header, coded) in columns.items():
        outcome = {n: row["outcome"] for n, row in rows_of(expected, name).items()}
        data = [cells for n, cells in physical_rows(out, name).items() if outcome[n] != "ignore"]
        for column in coded:
            counted = Counter(cells[header.index(column)] for cells in data)
            assert summary["files"][name]["values"][column] == dict(counted), (name, column)
    assert set(summary["files"][BOOKINGS]["values"]["渠道"]) == {
        "美团",
        "大众点评",
        "抖音",
        "小红书",
        "小程序",
        "企业微信",
        "电话",
        "到店",
        "转介绍",
    }


# --- Excel damage ------------------------------------------------------------------------


def test_damaged_id_numbers_are_numeric_cells_with_15_significant_digits(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    numeric = {
        n for n, cells in physical_rows(out, PATIENTS).items() if isinstance(cells[5], float)
    }
    damaged = {n for n, row in rows.items() if row["reason"] == "excel_damaged_id"}
    assert numeric == damaged
    for n in damaged:
        assert rows[n]["outcome"] == "load_with_warning"
        assert rows[n]["expected"]["id_number"] is None
        assert rows[n]["expected"]["warning"]["field"] == "id_number"
    cells = physical_rows(out, PATIENTS)
    assert all(re.fullmatch(r"\d\.\d{1,14}e\+17", repr(cells[n][5])) for n in damaged)
    assert all(rows[n]["expected"]["warning"]["raw"] == repr(cells[n][5]) for n in damaged)


def test_intact_id_numbers_are_text_with_a_valid_checksum_unless_rejected_for_it(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    for n, cells in physical_rows(out, PATIENTS).items():
        row = rows[n]
        if row["outcome"] == "ignore" or isinstance(cells[5], float):
            continue
        assert isinstance(cells[5], str) and len(cells[5]) == 18
        valid = check_digit(cells[5][:17]) == cells[5][17]
        assert valid == (row["reason"] != "id_checksum"), n
        if row["outcome"] != "reject":
            assert row["expected"]["id_number"] == cells[5]
            sex = "M" if int(cells[5][16]) % 2 else "F"
            assert row["expected"]["sex"] == sex == {"男": "M", "女": "F"}[cells[2]]


def test_phones_saved_as_scientific_text_load_without_a_mobile(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    cells = physical_rows(out, PATIENTS)
    scientific = {
        n for n, c in cells.items() if isinstance(c[4], str) and re.fullmatch(r"1\.\d\dE\+10", c[4])
    }
    assert scientific == {n for n, row in rows.items() if row["reason"] == "excel_damaged_phone"}
    assert len(scientific) == 20
    for n in scientific:
        assert rows[n]["outcome"] == "load_with_warning"
        assert rows[n]["expected"]["mobile"] is None
        # Other identifiers are there: a text ID number that checks out.
        assert (
            rows[n]["expected"]["id_number"] == cells[n][5]
            and check_digit(cells[n][5][:17]) == cells[n][5][17]
        )


def test_whole_phone_numbers_in_number_cells_load_intact(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    numeric = [
        (n, c[4]) for n, c in physical_rows(out, PATIENTS).items() if isinstance(c[4], float)
    ]
    assert len(numeric) > 300
    for n, phone in numeric:
        if rows[n]["outcome"] != "reject":
            assert rows[n]["expected"]["mobile"] == f"+86{int(phone)}"


@pytest.mark.parametrize(
    ("day", "serial"),
    [
        (date(1900, 3, 1), 61),
        (date(1900, 3, 2), 62),
        (date(2016, 8, 7), 42589),
        (date(2020, 1, 1), 43831),
        (date(1999, 12, 31), 36525),
    ],
)
def test_excel_serials_count_the_fictitious_1900_02_29(day, serial):
    assert excel_serial(day) == serial


def test_serial_birth_dates_load_as_the_date_the_id_number_states(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    serial = {n: c for n, c in physical_rows(out, PATIENTS).items() if isinstance(c[3], float)}
    assert 150 <= len(serial) <= 250
    checked = 0
    for n, cells in serial.items():
        row = rows[n]
        if cells[3] == 60:
            assert (row["outcome"], row["reason"]) == ("reject", "bad_date")
            continue
        if row["outcome"] == "reject":  # for something else: the serial itself is fine
            assert row["reason"] in ("phone_wrong_length", "id_checksum", "duplicate")
        elif isinstance(cells[5], str):
            stated = f"{cells[5][6:10]}-{cells[5][10:12]}-{cells[5][12:14]}"
            assert row["expected"]["birth_date"] == stated
            # Counted from a known anchor: Excel shows serial 43831 as 2020-01-01.
            assert (date(2020, 1, 1) + timedelta(days=int(cells[3]) - 43831)).isoformat() == stated
            checked += 1
    assert checked > 100
    assert any(c[3] == 60 for c in serial.values())


def test_every_birth_date_form_agrees_with_the_id_number(built):
    out, _, expected = built
    rows = rows_of(expected, PATIENTS)
    forms = Counter()
    for n, cells in physical_rows(out, PATIENTS).items():
        row = rows[n]
        if row["outcome"] in ("reject", "ignore") or not isinstance(cells[5], str):
            continue
        forms[type(cells[3]).__name__] += 1
        assert (
            row["expected"]["birth_date"] == f"{cells[5][6:10]}-{cells[5][10:12]}-{cells[5][12:14]}"
        )
    assert set(forms) == {"str", "float", "date"}


# --- encodings, keys and values -------------------------------------------------------------


def test_visit_lines_need_gb18030_not_gbk(built):
    out, _, _ = built
    raw = (out / VISITS).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gbk")
    text = raw.decode("gb18030")
    assert "䶮" in text and "𠮷" in text
    assert (out / BOOKINGS).read_bytes().startswith(b"\xef\xbb\xbf")


def test_visit_lines_agree_with_their_expected_values(built):
    out, _, expected = built
    rows = rows_of(expected, VISITS)
    patient_rows = rows_of(expected, PATIENTS).values()
    loaded_patients = {
        r["expected"]["source_patient_key"]
        for r in patient_rows
        if r["outcome"] in ("load", "load_with_warning")
    }
    all_patients = {r["expected"].get("source_patient_key") for r in patient_rows}
    free = 0
    for n, cells in physical_rows(out, VISITS).items():
        row = rows[n]
        if row["outcome"] != "load":
            continue
        e = row["expected"]
        assert e["source_patient_key"] == cells[0] in loaded_patients
        assert (
            e["visited_at"] == cells[1] + ":00" and e["visited_at"][:10] <= EXPORT_DATE.isoformat()
        )
        assert e["item_name"] == cells[3] and e["doctor"] == cells[4]
        if cells[5] in ("—", "0", "0.00"):
            assert e["amount_yuan"] == "0.00"
            free += 1
        else:
            assert Decimal(cells[5].replace(",", "")) == Decimal(e["amount_yuan"]) > 0
    assert free > 100
    for row in rows.values():
        if row["reason"] == "unknown_patient":
            assert row["expected"]["source_patient_key"] not in all_patients
        if row["reason"] == "future_visit":
            assert row["expected"]["raw"][:10] > EXPORT_DATE.isoformat()
        if row["reason"] == "bad_date":
            with pytest.raises(ValueError):
                datetime.strptime(row["expected"]["raw"], "%Y-%m-%d %H:%M")
        if row["reason"] == "negative_amount":
            assert Decimal(row["expected"]["raw"]) < 0


def test_lines_of_one_visit_are_numbered_in_file_order(built):
    _, summary, expected = built
    lines: dict[tuple, list[int]] = {}
    for row in sorted(rows_of(expected, VISITS).values(), key=lambda r: r["physical_row"]):
        if row["outcome"] == "load":
            e = row["expected"]
            lines.setdefault((e["source_patient_key"], e["visited_at"]), []).append(e["line_no"])
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in lines.values())
    assert summary["visits"]["visits"] == len(lines)
    assert sum(len(n) > 1 for n in lines.values()) > 500


@pytest.mark.parametrize("name", [PATIENTS, VISITS, BOOKINGS])
def test_duplicates_repeat_an_earlier_loading_row_exactly(built, name):
    out, _, expected = built
    rows = rows_of(expected, name)
    cells = physical_rows(out, name)
    duplicates = [row for row in rows.values() if row["reason"] == "duplicate"]
    assert len(duplicates) >= 10
    for row in duplicates:
        original = row["expected"]["duplicate_of"]
        assert original < row["physical_row"] and rows[original]["outcome"] in (
            "load",
            "load_with_warning",
        )
        assert cells[original] == cells[row["physical_row"]]


def test_bookings_agree_with_their_expected_values(built):
    out, _, expected = built
    rows = rows_of(expected, BOOKINGS)
    clinics = {cells[1]: cells[0] for cells in physical_rows(out, CLINICS).values()}
    channels = Counter()
    for n, cells in physical_rows(out, BOOKINGS).items():
        row = rows[n]
        e = row["expected"]
        assert e["appointment_id"] == cells[0]
        digits = (
            re.sub(r"\D", "", cells[2]).removeprefix("86")
            if cells[2].startswith("+")
            else re.sub(r"\D", "", cells[2])
        )
        if row["reason"] == "phone_wrong_length":
            assert len(digits) == 10
        if row["reason"] == "unknown_clinic":
            assert cells[4] not in clinics
        if row["outcome"] != "load":
            continue
        assert e["mobile"] == "+86" + digits and len(digits) == 11
        assert e["clinic_id"] == clinics[cells[4]]
        assert e["note"] == (cells[8] or None)
        slot = datetime.strptime(cells[3].replace("/", "-"), "%Y-%m-%d %H:%M")
        assert e["slot_start"] == f"{slot:%Y-%m-%d %H:%M:%S}"
        future = slot.date() > EXPORT_DATE
        assert e["status"] in (
            ("booked", "cancelled") if future else ("arrived", "no_show", "cancelled")
        )
        channels[(cells[6], e["channel"])] += 1
    assert {raw: code for raw, code in channels} == {
        "美团": "meituan",
        "大众点评": "dianping",
        "抖音": "douyin",
        "小红书": "xiaohongshu",
        "小程序": "mini_program",
        "企业微信": "wecom",
        "电话": "phone",
        "到店": "walk_in",
        "转介绍": "referral",
    }


def test_blank_and_totals_rows_are_ignored(built):
    out, _, expected = built
    for name in (PATIENTS, VISITS):
        rows = rows_of(expected, name)
        for n, cells in physical_rows(out, name).items():
            blank = all(cell == "" for cell in cells)
            totals = bool(cells) and cells[0] in ("合计", "总计")
            assert (rows[n]["outcome"] == "ignore") == (blank or totals), (name, n)
            assert rows[n]["reason"] == (
                "blank" if blank else "totals" if totals else rows[n]["reason"]
            )


def test_the_same_seed_gives_the_same_set(built, tmp_path):
    out, summary, _ = built
    assert build(tmp_path / "again") == summary
    assert (tmp_path / "again" / "expected.csv").read_bytes() == (out / "expected.csv").read_bytes()
    assert (tmp_path / "again" / VISITS).read_bytes() == (out / VISITS).read_bytes()
    assert sheet_rows(tmp_path / "again") == sheet_rows(out)


def test_the_readme_states_the_counts_of_seed_0(built):
    out, summary, _ = built
    readme = (Path(__file__).parents[2] / "foreign" / "exports" / "README.md").read_text(
        encoding="utf-8"
    )
    files = {Path(name).name: name for name in summary["files"]}
    stated = re.findall(r"^\| (\S+) \| `(\w+)` \| (\d+) \| (\w+) \|", readme, flags=re.M)
    assert len(stated) == 15
    for short, reason, count, outcome in stated:
        assert summary["files"][files[short]]["reasons"][reason] == int(count), (short, reason)
        rows = [r for r in built[2] if r["file"] == files[short] and r["reason"] == reason]
        assert {r["outcome"] for r in rows} == {outcome}
    readme = " ".join(readme.split())
    t = summary["totals"]
    assert (
        f"In all: {t['rows']:,} rows, {t['load']:,} load, {t['load_with_warning']} load with a warning, "
        f"{t['reject']} rejected"
    ) in readme
    v = summary["visits"]
    assert (
        f"{v['visits']:,} visits, {v['lines']:,} lines, ¥{int(v['amount_yuan'][:-3]):,}.00 in all"
        in readme
    )
    assert (
        f"→ `0.00` ({v['free_lines']:,} lines)" in readme
        and f"rare items ({v['other_item_lines']} lines)" in readme
    )
    records = csv_records(out, BOOKINGS)
    spans = sum(b[0] - a[0] > 1 for a, b in zip(records, records[1:], strict=False))
    assert f"({spans} records span several lines)" in readme
    assert f"the last record starts on line {records[-1][0]:,}" in readme
