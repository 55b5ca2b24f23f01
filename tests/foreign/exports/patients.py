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
HEADER = ("病历号", "姓名", "性别", "出生日期", "联系电话", "身份证号", "家庭住址", "初诊日期", "所属门诊")
TITLE = f"{CHAIN} 患者信息导出 {EXPORT_DATE.isoformat()}"
HEADER_ROW = 3  # title on row 1, a blank row 2, then the header
DISTINCT_PATIENTS = 1990
DUPLICATES = 10
# Invalid rows: each has exactly one thing wrong.
BAD_BIRTH_DATES = 14
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

TEXT_DATE_FORMATS = (("%Y-%m-%d", 8), ("%Y/%-m/%-d", 5), ("%Y年%-m月%-d日", 3), ("%Y%m%d", 2), ("%Y.%m.%d", 2))


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
        (f"{year}-02-30", f"{year}-04-31", f"{year}/6/31", f"{year}-13-05", f"{non_leap}年2月29日", f"{year}-00-12")
    )


def _text_date(rng: random.Random, day: date) -> str:
    fmts, weights = zip(*TEXT_DATE_FORMATS, strict=True)
    return day.strftime(rng.choices(fmts, weights)[0])


def build_patients(rng: random.Random, people: People) -> tuple[list[Record], list[Patient]]:
    """The sheet's data rows in order (blank and totals rows included) and the patients that load."""
    keys = sorted(rng.sample(range(200001, 260000), DISTINCT_PATIENTS))
    patients = []
    for n, key in enumerate(keys):
        person = people.person(date(1936, 1, 1), date(2023, 6, 30), mobile_share=0.98)
        if n < len(RARE_NAMES):
            person.name = RARE_NAMES[n]
        registered = random_day(rng, max(person.birth, date(2012, 5, 1)), EXPORT_DATE)
        patients.append(Patient(str(key), person, registered, rng.choice(CLINICS)[0]))

    # Roles: one per row, drawn in this order so each row has at most one problem.
    order = list(range(DISTINCT_PATIENTS))
    rng.shuffle(order)
    role: dict[int, str] = {}

    def assign(name: str, count: int, eligible) -> None:
        chosen = [i for i in order if i not in role and eligible(patients[i])][:count]
        assert len(chosen) == count, name
        role.update(dict.fromkeys(chosen, name))

    has_mobile = lambda p: p.person.mobile is not None  # noqa: E731
    assign("bad_date", BAD_BIRTH_DATES, lambda p: True)
    assign("serial_60", 1, lambda p: True)
    assign("phone_wrong_length", PHONES_TOO_SHORT, has_mobile)
    assign("id_checksum", BAD_CHECKSUMS, lambda p: True)
    assign("excel_damaged_phone", DAMAGED_PHONES, has_mobile)
    assign("excel_damaged_id", DAMAGED_IDS, lambda p: p.person.id_number[-1] != "X")

    birth_form = {}
    plain = [i for i in range(DISTINCT_PATIENTS) if role.get(i) not in ("bad_date", "serial_60")]
    drawn = rng.sample(plain, SERIAL_BIRTH_DATES + DATE_CELL_BIRTH_DATES)
    birth_form.update(dict.fromkeys(drawn[:SERIAL_BIRTH_DATES], "serial"))
    birth_form.update(dict.fromkeys(drawn[SERIAL_BIRTH_DATES:], "date_cell"))
    spaced = set(rng.sample([i for i in order if i >= len(RARE_NAMES)], SPACED_NAMES))

    records: list[Record] = []
    loaded: list[Patient] = []
    for i, patient in enumerate(patients):
        p = patient.person
        what = role.get(i, "")
        name_cell = p.name[0] + rng.choice((" ", "\u3000")) + p.name[1:] if i in spaced else p.name
        if what == "bad_date":
            birth_cell = _impossible_date(rng, p.birth.year)
        elif what == "serial_60":
            birth_cell = 60  # Excel's fictitious 1900-02-29
        elif birth_form.get(i) == "serial":
            birth_cell = excel_serial(p.birth)
        elif birth_form.get(i) == "date_cell":
            birth_cell = p.birth
        else:
            birth_cell = _text_date(rng, p.birth)

        if p.mobile is None:
            phone_cell = None
        elif what == "phone_wrong_length":
            phone_cell = p.mobile[:10]
        elif what == "excel_damaged_phone":
            phone_cell = f"{int(p.mobile):.2E}"  # 18912345678 -> "1.89E+10"
        elif rng.random() < NUMERIC_PHONE_SHARE:
            phone_cell = int(p.mobile)  # a number cell that keeps all 11 digits
        else:
            phone_cell = p.mobile

        if what == "excel_damaged_id":
            # Excel keeps 15 significant digits of a number: the last three are gone.
            id_cell = float(int(p.id_number[:15]) * 1000)
        elif what == "id_checksum":
            wrong = "0123456789X".replace(p.id_number[-1], "")
            id_cell = p.id_number[:17] + rng.choice(wrong)
        else:
            id_cell = p.id_number

        address = f"浙江省杭州市{rng.choice(ADDRESS_STREETS)}{rng.randint(1, 999)}号{rng.randint(1, 30)}幢{rng.randint(1, 6)}0{rng.randint(1, 4)}室"
        clinic_name = next(c[1] for c in CLINICS if c[0] == patient.clinic_id)
        registered_cell = patient.registered_on.strftime(rng.choice(("%Y-%m-%d", "%Y/%m/%d")))
        cells = [int(patient.key), name_cell, "男" if p.sex == "M" else "女", birth_cell, phone_cell,
                 id_cell, address, registered_cell, clinic_name]

        key = {"source_patient_key": patient.key}
        if what in ("bad_date", "serial_60"):
            records.append(Record(cells, "reject", "bad_date", {**key, **problem("出生日期", "birth_date", str(birth_cell))}))
            continue
        if what == "phone_wrong_length":
            records.append(Record(cells, "reject", what, {**key, **problem("联系电话", "mobile", phone_cell)}))
            continue
        if what == "id_checksum":
            records.append(Record(cells, "reject", what, {**key, **problem("身份证号", "id_number", id_cell)}))
            continue
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
        records.append(Record(cells, "load_with_warning" if what else "load", what, expected))
        loaded.append(patient)

    _insert_duplicates(rng, records)
    records.insert(len(records) // 2, Record([], "ignore", "blank"))
    records += [Record([], "ignore", "blank"), Record([], "ignore", "blank"),
                Record(["合计", f"{DISTINCT_PATIENTS}人"], "ignore", "totals")]
    return records, loaded



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
