"""Real malformed exports: the right rows quarantined with the right reason, the rest loaded."""

import xlsxwriter

from support import PATIENT_HEADER, assert_accounting, id_number, issues, load, patient_rows

GOOD_ID = id_number("51010419850315002")  # born 1985-03-15, 17th digit 2 → female


def patient_row(key, name="张伟", sex="女", birth="1985-03-15", mobile="13812345678", idn=GOOD_ID, clinic="锦江口腔门诊部"):
    return f"{key},{name},{sex},{birth},{mobile},{idn},锦江区,红星路8号,2024-01-05,{clinic}\r\n"


def test_field_problems_quarantine_their_rows(reference, write):
    bad_checksum = GOOD_ID[:-1] + ("1" if GOOD_ID[-1] != "1" else "2")
    content = PATIENT_HEADER + "".join([
        patient_row("P1"),
        patient_row("P2", birth="2024-02-30"),
        patient_row("P3", mobile="1381234567"),  # 10 digits
        patient_row("P4", mobile="138123456789"),  # 12 digits
        patient_row("P5", idn=bad_checksum),
        patient_row("P6", mobile="+86 139 1234 5678", birth="1985年3月15日"),
        patient_row("P7", clinic="不存在诊所"),
        patient_row("P8", birth="2030-01-01", idn=""),
    ])
    [result] = load(reference, write("patients.csv", content))
    assert result.status == "complete"
    assert_accounting(reference, result, 8)
    by_row = {}
    for row, field, value, code in issues(reference):
        by_row.setdefault(row, set()).add((field, value, code))
    assert by_row == {
        3: {("出生日期", "2024-02-30", "date_invalid")},
        4: {("手机号", "1381234567", "mobile_wrong_length")},
        5: {("手机号", "138123456789", "mobile_wrong_length")},
        6: {("身份证号", bad_checksum, "id_bad_checksum")},
        8: {("首诊诊所", "不存在诊所", "clinic_unknown")},
        9: {("出生日期", "2030-01-01", "date_in_future")},
    }
    loaded = patient_rows(reference, "source_patient_key, mobile, birth_date::VARCHAR AS b, clinic_id, sex", "ORDER BY 1")
    assert loaded == [
        ("P1", "+8613812345678", "1985-03-15", "C01", "F"),
        ("P6", "+8613912345678", "1985-03-15", "C01", "F"),
    ]
    reasons = reference.rows("SELECT DISTINCT reason_zh FROM quarantine.issue WHERE code = 'clinic_unknown'")
    assert "不存在诊所" in reasons[0][0]


def test_id_card_disagreeing_with_stated_sex_is_a_warning(reference, write):
    content = PATIENT_HEADER + patient_row("P1", sex="男")
    [result] = load(reference, write("patients.csv", content))
    assert result.rows_loaded == 1 and result.rows_quarantined == 0
    assert result.targets[0].rows_warned == 1
    assert issues(reference, "warning") == [(2, "sex", "男", "id_sex_mismatch")]


def test_gbk_stray_byte_and_broken_structure(reference, write):
    good = patient_row("P1").encode("gbk")
    stray = patient_row("P2").encode("gbk").replace("张伟".encode("gbk"), b"\x81\x20")
    broken = (patient_row("P3").replace(",张伟", ',"张伟') + patient_row("P4") + "P5,李娜\r\n").encode("gbk")
    path = write("patients.csv", PATIENT_HEADER.encode("gbk") + good + stray + broken)
    [result] = load(reference, path)
    assert_accounting(reference, result, 5)
    assert result.rows_read == 5
    codes = {(row, code) for row, _, _, code in issues(reference)}
    assert codes == {(3, "encoding_error"), (4, "unbalanced_quote"), (6, "wrong_column_count")}
    assert reference.rows("SELECT source_patient_key FROM std.patient ORDER BY 1") == [("P1",), ("P4",)]


def test_negative_amounts_future_visits_and_duplicate_rows(reference, write):
    charges = (
        "收费单号,就诊号,病历号,收费日期,金额,实收,支付方式,优惠券\r\n"
        "F1,V1,P1,2025-03-01,\"1,280.00\",1280,微信,\r\n"
        "F2,V2,P1,2025/3/2,-50,0,现金,\r\n"
        "F3,V3,P1,2025年3月3日,￥280,280,支付宝,CP9\r\n"
        "F3,V3,P1,2025年3月3日,￥280,280,支付宝,CP9\r\n"
        "F4,V4,P1,20270101,280元,280,现金,\r\n"
    )
    [result] = load(reference, write("charges.csv", charges))
    assert_accounting(reference, result, 5)
    assert {(r, code) for r, _, _, code in issues(reference)} == {
        (3, "amount_negative"), (5, "duplicate_key"), (6, "date_in_future"),
    }
    assert reference.rows("SELECT charge_id, amount_yuan::VARCHAR, payment_method FROM std.charge ORDER BY 1") == [
        ("F1", "1280.00", "wechat_pay"), ("F3", "280.00", "alipay"),
    ]


