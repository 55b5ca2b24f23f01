"""Write the whole export set and the expected outcome of every row: `build(out_dir, seed=0)`."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from pathlib import Path

from foreign.exports import bookings, patients, visits
from foreign.exports.common import CLINICS, EXPORT_DATE, OUTCOMES, People, Record, write_csv

CLINICS_FILE = "reference/门诊列表.csv"
CLINICS_HEADER = ("门诊编号", "门诊名称", "区县", "地址", "开业日期", "牙椅数")
EXPECTED = "expected.csv"
SUMMARY = "expected_summary.json"
EXPECTED_HEADER = ("file", "physical_row", "outcome", "reason", "expected")

# The files in the order to load them: clinics first, patients before their visits.
FILES = (CLINICS_FILE, patients.FILE, visits.FILE, bookings.FILE)

# Where each header belongs in the canonical model (table.column); `*` marks a place the
# model does not have yet (see "Needs from the model" in the README).
COLUMNS = {
    CLINICS_FILE: dict(
        zip(
            CLINICS_HEADER,
            (
                "clinic.clinic_id",
                "clinic.name",
                "clinic.district",
                "clinic.address",
                "clinic.opened_on",
                "clinic.chairs",
            ),
            strict=True,
        )
    ),
    patients.FILE: dict(
        zip(
            patients.HEADER,
            (
                "patient.source_patient_key",
                "patient.name",
                "patient.sex",
                "patient.birth_date",
                "patient.mobile",
                "patient.id_number",
                "patient.address",
                "patient.registered_on",
                "patient.clinic_id",
            ),
            strict=True,
        )
    ),
    visits.FILE: dict(
        zip(
            visits.HEADER,
            (
                "visit.source_patient_key",
                "visit.visited_at*",
                "visit.department",
                "treatment.item_code",
                "visit.doctor_id",
                "charge.amount_yuan",
            ),
            strict=True,
        )
    ),
    bookings.FILE: dict(
        zip(
            bookings.HEADER,
            (
                "appointment.appointment_id",
                "patient.name",
                "patient.mobile",
                "appointment.slot_start",
                "appointment.clinic_id",
                "appointment.item*",
                "appointment.channel",
                "appointment.status",
                "appointment.note*",
            ),
            strict=True,
        )
    ),
}
# Columns holding coded values whose distinct raw spellings a mapping must translate.
CODED = {
    patients.FILE: ("性别", "所属门诊"),
    visits.FILE: ("科室", "项目名称", "医生"),
    bookings.FILE: ("门诊", "项目", "渠道", "状态"),
}


def _clinic_records() -> list[Record]:
    return [
        Record(
            [cid, name, district, address, opened, str(chairs)],
            "load",
            "",
            {
                "clinic_id": cid,
                "name": name,
                "district": district,
                "address": address,
                "opened_on": opened,
                "chairs": chairs,
            },
        )
        for cid, name, district, address, opened, chairs in CLINICS
    ]


def build(out_dir: Path | str, seed: int = 0) -> dict:
    """Write the exports, expected.csv and expected_summary.json under out_dir; return the summary."""
    out = Path(out_dir)
    rng = random.Random(seed)
    people = People(rng)
    clinic_rows = _clinic_records()
    patient_rows, loaded = patients.build_patients(rng, people)
    visit_rows = visits.build_visits(rng, loaded)
    booking_rows = bookings.build_bookings(rng, people, loaded)

    write_csv(out / CLINICS_FILE, CLINICS_HEADER, clinic_rows, "utf-8")
    patients.write_patients(out / patients.FILE, patient_rows)
    visits.write_visits(out / visits.FILE, visit_rows)
    bookings.write_bookings(out / bookings.FILE, booking_rows)

    files = {
        CLINICS_FILE: (CLINICS_HEADER, 1, "utf-8", clinic_rows),
        patients.FILE: (patients.HEADER, patients.HEADER_ROW, "xlsx", patient_rows),
        visits.FILE: (visits.HEADER, 1, visits.ENCODING, visit_rows),
        bookings.FILE: (bookings.HEADER, 1, bookings.ENCODING, booking_rows),
    }
    for rows in (patient_rows, visit_rows, booking_rows):
        for record in rows:
            if record.duplicate_of is not None:
                record.expected["duplicate_of"] = record.duplicate_of.physical_row

    with (out / EXPECTED).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXPECTED_HEADER)
        for name, (*_, rows) in files.items():
            for record in rows:
                writer.writerow(
                    (
                        name,
                        record.physical_row,
                        record.outcome,
                        record.reason,
                        json.dumps(record.expected, ensure_ascii=False),
                    )
                )

    summary = {
        "reference_date": EXPORT_DATE.isoformat(),
        "seed": seed,
        "files": {name: _file_summary(name, *spec) for name, spec in files.items()},
        "visits": _visit_rollup(visit_rows),
    }
    summary["totals"] = {
        key: sum(f[key] for f in summary["files"].values()) for key in ("rows", *OUTCOMES)
    }
    (out / SUMMARY).write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _file_summary(
    name: str, header: tuple[str, ...], header_row: int, encoding: str, rows: list[Record]
) -> dict:
    outcomes = Counter(r.outcome for r in rows)
    data = [r for r in rows if r.outcome != "ignore"]
    return {
        "encoding": encoding,
        "header_row": header_row,
        "rows": len(rows),
        **{outcome: outcomes[outcome] for outcome in OUTCOMES},
        "reasons": dict(sorted(Counter(r.reason for r in rows if r.reason).items())),
        "columns": COLUMNS[name],
        "values": {
            column: dict(Counter(str(r.cells[header.index(column)]) for r in data).most_common())
            for column in CODED.get(name, ())
        },
    }


def _visit_rollup(rows: list[Record]) -> dict:
    """What the loaded lines add up to: visits (patient + time) and money."""
    lines = [r.expected for r in rows if r.outcome == "load"]
    return {
        "lines": len(lines),
        "visits": len({(e["source_patient_key"], e["visited_at"]) for e in lines}),
        "amount_yuan": f"{sum(int(e['amount_yuan'][:-3]) for e in lines)}.00",
        "free_lines": sum(e["amount_yuan"] == "0.00" for e in lines),
        "other_item_lines": sum(e["item_code"] == "other" for e in lines),
    }


def read_expected(out_dir: Path | str) -> list[dict]:
    """expected.csv as dicts, with `physical_row` an int and `expected` parsed from JSON."""
    with (Path(out_dir) / EXPECTED).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["physical_row"] = int(row["physical_row"])
        row["expected"] = json.loads(row["expected"])
    return rows
