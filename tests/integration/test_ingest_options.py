"""Mapping options for real exports: field-level soft failure, Excel damage, line-level
keys with roll-up, extendable codes, defaults, ignorable lines, options checked before any
load, and header names that are not safe SQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import pytest

from molar.ingest import MappingError, load_mappings
from support import PATIENT_HEADER, id_number, issues, load, patient_rows

GOOD_ID = id_number("51010419850315002")


def mapping_dir(tmp_path, yaml_text: str):
    folder = tmp_path / "maps"
    folder.mkdir(exist_ok=True)
    (folder / "clinic_x.yaml").write_text(yaml_text, encoding="utf-8")
    return folder


def patient_row(key, birth="1985-03-15", mobile="13812345678", idn=GOOD_ID):
    return f"{key},张伟,女,{birth},{mobile},{idn},锦江区,红星路8号,2024-01-05,锦江口腔门诊部\r\n"


PATIENTS_YAML = """
source: x
files:
  - entry: patients
    match: "people*.csv"
    tables:
      patient:
        source_patient_key: 病历号
        name: 患者姓名
        birth_date: 出生日期
        mobile: 手机号
        id_number: 身份证号
"""


def test_a_bad_id_number_drops_the_value_not_the_person(reference, write, tmp_path):
    bad_checksum = GOOD_ID[:-1] + ("1" if GOOD_ID[-1] != "1" else "2")
    mappings = load_mappings([mapping_dir(tmp_path, PATIENTS_YAML)])
    path = write("people.csv", PATIENT_HEADER + patient_row("P1", idn=bad_checksum) + patient_row("P2", birth="1985-02-30"))
    [result] = load(reference, path, mappings=mappings)
    assert patient_rows(reference, "source_patient_key, id_number", "WHERE source = 'x'") == [("P1", None)]
    assert issues(reference, "warning") == [(2, "身份证号", bad_checksum, "id_bad_checksum")]
    assert issues(reference, "error") == [(3, "出生日期", "1985-02-30", "date_invalid")]
    zh, en = reference.rows("SELECT reason_zh, reason_en FROM quarantine.issue WHERE severity = 'warning'")[0]
    assert zh.endswith("该行已导入，此字段留空。") and en.endswith("The row was loaded without this value.")
    assert result.rows_loaded == 1 and result.rows_quarantined == 1


def test_excel_damage_is_named_and_only_a_damaged_key_rejects_the_row(reference, write):
    # The shipped HIS mapping rejects mistyped ID numbers, but Excel damage is not a typo.
    rows = "".join([
        patient_row("P1", idn="5.10104198503150E+17"),
        patient_row("P2", idn="510104198503150000"),  # 15 significant digits kept by Excel
        patient_row("P3", mobile="1.38E+10"),
        patient_row("P4", birth="31121"),  # Excel day number of 1985-03-15
        patient_row("2.00005E+5"),
    ])
    [result] = load(reference, write("patients.csv", PATIENT_HEADER + rows))
    assert patient_rows(reference, "source_patient_key, id_number, mobile, birth_date", "ORDER BY 1") == [
        ("P1", None, "+8613812345678", date(1985, 3, 15)),
        ("P2", None, "+8613812345678", date(1985, 3, 15)),
        ("P3", GOOD_ID, None, date(1985, 3, 15)),
        ("P4", GOOD_ID, "+8613812345678", date(1985, 3, 15)),
    ]
    assert [(r, c) for r, _, _, c in issues(reference, "warning")] == [
        (2, "excel_scientific"), (3, "excel_digits_lost"), (4, "excel_scientific"), (5, "excel_serial_date"),
    ]
    assert [(r, c) for r, _, _, c in issues(reference, "error")] == [(6, "excel_scientific")]
    reason = reference.scalar("SELECT reason_zh FROM quarantine.issue WHERE row_number = 6")
    assert "科学计数法" in reason and "文本" in reason
    assert result.rows_read == 5 and result.rows_loaded == 4
    from molar.ingest.quarantine import summary

    warned = {(code, n) for *_, code, n, _ in summary(reference, "zh", "warning")}
    assert warned == {("excel_scientific", 2), ("excel_digits_lost", 1), ("excel_serial_date", 1)}


@pytest.mark.parametrize(("serial", "day"), [("45296", date(2024, 1, 5)), ("42589", date(2016, 8, 7))])
def test_excel_day_numbers_read_as_excel_shows_them(reference, write, serial, day):
    # Known pairs from Excel (1900 date system, which counts a 29 February 1900 that never was).
    load(reference, write("patients.csv", PATIENT_HEADER + patient_row("P1", birth=serial, idn="")))
    assert reference.scalar("SELECT birth_date FROM std.patient") == day


LINES_YAML = """
source: x
files:
  - entry: visit_lines
    match: "lines*.csv"
    duplicates: [病历号, 就诊时间, 项目名称, 实收金额]
    tables:
      visit:
        rollup: true
        columns:
          visit_id: {derive: [病历号, 就诊时间]}
          source_patient_key: {from: 病历号, lookup: patient}
          visit_date: 就诊时间
          visit_at: 就诊时间
      treatment:
        visit_id: {derive: [病历号, 就诊时间]}
        line_no: {occurrence: [病历号, 就诊时间]}
        item_code: {from: 项目名称, values: treatment, other: OTHER}
        item_name: 项目名称
      charge:
        rollup: {amount_yuan: sum}
        columns:
          charge_id: {derive: [病历号, 就诊时间]}
          visit_id: {derive: [病历号, 就诊时间]}
          source_patient_key: 病历号
          charged_on: 就诊时间
          amount_yuan: {from: 实收金额, default: 0, options: {null_tokens: ["—", "-"]}}