def test_visit_names_resolve_to_clinic_and_doctor_ids(reference, write):
    visits = (
        "就诊号,病历号,就诊日期,诊所,科室,医生,诊断\r\n"
        "V1,P1,2025-03-01,锦江口腔门诊部,牙周科,王建国,慢性牙周炎\r\n"
        "V2,P1,2025-03-01,高新口腔门诊部,综合科,王建国,龋齿\r\n"
        "V3,P1,2025-03-01,高新口腔门诊部,综合科,张三,龋齿\r\n"
        "V4,P1,2025-03-01,高新口腔门诊部,外星科,王建国,龋齿\r\n"
    )
    [result] = load(reference, write("visits.csv", visits))
    assert_accounting(reference, result, 4)
    assert reference.rows("SELECT visit_id, clinic_id, doctor_id, department FROM std.visit ORDER BY 1") == [
        ("V1", "C01", "D001", "periodontics"), ("V2", "C02", "D003", "general"), ("V3", "C02", None, "general"),
    ]
    assert issues(reference) == [(5, "科室", "外星科", "code_unknown")]
    assert issues(reference, "warning") == [(4, "医生", "张三", "doctor_unknown")]


def test_whole_file_rejections_are_recorded_and_harmless(reference, write):
    results = load(
        reference,
        write("patients.csv", b""),
        write("visits.csv", "就诊号,病历号,就诊日期,诊所,科室,医生,诊断\r\n"),
        write("charges.csv", "收费单号,金额\r\nF1,10\r\n"),
        write("notes.docx", "hello"),
    )
    by_name = {r.file.rsplit("/", 1)[-1]: r for r in results}
    assert {n: r.status for n, r in by_name.items()} == dict.fromkeys(
        ["patients.csv", "visits.csv", "charges.csv", "notes.docx"], "rejected"
    )
    assert "empty" in by_name["patients.csv"].message_en
    assert "no data rows" in by_name["visits.csv"].message_en
    assert "病历号, 收费日期" in by_name["charges.csv"].message_en
    assert "no source mapping" in by_name["notes.docx"].message_en
    assert reference.scalar("SELECT count(*) FROM ops.load WHERE status = 'rejected'") == 4
    assert reference.count("std.charge") == 0 and reference.count("std.clinic") == 2


def test_xlsx_with_merged_header_cells(reference, write, tmp_path):
    path = tmp_path / "src" / "customers.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("客户")
    ws.merge_range(0, 0, 0, 2, "客户基本信息")
    ws.merge_range(0, 3, 0, 5, "其他")
    ws.write_row(1, 0, ["客户ID", "姓名", "手机", "性别", "生日", "注册时间"])
    ws.write_row(2, 0, ["B1", "張偉", 13812345678, "F", "1985/3/15", "2024-01-05 10:00:00"])
    ws.write_row(3, 0, ["B2", "王芳", "12345", "女", "1990-01-01", "2024-01-05"])
    wb.close()
    [result] = load(reference, path)
    assert_accounting(reference, result, 2)
    assert patient_rows(reference, "source_patient_key, name, mobile, sex") == [
        ("B1", "张伟", "+8613812345678", "F")
    ]
    assert issues(reference) == [(4, "手机", "12345", "mobile_wrong_length")]
    assert reference.scalar("SELECT DISTINCT file_path FROM quarantine.issue").endswith("customers.xlsx#客户")


def test_reasons_name_what_is_allowed(reference, write):
    visits = (
        "就诊号,病历号,就诊日期,诊所,科室,医生,诊断\r\n"
        "V1,P1,2030-03-01,锦江口腔门诊部,牙周科,王建国,慢性牙周炎\r\n"
        "V2,P1,2025-03-01,锦江口腔门诊部,外星科,王建国,龋齿\r\n"
    )
    load(reference, write("visits.csv", visits))
    reasons = dict(reference.rows("SELECT code, reason_en FROM quarantine.issue WHERE severity = 'error'"))
    assert "2030-03-01" in reasons["date_in_future"] and "2026-10-31" in reasons["date_in_future"]
    assert "外星科" in reasons["code_unknown"] and "正畸科" in reasons["code_unknown"]
    zh = reference.scalar("SELECT reason_zh FROM quarantine.issue WHERE code = 'code_unknown'")
    assert "可填写" in zh
