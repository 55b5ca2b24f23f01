"""``link_file``: resolve a standalone CSV of people with the same linker, no warehouse.

Input: UTF-8 CSV (a BOM is fine) with a header naming any of
``record_id,source,name,sex,birth_date,mobile,id_number,district,address,wechat_unionid``
(``record_id`` is required; every other column may be missing or empty). Values are raw,
as a source system holds them; they go through the ingest standardisers (names, sexes,
dates, mobiles, ID numbers) into a ``std.patient`` in an in-memory warehouse, and then
through ``resolve`` exactly as the warehouse's records do. The ``name`` of a record with
a ``wechat_unionid`` is its WeChat nickname (``std.patient.nickname``): it counts as a
real name only when it reads as one (2–4 Chinese characters starting with a surname).

Output: CSV ``record_id,golden_id`` in input order. Golden IDs are numbered afresh for
each file.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from molar.ingest.standardise import get_standardiser
from molar.privacy import fields, keys
from molar.warehouse import DuckDBEngine, migrate

COLUMNS: tuple[str, ...] = (
    "record_id", "source", "name", "sex", "birth_date", "mobile", "id_number", "district", "address",
    "wechat_unionid",
)
DEFAULT_SOURCE = "file"


class LinkFileError(ValueError):
    """The input file cannot be linked; the message says what to fix."""


def read_people(path: Path) -> pa.Table:
    try:
        return _read_people(path)
    except UnicodeDecodeError as exc:
        raise LinkFileError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV") from None
    except csv.Error as exc:
        raise LinkFileError(f"{path}: not a readable CSV ({exc}); check quoting on that line") from None


def _read_people(path: Path) -> pa.Table:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise LinkFileError(f"{path}: the file is empty; it needs a header row") from None
        if "record_id" not in header:
            raise LinkFileError(
                f"{path}: no record_id column; the header must name record_id and any of "
                + ",".join(COLUMNS[1:])
            )
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise LinkFileError(f"{path}: unknown columns {unknown}; known: {','.join(COLUMNS)}")
        positions = {h: i for i, h in enumerate(header)}
        data: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        data["row_number"] = []
        for n, row in enumerate(reader, start=1):
            if not any(cell.strip() for cell in row):
                continue
            for c in COLUMNS:
                i = positions.get(c)
                v = row[i] if i is not None and i < len(row) else None
                data[c].append(v if v is None or v.strip() else None)
            data["row_number"].append(n)
    table = pa.table({c: pa.array(v, pa.string()) for c, v in data.items() if c != "row_number"})
    return table.append_column("row_number", pa.array(data["row_number"], pa.int64()))


def _standardise_sql(today: date) -> str:
    name = get_standardiser("name")
    sex = get_standardiser("sex")
    dob = get_standardiser("date", not_after=today)
    mobile = get_standardiser("mobile")
    idn = get_standardiser("id_number")
    return f"""
SELECT
  coalesce(nullif(trim(source), ''), '{DEFAULT_SOURCE}') AS source,
  trim(record_id) AS source_patient_key,
  -- a record that came through WeChat (it has a unionid) shows the WeChat nickname in its
  -- name field: read it as a nickname, as std.patient holds WeChat followers' nicknames
  CASE WHEN nullif(trim(wechat_unionid), '') IS NULL THEN {name.value_sql("name")} END AS name,
  CASE WHEN nullif(trim(wechat_unionid), '') IS NOT NULL THEN nullif(trim(name), '') END AS nickname,
  {sex.value_sql("sex")} AS sex,
  {dob.value_sql("birth_date")} AS birth_date,
  {mobile.value_sql("mobile")} AS mobile,
  {idn.value_sql("id_number")} AS id_number,
  nullif(trim(district), '') AS district,
  nullif(trim(address), '') AS address,
  nullif(trim(wechat_unionid), '') AS wechat_unionid
FROM _people
"""


def link_file(in_csv: str | Path, out_csv: str | Path, *, progress=None, today: date | None = None,
              threads: int | None = None, warehouse: str | Path = ":memory:") -> dict[str, Any]:
    """Link the people in ``in_csv``; write ``record_id,golden_id`` to ``out_csv``.

    ``warehouse``: where the working warehouse lives (in memory by default; a new file
    keeps the link input and scored pairs for inspection, as benchmarks do)."""
    from molar.identity.resolve import resolve

    in_csv, out_csv = Path(in_csv), Path(out_csv)
    if not in_csv.exists():
        raise LinkFileError(f"{in_csv}: no such file")
    people = read_people(in_csv)
    missing_id = [r for r, k in zip(people.column("row_number").to_pylist(),
                                    people.column("record_id").to_pylist(), strict=True) if not k]
    if missing_id:
        raise LinkFileError(f"{in_csv}: rows {missing_id[:10]} have no record_id")
    engine = DuckDBEngine(str(warehouse), threads=threads)
    try:
        migrate(engine)
        engine.register("_people", people)
        dupes = engine.rows(
            f"SELECT coalesce(nullif(trim(source), ''), '{DEFAULT_SOURCE}'), trim(record_id), count(*) "
            "FROM _people GROUP BY ALL HAVING count(*) > 1 LIMIT 5"
        )
        if dupes:
            raise LinkFileError(
                f"{in_csv}: record_id must be unique within a source; repeated: "
                + ", ".join(f"{s}:{k} ×{n}" for s, k, n in dupes)
            )
        today = today or date.today()
        plain = engine.arrow(_standardise_sql(today))
        engine.append(fields.PATIENT, fields.seal_patients(plain, keys.open_keyring_from(None, engine)))
        summary = resolve(engine, progress=progress, threads=threads, as_of=today)
        rows = engine.rows(
            f"""SELECT p.record_id, c.golden_id FROM _people p
                JOIN identity.cluster c
                  ON c.source = coalesce(nullif(trim(p.source), ''), '{DEFAULT_SOURCE}')
                 AND c.source_patient_key = trim(p.record_id)
                ORDER BY p.row_number"""
        )
    finally:
        engine.close()
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "golden_id"])
        w.writerows(rows)
    return {"records": len(rows), "golden_ids": len({g for _, g in rows}), "resolve": summary}