"""


def test_visit_lines_roll_up_to_visits_and_charges(reference, write, tmp_path):
    mappings = load_mappings([mapping_dir(tmp_path, PATIENTS_YAML + LINES_YAML.split("files:", 1)[1])])
    people = write("people.csv", PATIENT_HEADER + patient_row("P1") + patient_row("P2"))
    lines = write("lines.csv", (
        "病历号,就诊时间,项目名称,实收金额\n"
        "P1,2024-03-05 14:30,口腔检查,—\n"
        "P1,2024-03-05 14:30,洁牙,280.00\n"
        "P1,2024-03-05 14:30,洁牙,280.00\n"  # the same line exported twice
        "P1,2024-03-05 14:30,舌系带修整术,500\n"
        "P2,2024-03-06 09:05,夜磨牙垫,1200\n"
        "P9,2024-03-06 10:00,洁牙,280\n"  # not a patient of this source
        "\n"
        "合计,,,2260.00\n"
    ), encoding="utf-8")
    results = load(reference, people, lines, mappings=mappings)
    line_result = results[-1]
    visits = reference.rows("SELECT source_patient_key, visit_date, visit_at, visit_id FROM std.visit WHERE source = 'x' ORDER BY 1")
    assert [v[:3] for v in visits] == [
        ("P1", date(2024, 3, 5), datetime(2024, 3, 5, 14, 30)),
        ("P2", date(2024, 3, 6), datetime(2024, 3, 6, 9, 5)),
    ]
    p1_visit = visits[0][3]
    assert reference.rows(
        "SELECT line_no, item_code, item_name FROM std.treatment WHERE visit_id = ? ORDER BY line_no", [p1_visit]
    ) == [(1, "CHK", "口腔检查"), (2, "CLN", "洁牙"), (3, "OTHER", "舌系带修整术")]
    assert reference.rows("SELECT source_patient_key, amount_yuan FROM std.charge ORDER BY 1") == [
        ("P1", Decimal("780.00")), ("P2", Decimal("1200.00")),
    ]
    assert {(r, c) for r, _, _, c in issues(reference, "error")} == {(4, "duplicate_row"), (7, "patient_unknown")}
    assert line_result.rows_ignored == 2 and line_result.rows_read == 6
    assert line_result.other_values == {"舌系带修整术": 1, "夜磨牙垫": 1}
    visit_target = next(t for t in line_result.targets if t.table == "visit")
    assert (visit_target.rows_loaded, visit_target.rows_merged, visit_target.rows_quarantined) == (4, 2, 2)
    # a line rejected for one table is kept out of all of them
    assert reference.scalar("SELECT count(*) FROM std.treatment WHERE _row_number = 7") == 0


BOOKING_YAML = """
source: x
files:
  - entry: bookings
    match: "bookings*.csv"
    tables:
      appointment:
        appointment_id: 预约号
        source_patient_key: {derive: [手机]}
        slot_start: {from: 预约时间, options: {not_after: null}}
        status: {from: 状态, values: appointment_status}
        channel: {from: 渠道, values: {快手: kuaishou, 美团: meituan, 大众点评: dianping}, add_codes: [kuaishou]}
