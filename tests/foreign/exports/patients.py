"""The old HIS's patient sheet (患者信息.xlsx): rows, Excel damage and invalid rows."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import xlsxwriter

from foreign.exports.common import (
    ADDRESS_STREETS,
    CHAIN,
    CLINICS,
    EXPORT_DATE,
    People,
    Person,
    Record,
    excel_serial,
    iso,
    mobile_e164,
    problem,
    random_day,
)

FILE = "old_his/患者信息.xlsx"
SHEET = "患者信息"
HEADER = (
    "病历号",
    "姓名",
    "性别",
    "出生日期",
    "联系电话",
    "身份证号",
    "家庭住址",
    "初诊日期",
    "所属门诊",
)
TITLE = f"{CHAIN} 患者信息导出 {EXPORT_DATE.isoformat()}"
HEADER_ROW = 3  # title on row 1, a blank row 2, then the header
DISTINCT_PATIENTS = 1990
DUPLICATES = 10
# Invalid rows: each has exactly one thing wrong.
BAD_BIRTH_DATES = 15  # one of them the serial 60
PHONES_TOO_SHORT = 15
BAD_CHECKSUMS = 15
# Excel damage on rows that must still load.
DAMAGED_IDS = 700
DAMAGED_PHONES = 20
SERIAL_BIRTH_DATES = 200
DATE_CELL_BIRTH_DATES = 300
NUMERIC_PHONE_SHARE = 0.3
SPACED_NAMES = 30
# Names with characters outside GBK (CJK extension A and B).
RARE_NAMES = ("王䶮", "陈𠮷")

TEXT_DATE_FORMATS = (
    ("%Y-%m-%d", 8),
    ("%Y/%-m/%-d", 5),
    ("%Y年%-m月%-d日", 3),
    ("%Y%m%d", 2),
    ("%Y.%m.%d", 2),
)


@dataclass
class Patient:
    """A patient that loads: visits and bookings refer to these."""

    key: str
    person: Person
    registered_on: date
    clinic_id: str


def _impossible_date(rng: random.Random, year: int) -> str:
    non_leap = year if year % 4 else year + 1
    return rng.choice(
        (
            f"{year}-02-30",
            f"{year}-04-31",
            f"{year}/6/31",
            f"{year}-13-05",
            f"{non_leap}年2月29日",
            f"{year}-00-12",
        )
    )


def _text_date(rng: random.Random, day: date) -> str:
    fmts, weights = zip(*TEXT_DATE_FORMATS, strict=True)
    return day.strftime(rng.choices(fmts, weights)[0])


def build_patients(rng: random.Random, people: People) -> tuple[list[Record], list[Patient]]:
    """The sheet's data rows in order (blank and totals rows included) and the patients that load."""
    patients = []
    for n, key in enumerate(sorted(rng.sample(range(200001, 260000), DISTINCT_PATIENTS))):
        person = people.person(date(1936, 1, 1), date(2023, 6, 30), mobile_share=0.98)
        if n < len(RARE_NAMES):
            person.name = RARE_NAMES[n]
        registered = random_day(rng, max(person.birth, date(2012, 5, 1)), EXPORT_DATE)
        patients.append(Patient(str(key), person, registered, rng.choice(CLINICS)[0]))

    role = _draw_roles(rng, patients)
    plain = [i for i in range(DISTINCT_PATIENTS) if role.get(i) not in ("bad_date", "serial_60")]
    drawn = rng.sample(plain, SERIAL_BIRTH_DATES + DATE_CELL_BIRTH_DATES)
    birth_form = dict.fromkeys(drawn[:SERIAL_BIRTH_DATES], "serial")
    birth_form.update(dict.fromkeys(drawn[SERIAL_BIRTH_DATES:], "date_cell"))
    spaced = set(rng.sample(range(len(RARE_NAMES), DISTINCT_PATIENTS), SPACED_NAMES))

    records = [
        _record(rng, patient, role.get(i, ""), birth_form.get(i, "text"), i in spaced)
        for i, patient in enumerate(patients)
    ]
    loaded = [p for p, r in zip(patients, records, strict=True) if r.outcome != "reject"]
    _insert_duplicates(rng, records)
    records.insert(len(records) // 2, Record([], "ignore", "blank"))
    records += [
        Record([], "ignore", "blank"),
        Record([], "ignore", "blank"),
        Record(["合计", f"{DISTINCT_PATIENTS}人"], "ignore", "totals"),
    ]
    return records, loaded


def _draw_roles(rng: random.Random, patients: list[Patient]) -> dict[int, str]:
    """What is wrong with which row: at most one thing each (index -> reason)."""
    order = list(range(len(patients)))
    rng.shuffle(order)
    role: dict[int, str] = {}
    has_mobile = lambda p: p.person.mobile is not None  # noqa: E731
    for reason, count, eligible in (
        ("bad_date", BAD_BIRTH_DATES - 1, lambda p: True),
        ("serial_60", 1, lambda p: True),
        ("phone_wrong_length", PHONES_TOO_SHORT, has_mobile),
        ("id_checksum", BAD_CHECKSUMS, lambda p: True),
        ("excel_damaged_phone", DAMAGED_PHONES, has_mobile),
        # An ID ending in X cannot be a number cell.
        ("excel_damaged_id", DAMAGED_IDS, lambda p: p.person.id_number[-1] != "X"),
    ):
        chosen = [i for i in order if i not in role and eligible(patients[i])][:count]
        role.update(dict.fromkeys(chosen, reason))
    return role


def _birth_cell(rng: random.Random, birth: date, what: str, form: str):
    if what == "bad_date":
        return _impossible_date(rng, birth.year)
    if what == "serial_60":
        return 60  # Excel's fictitious 1900-02-29
    if form == "serial":
        return excel_serial(birth)
    return birth if form == "date_cell" else _text_date(rng, birth)


def _phone_cell(rng: random.Random, mobile: str | None, what: str):
    if mobile is None:
        return None
    if what == "phone_wrong_length":
        return mobile[:10]
    if what == "excel_damaged_phone":
        return f"{int(mobile):.2E}"  # 18912345678 -> "1.89E+10"
    return (
        int(mobile) if rng.random() < NUMERIC_PHONE_SHARE else mobile
    )  # a number cell keeps all 11 digits


def _id_cell(rng: random.Random, id_number: str, what: str):
    if what == "excel_damaged_id":
        # Excel keeps 15 significant digits of a number: the last three are gone.
        return float(int(id_number[:15]) * 1000)
    if what == "id_checksum":
        return id_number[:17] + rng.choice("0123456789X".replace(id_number[-1], ""))
    return id_number


def _record(
    rng: random.Random, patient: Patient, what: str, birth_form: str, spaced: bool
) -> Record:
    p = patient.person
    name_cell = p.name[0] + rng.choice((" ", "\u3000")) + p.name[1:] if spaced else p.name
    birth_cell = _birth_cell(rng, p.birth, what, birth_form)
    phone_cell = _phone_cell(rng, p.mobile, what)
    id_cell = _id_cell(rng, p.id_number, what)
    street = rng.choice(ADDRESS_STREETS)
    address = f"浙江省杭州市{street}{rng.randint(1, 999)}号{rng.randint(1, 30)}幢{rng.randint(1, 6)}0{rng.randint(1, 4)}室"
    registered_cell = patient.registered_on.strftime(rng.choice(("%Y-%m-%d", "%Y/%m/%d")))
    clinic_name = next(c[1] for c in CLINICS if c[0] == patient.clinic_id)
    sex_cell = "男" if p.sex == "M" else "女"
    cells = [
        int(patient.key),
        name_cell,
        sex_cell,
        birth_cell,
        phone_cell,
        id_cell,
        address,
        registered_cell,
        clinic_name,
    ]

    key = {"source_patient_key": patient.key}
    if what in ("bad_date", "serial_60"):
        return Record(
            cells,
            "reject",
            "bad_date",
            {**key, **problem("出生日期", "birth_date", str(birth_cell))},
        )
    if what == "phone_wrong_length":
        return Record(cells, "reject", what, {**key, **problem("联系电话", "mobile", phone_cell)})
    if what == "id_checksum":
        return Record(cells, "reject", what, {**key, **problem("身份证号", "id_number", id_cell)})
    expected = {
        **key,
        "name": p.name,
        "sex": p.sex,
        "birth_date": iso(p.birth),
        "mobile": None if what == "excel_damaged_phone" else mobile_e164(p.mobile),
        "id_number": None if what == "excel_damaged_id" else p.id_number,
        "address": address,
        "registered_on": iso(patient.registered_on),
        "clinic_id": patient.clinic_id,
    }
    if what == "excel_damaged_id":
        expected["warning"] = problem("身份证号", "id_number", repr(id_cell))
    if what == "excel_damaged_phone":
        expected["warning"] = problem("联系电话", "mobile", phone_cell)
    return Record(cells, "load_with_warning" if what else "load", what, expected)


def _insert_duplicates(rng: random.Random, records: list[Record]) -> None:
    """Repeat some loading rows exactly, a few rows after the original (a re-run export step)."""
    for original in rng.sample([r for r in records if r.outcome == "load"], DUPLICATES):
        at = records.index(original) + rng.randint(1, 4)
        copy = original.copy()
        copy.expected = {"source_patient_key": original.expected["source_patient_key"]}
        records.insert(at, copy)


def write_patients(path: Path, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet(SHEET)
    title = book.add_format({"bold": True, "align": "center", "font_size": 14})
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.merge_range(0, 0, 0, len(HEADER) - 1, TITLE, title)
    for col, name in enumerate(HEADER):
        sheet.write_string(HEADER_ROW - 1, col, name)
    for n, record in enumerate(records):
        record.physical_row = HEADER_ROW + 1 + n
        for col, value in enumerate(record.cells):
            row = record.physical_row - 1
            if value is None:
                continue
            if isinstance(value, date):
                sheet.write_datetime(row, col, value, date_format)
            elif isinstance(value, int | float):
                sheet.write_number(row, col, value)
            else:
                sheet.write_string(row, col, value)
    book.close()
