"""Mapping assistant: read a file's headers and a sample of its rows and propose a source
mapping (canonical column per header, keys, code translations) as commented YAML that
the administrator edits."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from molar.ingest.kinds import default_kind
from molar.ingest.mapping import SOFT_BY_DEFAULT
from molar.ingest.standardise import get_standardiser
from molar.model import CONTRACTS, codes
from molar.sources import META_COLUMNS, SourceFile
from molar.sources.xlsx_reader import HEADER_SEARCH_ROWS, cell_text

SAMPLE_ROWS = 5000

# Header spellings of each canonical column (compared without spaces, brackets, case).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "patient.source_patient_key": ("病历号", "患者编号", "患者id", "病案号", "门诊号", "客户id", "客户编号", "会员号", "patientid", "patient_id"),
    "patient.name": ("姓名", "患者姓名", "客户姓名", "病人姓名", "name", "patientname"),
    "patient.sex": ("性别", "sex", "gender"),
    "patient.birth_date": ("出生日期", "生日", "出生年月日", "birthday", "dob", "birthdate"),
    "patient.mobile": ("手机", "手机号", "手机号码", "联系电话", "电话", "联系方式", "mobile", "phone"),
    "patient.id_number": ("身份证号", "身份证", "身份证号码", "证件号码", "证件号", "idcard", "idnumber"),
    "patient.address": ("地址", "住址", "家庭住址", "联系地址", "address"),
    "patient.district": ("区县", "所在区", "district"),
    "patient.registered_on": ("初诊日期", "建档日期", "注册时间", "注册日期", "首诊日期", "registeredon"),
    "patient.clinic_id": ("所属门诊", "首诊诊所", "所属诊所", "门诊", "诊所", "门店", "clinic"),
    "visit.visit_id": ("就诊号", "就诊编号", "挂号单号", "门诊流水号", "visitid"),
    "visit.visit_date": ("就诊日期", "就诊时间", "看诊日期", "visitdate"),
    "visit.department": ("科室", "就诊科室", "department"),
    "visit.doctor_id": ("医生", "主治医生", "接诊医生", "医生姓名", "doctor"),
    "visit.diagnosis": ("诊断", "诊断结果", "diagnosis"),
    "treatment.item_code": ("项目", "项目名称", "治疗项目", "项目编码", "收费项目", "item"),
    "treatment.tooth": ("牙位", "tooth"),
    "treatment.quantity": ("数量", "quantity"),
    "charge.charge_id": ("收费单号", "单据号", "收据号", "chargeid"),
    "charge.amount_yuan": ("金额", "应收", "应收金额", "实收金额", "收费金额", "amount"),
    "charge.paid_yuan": ("实收", "已付", "paid"),
    "charge.payment_method": ("支付方式", "付款方式", "payment"),
    "charge.charged_on": ("收费日期", "收费时间"),
    "appointment.appointment_id": ("预约号", "预约单号", "预约编号", "appointmentid"),
    "appointment.slot_start": ("预约时间", "预约日期", "预约时段", "slot"),
    "appointment.booked_at": ("下单时间", "创建时间", "预约创建时间"),
    "appointment.channel": ("渠道", "预约渠道", "来源", "channel"),
    "appointment.status": ("状态", "预约状态", "status"),
    "clinic.clinic_id": ("诊所编号", "门诊编号", "门店编号", "clinicid"),
    "clinic.name": ("诊所名称", "门诊名称", "门店名称"),
    "clinic.district": ("区县", "所在区"),
    "clinic.address": ("地址",),
    "clinic.opened_on": ("开业日期", "开业时间"),
    "clinic.chairs": ("牙椅数", "椅位数"),
}
VOCABULARY_OF = {"department": "department", "payment_method": "payment_method", "channel": "appointment_channel",
                 "status": "appointment_status", "item_code": "treatment", "level": "member_level"}
_MOBILE = re.compile(r"^(\+?86)?1[3-9][0-9]{9}$|^[0-9.]+[eE]\+?[0-9]+$")
_ID = re.compile(r"^[0-9]{17}[0-9Xx]$|^[0-9.]+[eE]\+?[0-9]+$")
_NOT_A_NUMBER = re.compile(r"^[\-—–－/]+$|^免费$|^无$")


def _norm(header: str) -> str:
    return re.sub(r"[\s()（）_:：]", "", header).lower()


@dataclass
class FileSuggestion:
    path: Path
    headers: list[str]
    header_row: int
    rows: int
    columns: dict[str, str] = field(default_factory=dict)  # header → table.column
    unmapped_headers: list[str] = field(default_factory=list)
    values: dict[str, dict[str, int]] = field(default_factory=dict)  # header → raw value → count
    unmapped_values: dict[str, dict[str, int]] = field(default_factory=dict)  # header → value → count
    tables: dict[str, dict[str, object]] = field(default_factory=dict)  # table → column → spec
    notes: list[str] = field(default_factory=list)
    line_level: bool = False


def read_sample(path: Path) -> tuple[list[str], int, list[dict[str, str | None]]]:
    """(headers, header row number, up to SAMPLE_ROWS rows) of a CSV or XLSX file."""
    sf = SourceFile.open(path)
    if sf.format == "xlsx":
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(CalamineWorkbook.from_path(str(path)).sheet_names[0])
        rows = sheet.to_python()
        known = {_norm(s) for syns in SYNONYMS.values() for s in syns}
        scores = [sum(_norm(str(v)) in known for v in row) for row in rows[:HEADER_SEARCH_ROWS]]
        at = max(range(len(scores)), key=scores.__getitem__) if scores else 0
        headers = [str(v).strip() for v in rows[at]]
        sample = [{h: cell_text(v) for h, v in zip(headers, row, strict=False)} for row in rows[at + 1 : at + 1 + SAMPLE_ROWS]]
        return headers, at + 1, [r for r in sample if any(v not in (None, "") for v in r.values())]
    headers = sf.headers() or []
    batches: list[pa.RecordBatch] = []
    n = 0
    for batch in sf.batches(headers):
        batches.append(batch)
        n += batch.num_rows
        if n >= SAMPLE_ROWS:
            break
    rows = pa.Table.from_batches(batches).drop_columns(list(META_COLUMNS)).to_pylist()[:SAMPLE_ROWS] if batches else []
    return headers, 1, rows


def _by_pattern(values: list[str]) -> str | None:
    filled = [v for v in values if v]
    if len(filled) < 5:
        return None
    if sum(bool(_ID.match(v)) for v in filled) > 0.8 * len(filled) and any(len(v) == 18 for v in filled):
        return "patient.id_number"
    if sum(bool(_MOBILE.match(v.replace(" ", "").replace("-", ""))) for v in filled) > 0.8 * len(filled):
        return "patient.mobile"
    return None


FAMILIES = {"visit": ("visit", "treatment", "charge"), "appointment": ("appointment", "patient")}
_MAIN_ORDER = ("visit", "appointment", "charge", "member_card", "patient", "clinic", "doctor")


def _hits(header: str, values: list[str]) -> list[str]:
    h = _norm(header)
    hits = [c for c, syns in SYNONYMS.items() if h in {_norm(s) for s in syns}]
    if not hits:
        hits = [c for c, syns in SYNONYMS.items() if any(len(_norm(s)) > 1 and _norm(s) in h for s in syns)]
    pattern = _by_pattern(values) if not hits else None
    return hits or ([pattern] if pattern else [])


def _main_table(hits: dict[str, list[str]]) -> str | None:
    """The table most headers belong to; a patient column counts for every table that has it."""
    votes: Counter = Counter()
    for candidates in hits.values():
        tables = set()
        for c in candidates:
            table, column = c.split(".")
            tables.add(table)
            if table == "patient":
                tables.update(t for t in CONTRACTS if column in CONTRACTS[t].column_names and column != "name")
        votes.update(tables)
    if not votes:
        return None
    return max(votes, key=lambda t: (votes[t], -(_MAIN_ORDER.index(t) if t in _MAIN_ORDER else 99)))


def _pick(candidates: list[str], main: str | None) -> str | None:
    family = FAMILIES.get(main or "", (main,))
    for c in candidates:  # the main table first, then a patient column it also has
        table, column = c.split(".")
        if table == main or (table == "patient" and main and column in CONTRACTS[main].column_names):
            return f"{main}.{column}"
    return next((c for c in candidates if c.split(".")[0] in family), None)


def _code_values(column: str, counts: Counter) -> tuple[dict[str, str], dict[str, int]]:
    """(value → code for what the shared vocabulary knows, unknown value → count)."""
    vocab = codes.VOCABULARIES.get(VOCABULARY_OF.get(column, ""), {})
    known = {k.lower(): v for k, v in vocab.items()}
    mapped, unknown = {}, {}
    for value, n in counts.most_common():
        code = known.get(value.strip().lower())
        if code:
            mapped[value] = code
        else:
            unknown[value] = n
    return mapped, unknown


def suggest_file(path: Path) -> FileSuggestion:
    headers, header_row, rows = read_sample(path)
    s = FileSuggestion(path, headers, header_row, len(rows))
    columns_of = {h: [str(r.get(h) or "").strip() for r in rows] for h in headers}
    hits = {h: _hits(h, columns_of[h]) for h in headers}
    main = _main_table(hits)
    taken: set[str] = set()
    for h in headers:
        target = _pick(hits[h], main)
        if target and target not in taken:
            taken.add(target)
            s.columns[h] = target
        else:
            s.unmapped_headers.append(h)
    _plan_tables(s, columns_of)
    return s


def _plan_tables(s: FileSuggestion, columns_of: dict[str, list[str]]) -> None:
    by_column = {target: h for h, target in s.columns.items()}
    tables: dict[str, dict[str, object]] = {}
    for h, target in s.columns.items():
        table, column = target.split(".")
        tables.setdefault(table, {})[column] = h
    key_of = lambda t: [k for k in CONTRACTS[t].key if k != "source"]  # noqa: E731
    # A visit-line export: items and amounts on visit rows, no visit or line number.
    if "treatment" in tables and "visit.visit_id" not in by_column and "visit" in tables:
        s.line_level = True
        patient, when = tables["visit"].get("source_patient_key"), tables["visit"].get("visit_date")
        if patient and when:
            derive = [patient, when]
            tables["visit"]["visit_id"] = {"derive": derive}
            tables["visit"]["visit_at"] = when
            tables["visit"]["source_patient_key"] = {"from": patient, "lookup": "patient"}
            tables["treatment"]["visit_id"] = {"derive": derive}
            tables["treatment"]["line_no"] = {"occurrence": derive}
            if "charge" in tables:
                tables["charge"]["charge_id"] = {"derive": derive}
                tables["charge"]["visit_id"] = {"derive": derive}
                tables["charge"]["source_patient_key"] = patient
                tables["charge"]["charged_on"] = when
            s.notes.append(f"no visit or line number: visits are keyed by a hash of {patient} + {when}, "
                           "lines numbered in file order, charges summed per visit")
    if "appointment" in tables and "source_patient_key" not in tables["appointment"]:
        phone = next((h for h, t in s.columns.items() if t.endswith(".mobile")), None)
        name = next((h for h, t in s.columns.items() if t.endswith(".name")), None)
        if phone:
            tables["appointment"]["source_patient_key"] = {"derive": [phone]}
            tables["patient"] = {"source_patient_key": {"derive": [phone]}, "mobile": phone, **({"name": name} if name else {})}
            s.notes.append(f"no customer number: the patient is keyed by a hash of {phone}")
            for t in ("appointment",):
                tables[t].pop("mobile", None)
                tables[t].pop("name", None)
    for table, cols in tables.items():
        contract = CONTRACTS[table]
        for column, spec in list(cols.items()):
            if not isinstance(spec, str) or column not in contract.column_names:
                continue
            col = contract.column(column)
            header = spec
            counts = Counter(v for v in columns_of.get(header, []) if v)
            if column == "clinic_id" and table != "clinic":
                cols[column] = {"from": header, "lookup": "clinic"}
            elif column == "doctor_id":
                cols[column] = {"from": header, "lookup": "doctor"}
            elif col.allowed and column != "sex":
                mapped, unknown = _code_values(column, counts)
                spec_out: dict[str, object] = {"from": header, "values": mapped}
                if column == "item_code":
                    spec_out["other"] = "OTHER"
                    cols["item_name"] = header
                s.values[header] = dict(counts.most_common())
                if unknown:
                    s.unmapped_values[header] = unknown
                cols[column] = spec_out
            elif default_kind(col) in ("amount", "integer", "decimal"):
                dashes = sorted(v for v in counts if _NOT_A_NUMBER.match(v))
                if dashes:
                    from molar.ingest.standardise import DEFAULT_NULL_TOKENS

                    cols[column] = {"from": header, "default": 0,
                                    "options": {"null_tokens": [*DEFAULT_NULL_TOKENS, *dashes]}}
                    s.notes.append(f"{header}: {', '.join(dashes)} read as 0 (free items)")
            elif column in SOFT_BY_DEFAULT:
                pass
            if default_kind(col) in ("date", "timestamp") and counts and not any(header in n for n in s.notes):
                _date_note(s, header, counts)
        if table == "visit" and s.line_level:
            s.tables[table] = {"rollup": True, "columns": cols}
        elif table == "charge" and s.line_level:
            sums = {c: "sum" for c in ("amount_yuan", "paid_yuan") if c in cols}
            s.tables[table] = {"rollup": sums or True, "columns": cols}
        elif table == "patient" and "appointment" in tables:
            s.tables[table] = {"rollup": True, "columns": cols}
        else:
            s.tables[table] = cols
        missing = [k for k in key_of(table) if k not in cols]
        for c in contract.columns:
            if c.required and c.name not in cols and c.name not in missing and c.name != "source":
                missing.append(c.name)
        if missing:
            s.notes.append(f"table {table}: no header found for {', '.join(missing)}; map it or remove the table")


def _date_note(s: FileSuggestion, header: str, counts: Counter) -> None:
    std = get_standardiser("timestamp", excel_serial=True)
    sample = list(counts)[:2000]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE t (k VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[v] for v in sample])
        bad = con.execute(f"SELECT k FROM t WHERE ({std.problem_sql('k')}) IS NOT NULL").fetchall()
    finally:
        con.close()
    if bad:
        s.notes.append(f"{header}: {len(bad)} of {len(sample)} distinct values are not dates, e.g. {bad[0][0]!r}")


def _entry_name(s: FileSuggestion, used: set[str]) -> str:
    main = next(iter(s.tables), "rows")
    base = {"visit": "visit_lines" if s.line_level else "visits", "patient": "patients",
            "appointment": "appointments", "clinic": "clinics", "charge": "charges"}.get(main, main)
    name, i = base, 2
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line if line.strip() else line for line in text.splitlines(keepends=True))


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def render(source: str, suggestions: list[FileSuggestion]) -> str:
    """The proposal as a mapping YAML, with what to check written as comments."""
    out = [
        f"# Proposed by `molar mappings suggest` from {', '.join(s.path.name for s in suggestions)}.",
        "# Check every line marked CHECK, then run `molar mappings check <this folder> <files>`.",
        f"source: {source}",
        f"description: {source} exports",
        "files:",
    ]
    used: set[str] = set()
    for s in suggestions:
        stem, suffix = s.path.stem, s.path.suffix
        out.append(f"  - entry: {_entry_name(s, used)}")
        out.append(f"    match: \"{stem}*{suffix}\"")
        out.append(f"    # header row {s.header_row}; {s.rows} rows sampled; "
                   f"{len(s.columns)} of {len(s.headers)} headers mapped")
        if s.unmapped_headers:
            out.append(f"    # CHECK unmapped headers (not loaded): {', '.join(s.unmapped_headers)}")
        for header, values in s.unmapped_values.items():
            listed = ", ".join(f"{v} ×{n}" for v, n in values.items())
            out.append(f"    # CHECK {header}: values without a code: {listed}")
        for note in s.notes:
            out.append(f"    # CHECK {note}")
        if s.line_level:
            out.append("    duplicates: [" + ", ".join(s.headers) + "]  # a line repeated exactly is a double export")
        out.append("    tables:")
        body = yaml.dump(s.tables, Dumper=_NoAliases, allow_unicode=True, sort_keys=False,
                         default_flow_style=None, width=200)
        out.append(_indent(body, 6).rstrip("\n"))
    return "\n".join(out) + "\n"
