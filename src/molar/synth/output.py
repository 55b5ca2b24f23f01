"""The output tree: every file's name, header, encoding — and the sink that writes chunks.

Source exports go under ``sources/``, ground truth under ``truth/``.  Rows pass through
:func:`molar.synth.noise.inject_invalid` on their way to disk, so row numbers of invalid
rows are exact.
"""

from __future__ import annotations

import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from molar.synth import noise as nz
from molar.synth.marketing import CSV_SPECS as MARKETING_CSV
from molar.synth.marketing import TRUTH_SCHEMAS as MARKETING_TRUTH
from molar.synth.postop import CSV_SPECS as POSTOP_CSV
from molar.synth.postop import TRUTH_SCHEMAS as POSTOP_TRUTH
from molar.synth.writers import CsvFile, JsonlFile, ParquetFile, XlsxFile


@dataclass(frozen=True)
class CsvSpec:
    header: tuple[str, ...]
    encoding: str  # 'gbk', 'utf-8-sig' (BOM) or 'utf-8'
    crlf: bool = False


HIS = "sources/his/"
CSV_FILES: dict[str, CsvSpec] = {
    HIS + "clinics.csv": CsvSpec(("诊所编号", "诊所名称", "区县", "地址", "纬度", "经度", "开业日期", "牙椅数"), "gbk", True),
    HIS + "doctors.csv": CsvSpec(("医生编号", "姓名", "诊所编号", "科室", "职称"), "gbk", True),
    HIS + "patients.csv": CsvSpec(("病历号", "患者姓名", "性别", "出生日期", "手机号", "身份证号", "区县", "住址",
                                   "建档日期", "首诊诊所"), "gbk", True),
    HIS + "visits.csv": CsvSpec(("就诊号", "病历号", "就诊日期", "诊所", "科室", "医生", "诊断"), "gbk", True),
    HIS + "treatments.csv": CsvSpec(("就诊号", "序号", "项目编码", "诊疗项目", "牙位", "数量"), "gbk", True),
    HIS + "charges.csv": CsvSpec(("收费单号", "就诊号", "病历号", "收费日期", "金额", "实收", "支付方式", "优惠券"),
                                 "gbk", True),
    "sources/member/members.csv": CsvSpec(("会员卡号", "姓名", "手机号码", "生日", "性别", "身份证", "开卡日期",
                                           "会员等级", "余额", "积分", "套餐", "开卡门店"), "utf-8-sig"),
    "sources/consult/consults.csv": CsvSpec(("咨询ID", "渠道", "时间", "客户来源", "客户编号", "内容"), "utf-8"),
    "sources/reviews/reviews.csv": CsvSpec(("评价ID", "平台", "用户手机", "门店", "医生", "日期", "星级", "评价内容"),
                                           "utf-8"),
    **{rel: CsvSpec(header, "utf-8") for rel, header in MARKETING_CSV.items()},
    **{rel: CsvSpec(header, "utf-8") for rel, header in POSTOP_CSV.items()},
}
JSONL_FILES = ("sources/wechat/users.jsonl", "sources/wechat/events.jsonl", "sources/telemetry/brushing.jsonl")

CUSTOMERS_XLSX = "sources/booking/customers.xlsx"
CUSTOMERS_HEADER = ("客户ID", "姓名", "手机", "性别", "生日", "注册时间")
CUSTOMERS_KINDS = ("s", "s", "s", "s", "n", "n")
APPOINTMENTS_HEADER = ("预约单号", "客户ID", "门店", "科室", "医生", "下单时间", "预约时间", "渠道", "状态")
APPOINTMENTS_KINDS = ("s", "s", "s", "s", "s", "n", "n", "s", "s")
DATE_FMT = "yyyy-mm-dd"
DATETIME_FMT = "yyyy-mm-dd hh:mm:ss"
SLOT_FMT = "yyyy-mm-dd hh:mm"

TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "truth/records.parquet": pa.schema([
        ("source", pa.string()), ("table", pa.string()), ("record_key", pa.string()),
        ("person_id", pa.string()), ("noise", pa.string()),
    ]),
    "truth/consult_labels.parquet": pa.schema([
        ("consult_id", pa.string()), ("sentiment", pa.string()), ("topic", pa.string()),
        ("person_id", pa.string()),
    ]),
    "truth/appointment_visits.parquet": pa.schema([
        ("appointment_id", pa.string()), ("visit_id", pa.string()),
    ]),
}


