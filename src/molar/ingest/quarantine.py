"""Read the quarantine: summaries for administrators and exports they can fix and reload.

Personal values are stored sealed (:mod:`molar.privacy.sealed`): they are opened only
with a ``reveal`` cipher, given to callers whose role may read them, else shown as
:data:`~molar.privacy.sealed.HIDDEN`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa

from molar.ingest.sqlgen import ident
from molar.privacy import sealed
from molar.privacy.crypto import FieldCipher
from molar.warehouse import Engine


def _reason(lang: str) -> str:
    return "reason_zh" if lang == "zh" else "reason_en"


def summary(engine: Engine, lang: str = "en", severity: str = "error") -> list[tuple]:
    return engine.rows(
        f"""
        SELECT source, regexp_extract(file_path, '[^/]+$'), target_table, code,
               count(DISTINCT (row_number, file_path)), any_value({_reason(lang)})
        FROM quarantine.issue WHERE severity = ?
        GROUP BY ALL ORDER BY 1, 2, 5 DESC
        """,
        [severity],
    )


def issues(engine: Engine, columns: str, where: str = "", params: list | None = None,
           reveal: FieldCipher | None = None) -> list[tuple]:
    """``SELECT <columns>, value FROM quarantine.issue <where>`` with sealed values opened
    by ``reveal`` (hidden without it)."""
    rows = engine.rows(f"SELECT {columns}, value, value_sealed, {sealed.ISSUE_RECORD_KEY} FROM {sealed.ISSUE} {where}",
                       params)
    values = sealed.issue_values([r[-3] for r in rows], [r[-2] for r in rows], [r[-1] for r in rows], reveal)
    return [(*r[:-3], v) for r, v in zip(rows, values, strict=True)]


def details(
    engine: Engine, *, file: str | None, code: str | None, limit: int, lang: str = "en", severity: str = "error",
    reveal: FieldCipher | None = None,
) -> list[tuple]:
    """(file, row, field, value, reason, value is personal) of quarantined rows."""
    rows = issues(
        engine, f"regexp_extract(file_path, '[^/]+$'), row_number, field, {_reason(lang)}, value_sealed",
        "WHERE severity = ? AND (? IS NULL OR contains(file_path, ?)) AND (? IS NULL OR code = ?) "
        "ORDER BY file_path, row_number LIMIT ?",
        [severity, file, file, code, code, limit], reveal)
    return [(f, n, field, value, reason, bool(personal)) for f, n, field, reason, personal, value in rows]


class QuarantinedFile(NamedTuple):
    """One loaded file with quarantined rows (a load reads one file)."""

    load_id: str
    source: str
    entry: str
    file_path: str
    rows: int

    @property
    def stem(self) -> str:
        return Path(self.file_path).stem


def files(engine: Engine) -> list[QuarantinedFile]:
    return [QuarantinedFile(*r) for r in engine.rows(
        "SELECT i.load_id, l.source, l.entry, l.file_path, count(DISTINCT (i.row_number, i.file_path)) FROM quarantine.issue i "
        "JOIN ops.load l USING (load_id) WHERE i.severity = 'error' GROUP BY ALL ORDER BY l.file_path, i.load_id"
    )]


def write_csv(engine: Engine, group: QuarantinedFile, writer: Any, reveal: FieldCipher | None = None
              ) -> tuple[int, list[str]]:
    """The file's quarantined rows as they were received, plus their reasons, to a ``csv.writer``;
    sealed cells opened by ``reveal`` (hidden without it). Returns (rows, personal columns)."""
    raw_table = f"raw.{group.source}__{group.entry}"
    headers = [c for c in engine.columns(raw_table) if not c.startswith("_")]
    select = ", ".join(f"r.{ident(h)}" for h in headers)
    rows = engine.arrow(
        f"""
        SELECT r._load_id, r._row_number, r._part, {select},
               string_agg(DISTINCT i.reason_en, '; ') AS reason_en, string_agg(DISTINCT i.reason_zh, '；') AS reason_zh
        FROM {raw_table} r JOIN quarantine.issue i
          ON i.load_id = r._load_id AND i.row_number = r._row_number
         AND i.file_path = ? || coalesce('#' || r._part, '')
        WHERE r._load_id = ? AND i.severity = 'error'
        GROUP BY ALL ORDER BY r._row_number
        """,
        [group.file_path, group.load_id],
    )
    personal = [h for h in sealed.sealed_columns(engine, raw_table).get(raw_table, []) if h in headers]
    if reveal:
        rows = sealed.open_raw(rows, raw_table, personal, reveal)
    else:
        for h in personal:
            rows = rows.set_column(rows.column_names.index(h), h, pa.array(
                [None if v is None else sealed.HIDDEN for v in rows[h].to_pylist()], pa.string()))
    writer.writerow(["row_number", *headers, "reason_en", "reason_zh"])
    writer.writerows(zip(*(rows[c].to_pylist() for c in ["_row_number", *headers, "reason_en", "reason_zh"]),
                         strict=True))
    return rows.num_rows, personal


def export(engine: Engine, out_dir: Path, reveal: FieldCipher | None = None) -> list[tuple[Path, int]]:
    """One CSV per (source entry, file): see :func:`write_csv`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for group in files(engine):
        target = out_dir / f"{group.stem}.quarantine.csv"
        with target.open("w", encoding="utf-8-sig", newline="") as f:
            n, _ = write_csv(engine, group, csv.writer(f), reveal)
        written.append((target, n))
    return written