"""


def test_platform_channels_and_codes_added_in_yaml(reference, write, tmp_path):
    mappings = load_mappings([mapping_dir(tmp_path, BOOKING_YAML)])
    path = write("bookings.csv", (
        "预约号,手机,预约时间,状态,渠道\n"
        "B1,13812345678,2027-01-05 10:00,已预约,美团\n"
        "B2,13812345678,2026-01-05 10:00,已到诊,大众点评\n"
        "B3,13912345678,2026-01-06 10:00,已到诊,快手\n"
        "B4,13912345678,2026-01-06 11:00,已到诊,陌陌\n"
    ), encoding="utf-8")
    load(reference, path, mappings=mappings)
    assert reference.rows("SELECT appointment_id, channel FROM std.appointment ORDER BY 1") == [
        ("B1", "meituan"), ("B2", "dianping"), ("B3", "kuaishou"),
    ]
    reason = reference.scalar("SELECT reason_en FROM quarantine.issue WHERE code = 'code_unknown'")
    assert "kuaishou" in reason and "…" not in reason


@pytest.mark.parametrize(("options", "message"), [
    ("{null_tokens: [null, '-']}", "null_tokens must be a list of texts in quotes"),
    ("{formats: [ymd, iso]}", "unknown date formats ['iso']"),
    ("{not_befor: 1900-01-01}", "not_befor"),
])
def test_options_are_checked_before_any_load(tmp_path, options, message):
    folder = mapping_dir(tmp_path, PATIENTS_YAML.replace("birth_date: 出生日期", f"birth_date: {{from: 出生日期, options: {options}}}"))
    with pytest.raises(MappingError) as exc:
        load_mappings([folder])
    assert message in str(exc.value) and "clinic_x.yaml:" in str(exc.value)


def test_a_key_cannot_be_dropped_with_a_warning(tmp_path):
    folder = mapping_dir(tmp_path, PATIENTS_YAML.replace("source_patient_key: 病历号", "source_patient_key: {from: 病历号, on_error: null_with_warning}"))
    with pytest.raises(MappingError, match="must be reject_row"):
        load_mappings([folder])


def molar(*args):
    return subprocess.run([sys.executable, "-m", "molar", *args], capture_output=True, text=True, timeout=600)


def test_bad_option_in_an_extra_mapping_folder_is_one_message_not_a_traceback(tmp_path, write):
    folder = mapping_dir(tmp_path, PATIENTS_YAML.replace("birth_date: 出生日期", "birth_date: {from: 出生日期, options: {null_tokens: [null]}}"))
    path = write("people.csv", PATIENT_HEADER + patient_row("P1"))
    out = molar("ingest", str(path), "--mappings", str(folder), "-w", str(tmp_path / "w.duckdb"))
    assert out.returncode == 2
    assert "null_tokens must be a list of texts in quotes" in out.stderr and "Traceback" not in out.stderr


def test_header_with_a_quote_and_a_crafted_header_are_plain_column_names(reference, write, tmp_path):
    crafted = 'x" VARCHAR); DROP TABLE std.clinic; --'
    header = PATIENT_HEADER.rstrip("\r\n") + ',备"注,"' + crafted.replace('"', '""') + '"\r\n'
    path = write("patients.csv", header + patient_row("P1").rstrip("\r\n") + ",a,b\r\n" + patient_row("P2", birth="x").rstrip("\r\n") + ",c,d\r\n")
    [result] = load(reference, path)
    assert result.status == "complete" and result.rows_loaded == 1
    assert reference.count("std.clinic") == 2  # the crafted header ran nothing
    assert reference.rows(f'SELECT "备""注", "{crafted.replace(chr(34), chr(34) * 2)}" FROM raw.his__patients ORDER BY 1') == [
        ("a", "b"), ("c", "d"),
    ]
    from molar.ingest.quarantine import export

    [(target, n)] = export(reference, tmp_path / "out")
    assert n == 1 and 'c,d' in target.read_text(encoding="utf-8-sig")


def test_mappings_suggest_check_and_describe_from_the_command_line(tmp_path):
    src = tmp_path / "诊所甲"
    src.mkdir()
    (src / "患者.csv").write_text(
        "病历号,姓名,性别,出生日期,手机号码,身份证号\n" + "".join(
            f"P{i},张伟,男,1985-03-{i + 1:02d},138123456{i:02d},{GOOD_ID}\n" for i in range(10)
        ), encoding="utf-8")
    out = molar("mappings", "suggest", str(src / "患者.csv"), "--source", "clinic_a", "--out", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "m" / "clinic_a.yaml").read_text(encoding="utf-8")
    assert "mobile: 手机号码" in text and "6 of 6 headers mapped" in text
    out = molar("mappings", "check", str(tmp_path / "m"), str(src), "--as-of", "2026-10-31")
    assert out.returncode == 0, out.stderr
    assert "10 read = 10 loaded + 0 quarantined" in out.stdout and "std.patient" in out.stdout
    out = molar("mappings", "describe", "treatment")
    assert out.returncode == 0 and "OTHER" in out.stdout and "item_name" in out.stdout


def test_a_load_whose_tables_do_not_add_up_is_rolled_back(reference, write, monkeypatch):
    from molar.ingest import loader

    publish = loader._publish

    def losing_one_row(engine, table_map, staged, load_id):
        replaced, written = publish(engine, table_map, staged, load_id)
        engine.execute(f"DELETE FROM std.{table_map.contract.name} WHERE _load_id = ? AND _row_number = 2", [load_id])
        return replaced, written

    monkeypatch.setattr(loader, "_publish", losing_one_row)
    with pytest.raises(loader.AccountingError, match="2 rows landed"):
        load(reference, write("patients.csv", PATIENT_HEADER + patient_row("P1") + patient_row("P2")))
    assert reference.scalar("SELECT count(*) FROM std.patient") == 0


def test_unload_and_reload_under_an_edited_mapping_leave_no_stale_rows(reference, write, tmp_path):
    folder = mapping_dir(tmp_path, BOOKING_YAML)
    path = write("bookings.csv", "预约号,手机,预约时间,状态,渠道\nB1,13812345678,2026-01-05 10:00,已到诊,美团\n", encoding="utf-8")
    load(reference, path, mappings=load_mappings([folder]))
    first_key = reference.scalar("SELECT source_patient_key FROM std.appointment")
    # The administrator changes how the patient key is derived and loads the same file again.
    (folder / "clinic_x.yaml").write_text(BOOKING_YAML.replace("derive: [手机]", "derive: [手机, 预约号]"), encoding="utf-8")
    [again] = load(reference, path, mappings=load_mappings([folder]))
    assert again.status == "complete"
    keys = reference.rows("SELECT source_patient_key FROM std.appointment")
    assert len(keys) == 1 and keys[0][0] != first_key
    assert reference.scalar("SELECT count(*) FROM raw.x__bookings") == 1
    assert reference.rows("SELECT status FROM ops.load WHERE source = 'x' ORDER BY started_at") == [("replaced",), ("complete",)]
    # Unchanged mapping: the same content is skipped, not loaded twice.
    [skipped] = load(reference, path, mappings=load_mappings([folder]))
    assert skipped.status == "skipped"
    out = molar("unload", "--file", "bookings.csv", "-w", str(tmp_path / "none.duckdb"))
    assert out.returncode == 2 and "no complete load matches" in out.stderr
    from molar.ingest.unload import find_loads, unload

    unload(reference, find_loads(reference, source="x"))
    assert reference.count("std.appointment") == 0 and reference.count("raw.x__bookings") == 0
    assert reference.count("std.clinic") == 2  # other sources untouched