INVALID_SCHEMA = pa.schema([("file", pa.string()), ("row_number", pa.int64()), ("record_key", pa.string()),
                            ("defect", pa.string())])
PART_DIR = ".part_b"  # part B's share of shared truth tables, merged by part A at the end
INJECT_STREAM = 0x5EED_0002
STATIC_CHUNK = 2**32 - 1

# Which part writes which file.  Part A: HIS, membership, consults, reviews, telemetry and
# the person-level truth.  Part B: booking workbooks and WeChat.  Both parts simulate the
# same world; each renders only its own files, so they can run in two processes.
PART_FILES: dict[str, tuple[str, ...]] = {
    "A": (*CSV_FILES, "sources/telemetry/brushing.jsonl"),
    "B": ("sources/wechat/users.jsonl", "sources/wechat/events.jsonl"),
}


class Output:
    """Open writers of one part for the whole run; chunks append to them."""

    def __init__(self, out_dir: Path, part: str, seed: int, sheet_row_limit: int,
                 persons_schema: pa.Schema | None = None) -> None:
        self.dir = out_dir
        self.part = part
        self.seed = seed
        self.sheet_row_limit = sheet_row_limit
        self.tmp = out_dir / ".xlsx_tmp"
        self.noise = nz.NoiseLog()
        self.invalid = nz.InvalidLog()
        self._chunk = STATIC_CHUNK
        files = PART_FILES[part]
        self.csv = {rel: CsvFile(out_dir / rel, list(spec.header), spec.encoding, spec.crlf)
                    for rel, spec in CSV_FILES.items() if rel in files}
        self.jsonl = {rel: JsonlFile(out_dir / rel) for rel in JSONL_FILES if rel in files}
        shared = out_dir if part == "A" else out_dir / PART_DIR
        self.parquet = {
            "truth/records.parquet": ParquetFile(shared / "truth/records.parquet", TRUTH_SCHEMAS["truth/records.parquet"]),
            "truth/invalid_rows.parquet": ParquetFile(shared / "truth/invalid_rows.parquet", INVALID_SCHEMA),
        }
        if part == "A":
            self.parquet["truth/persons.parquet"] = ParquetFile(out_dir / "truth/persons.parquet", persons_schema)
            self.parquet["truth/consult_labels.parquet"] = ParquetFile(
                out_dir / "truth/consult_labels.parquet", TRUTH_SCHEMAS["truth/consult_labels.parquet"])
            for rel, schema in {**MARKETING_TRUTH, **POSTOP_TRUTH}.items():
                self.parquet[rel] = ParquetFile(out_dir / rel, schema)
            self.customers = None
        else:
            self.parquet["truth/appointment_visits.parquet"] = ParquetFile(
                out_dir / "truth/appointment_visits.parquet", TRUTH_SCHEMAS["truth/appointment_visits.parquet"])
            self.customers = XlsxFile(out_dir / CUSTOMERS_XLSX, "客户", list(CUSTOMERS_HEADER),
                                      list(CUSTOMERS_KINDS), {4: DATE_FMT, 5: DATETIME_FMT}, sheet_row_limit, self.tmp)
        self.appointments: dict[int, XlsxFile] = {}

    # ---- randomness for invalid rows: one stream per file and chunk --------------------
    def begin_chunk(self, chunk: int) -> None:
        self._chunk = chunk

    def rng_for(self, rel: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(
            [self.seed, INJECT_STREAM, self._chunk, zlib.crc32(rel.encode("utf-8"))]))

    # ---- sources -----------------------------------------------------------------------
    def emit(self, rel: str, cols: list, key_col: int = 0, defects=(), dup_rate: float = 0.0) -> None:
        w = self.csv[rel]
        cols = [np.asarray(c, dtype=object) for c in cols]
        cols = nz.inject_invalid(self.rng_for(rel), rel, cols, key_col, defects, dup_rate, w.rows, self.invalid)
        w.write(cols)

    def emit_lines(self, rel: str, lines: np.ndarray, keys: np.ndarray, dup_rate: float = 0.0) -> None:
        w = self.jsonl[rel]
        cols = nz.inject_invalid(self.rng_for(rel), rel,
                                 [np.asarray(lines, dtype=object), np.asarray(keys, dtype=object)],
                                 1, (), dup_rate, w.rows, self.invalid)
        w.write_lines(cols[0].tolist())

    def emit_customers(self, cols: list, defects=(), dup_rate: float = 0.0) -> None:
        w = self.customers
        cols = [np.asarray(c, dtype=object) if k == "s" else np.asarray(c, dtype=np.float64)
                for c, k in zip(cols, CUSTOMERS_KINDS, strict=True)]
        cols = nz.inject_invalid(self.rng_for(CUSTOMERS_XLSX), CUSTOMERS_XLSX, cols, 0, defects, dup_rate, w.rows,
                                 self.invalid)
        w.write(cols)

    def emit_appointments(self, year: int, cols: list, dup_rate: float = 0.0) -> None:
        rel = f"sources/booking/appointments_{year}.xlsx"
        w = self.appointments.get(year)
        if w is None:
            w = XlsxFile(self.dir / rel, "预约", list(APPOINTMENTS_HEADER), list(APPOINTMENTS_KINDS),
                         {5: DATETIME_FMT, 6: SLOT_FMT}, self.sheet_row_limit, self.tmp)
            self.appointments[year] = w
        cols = [np.asarray(c, dtype=object) if k == "s" else np.asarray(c, dtype=np.float64)
                for c, k in zip(cols, APPOINTMENTS_KINDS, strict=True)]
        cols = nz.inject_invalid(self.rng_for(rel), rel, cols, 0, (), dup_rate, w.rows, self.invalid)
        w.write(cols)

    # ---- truth ---------------------------------------------------------------------------
    def record(self, source: str, table: str, keys, person_ids, flags) -> None:
        n = len(keys)
        self.noise.records[f"{source}/{table}"] += n
        self.parquet["truth/records.parquet"].write({
            "source": np.full(n, source, dtype=object), "table": np.full(n, table, dtype=object),
            "record_key": np.asarray(keys, dtype=object), "person_id": np.asarray(person_ids, dtype=object),
            "noise": np.array([f.rstrip(";") for f in np.asarray(flags, dtype=object).tolist()], dtype=object),
        })

    def truth(self, rel: str, cols: dict) -> None:
        self.parquet[rel].write(cols)

    def end_chunk(self) -> None:
        inv = self.invalid.drain()
        if inv is not None:
            self.parquet["truth/invalid_rows.parquet"].write(inv)

    # ---- closing and merging ----------------------------------------------------------------
    def close(self) -> dict:
        """Close every writer of this part; return its summary (JSON-able)."""
        counts: dict[str, int] = {}
        for rel, w in self.csv.items():
            w.close()
            counts[rel] = w.rows
        for rel, w in self.jsonl.items():
            w.close()
            counts[rel] = w.rows
        books: dict[str, XlsxFile] = {}
        if self.customers is not None:
            books[CUSTOMERS_XLSX] = self.customers
        for year in sorted(self.appointments):
            books[f"sources/booking/appointments_{year}.xlsx"] = self.appointments[year]
        # zipping a workbook is zlib-bound and releases the GIL: assemble them side by side
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda w: w.close(), books.values()))
        for rel, w in books.items():
            counts[rel] = w.rows
        for rel, w in self.parquet.items():
            w.close()
            if self.part == "A" or rel == "truth/appointment_visits.parquet":
                counts[rel] = w.rows
        shutil.rmtree(self.tmp, ignore_errors=True)
        return {
            "rows": counts,
            "sheets": {rel: list(w.sheets) for rel, w in books.items()},
            "noise_counts": [[t, k, v] for (t, k), v in sorted(self.noise.counts.items())],
            "noise_records": dict(sorted(self.noise.records.items())),
            "invalid_counts": [[f, d, v] for (f, d), v in sorted(self.invalid.counts.items())],
            "invalid_eligible": [[f, d, v] for (f, d), v in sorted(self.invalid.eligible.items())],
        }

    def merge_part(self, summary: dict) -> None:
        """Append part B's records and invalid rows (before closing) and adopt its counts."""
        for rel in ("truth/records.parquet", "truth/invalid_rows.parquet"):
            path = self.dir / PART_DIR / rel
            pf = pq.ParquetFile(path)
            for i in range(pf.num_row_groups):
                t = pf.read_row_group(i)
                self.parquet[rel].write({name: t.column(name).combine_chunks() for name in t.column_names})
            pf.close()
        for t, k, v in summary["noise_counts"]:
            self.noise.counts[(t, k)] += v
        for t, v in summary["noise_records"].items():
            self.noise.records[t] += v
        for f, d, v in summary["invalid_counts"]:
            self.invalid.counts[(f, d)] += v
        for f, d, v in summary["invalid_eligible"]:
            self.invalid.eligible[(f, d)] += v
