"""Helpers shared by tests: crafted source files and warehouse assertions."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from molar.ingest import ingest_paths, quarantine
from molar.ingest.mapping import load_mappings, match_file
from molar.privacy import crypto, fields, keys

TODAY = date(2026, 10, 31)
IN_CI = os.environ.get("CI", "").lower() == "true"


def examples(ci: int, local: int) -> int:
    """Hypothesis examples for a test that is costly per example: ``ci`` in CI, else ``local``."""
    return ci if IN_CI else local

CLINICS_CSV = (
    "诊所编号,诊所名称,区县,地址,纬度,经度,开业日期,牙椅数\r\n"
    "C01,锦江口腔门诊部,锦江区,红星路1号,30.65,104.08,2015-03-01,12\r\n"
    "C02,高新口腔门诊部,高新区,天府大道2号,30.55,104.06,2018/6/1,8\r\n"
)
DOCTORS_CSV = (
    "医生编号,姓名,诊所编号,科室,职称\r\n"
    "D001,王建国,C01,牙周科,主治医师\r\n"
    "D002,李敏,C01,正畸科,主任医师\r\n"
    "D003,王建国,C02,综合科,医师\r\n"
)
PATIENT_HEADER = "病历号,患者姓名,性别,出生日期,手机号,身份证号,区县,住址,建档日期,首诊诊所\r\n"


def id_number(prefix17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(prefix17, weights, strict=True))
    return prefix17 + "10X98765432"[total % 11]


def patient_rows(engine, columns: str, where: str = "") -> list[tuple]:
    """Rows of std.patient as ingest stored them, personal columns decrypted."""
    table = fields.read_patients(engine, columns, where)
    return list(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def seal_free_text(engine) -> None:
    """Seal the consult and review texts a test wrote in plaintext, as ingest writes them."""
    cipher = fields.cipher_for(engine)
    for table in ("std.consult", "std.review"):
        plain = "NOT starts_with(coalesce(text, ''), 'v1.')"
        rows = engine.arrow(f"SELECT * FROM {table} WHERE {plain}")
        engine.execute(f"DELETE FROM {table} WHERE {plain}")
        engine.append(table, fields.seal_rows(table, rows, cipher))


def golden_rows(engine, columns: str, where: str = "", params: list | None = None) -> list[tuple]:
    """Rows of identity.patient with its personal columns decrypted."""
    table = fields.read_golden(engine, columns, where, params)
    return [tuple(r.values()) for r in table.to_pylist()]


def add_golden(engine, **values) -> None:
    """One golden record, sealed as identity writes it; unnamed columns are NULL
    (``member_count`` 1, ``sources`` ['his'], ``updated_at`` 2026-01-01 by default)."""
    from datetime import datetime

    import pyarrow as pa

    row = {"member_count": 1, "sources": ["his"], "updated_at": datetime(2026, 1, 1), **values}
    schema = engine.arrow("SELECT * EXCLUDE (mobile_bi, id_number_bi, unionid_bi) FROM identity.patient LIMIT 0").schema
    table = pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema}], schema=schema)
    engine.append("identity.patient", fields.seal_golden(table, keys.open_keyring_from(None, engine)))


def load(engine, *paths: Path, **kwargs):
    return ingest_paths(engine, list(paths), today=TODAY, **kwargs)


def issues(engine, severity: str = "error") -> list[tuple]:
    """(row, field, value, code) of quarantined rows, personal values opened."""
    reveal = crypto.FieldCipher(keys.open_keyring_from(None, engine))
    rows = quarantine.issues(engine, "row_number, field, code", "WHERE severity = ? ORDER BY row_number, code",
                             [severity], reveal)
    return [(row, field, value, code) for row, field, code, value in rows]


def accounted_rows(engine, load_id: str, table: str) -> tuple[int, int]:
    """(rows in std, distinct rows in quarantine) of one load for one canonical table,
    counted from the tables themselves, not from the loader's bookkeeping. A line with an
    error for any table it feeds is kept out of all of them, so every error of the load
    counts for every table."""
    in_std = engine.scalar(f"SELECT count(*) FROM std.{table} WHERE _load_id = ?", [load_id])
    quarantined = engine.scalar(
        "SELECT count(DISTINCT (file_path, row_number)) FROM quarantine.issue "
        "WHERE load_id = ? AND severity = 'error'",
        [load_id],
    )
    return in_std, quarantined


def assert_accounting(engine, result, source_rows: int) -> None:
    """Every one of the file's ``source_rows`` data rows is in std, in quarantine or marked
    ignorable in raw (blank lines, totals rows), exactly once, for every table the file
    feeds; the loader's own numbers agree."""
    assert result.status == "complete", result.message_en
    file_map = match_file(Path(result.file), load_mappings())
    assert file_map is not None, result.file
    ignored = engine.scalar(
        f"SELECT count(*) FROM {file_map.raw_table} WHERE _load_id = ? "
        "AND _problem IN ('blank_line', 'totals_row')", [result.load_id])
    assert result.rows_ignored == ignored
    for table in (t.contract.name for t in file_map.tables):
        in_std, quarantined = accounted_rows(engine, result.load_id, table)
        assert in_std + quarantined + ignored == source_rows, (result.file, table, in_std, quarantined, ignored,
                                                               source_rows)
        [target] = [t for t in result.targets if t.table == table]
        assert (target.rows_read, target.rows_loaded, target.rows_quarantined) == (
            source_rows - ignored, in_std, quarantined)
