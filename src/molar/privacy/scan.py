"""Which text columns of a warehouse hold a plaintext mobile, ID number or patient name?

Every VARCHAR, VARCHAR[] and JSON column of every table is read (distinct values, crypto
tokens cut out first: a ``v1.<key>.<…>`` token is not plaintext) and a value counts when
it holds

- a mainland mobile: ``1[3-9]`` and 9 more digits (optionally ``+86``/``86`` before, a space
  or dash after the 3rd and 7th digit), not touching a letter, digit or ``_`` on either side;
- a resident ID number: 18 characters, region digits, a birth date 1900–2029, a check
  character, with the same boundary;
- a patient name: equal to the name of a patient of this warehouse (std.patient, decrypted
  with the warehouse keyring), or, for text with a non-ASCII character, containing one of
  three or more characters.

The boundary is what keeps hex and base64 identifiers (event IDs, decision IDs, blind
indexes) from counting as mobiles: a digit run inside ``3fae…d13890984414`` touches a
letter. No synthetic truth is needed: the names come from the warehouse itself.

What the scan can miss (a scan, not a proof): a mobile glued to letters (``tel13812345678``)
or written with other separators, a number outside mainland formats, an ID number with a
wrong date; a two-character name inside longer text (too many words are also names), a
name in pinyin or written as ``\\u`` escapes inside JSON, a patient not (or no longer) in
std.patient, and columns of other types (STRUCT, MAP, BLOB).
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc

from molar.privacy import fields, keys
from molar.privacy.crypto import VERSION
from molar.warehouse import Engine

_EDGE = "[^0-9A-Za-z_]"
MOBILE = rf"(^|{_EDGE})(\+?86)?1[3-9][0-9][ -]?[0-9]{{4}}[ -]?[0-9]{{4}}({_EDGE}|$)"
ID_NUMBER = (rf"(^|{_EDGE})[1-9][0-9]{{5}}(19|20)[0-9]{{2}}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
             rf"[0-9]{{3}}[0-9Xx]({_EDGE}|$)")
TOKEN = rf"{VERSION}\.[0-9A-Za-z]+\.[0-9A-Za-z_=-]+"
NAMES = "_scan_patient_name"   # TEMP tables: live in the connection, never in the file
VALUES = "_scan_values"

# Columns that hold people's names but not patients': the scan does not look for patient
# names in them (a doctor may share a name with a patient). Mobiles and ID numbers are
# still looked for. Patterns match `schema.table.column`.
STAFF_NAME_COLUMNS: dict[str, str] = {
    "std.doctor.name": "the chain's doctors, published on its booking pages",
    "raw.*.医生": "the doctor of a visit, booking or review, as the source system wrote it",
    "raw.his__doctors.姓名": "the HIS staff list, the source of std.doctor",
    "std.lead.consultant": "the consultant (咨询师) who took a lead",
    "std.treatment_plan.consultant": "the consultant who presented a treatment plan",
    "raw.*.咨询师": "the consultant of a lead or plan, as the CRM wrote it",
}


@dataclass(frozen=True)
class ColumnHit:
    column: str               # schema.table.column
    values: int               # distinct non-empty values scanned
    mobiles: int
    id_numbers: int
    names: int                # values equal to a patient name
    text_with_name: int       # longer text containing a patient name


@dataclass(frozen=True)
class ScanResult:
    columns_scanned: int
    patient_names: int
    seconds: float
    hits: list[ColumnHit]

    @property
    def columns(self) -> list[str]:
        return [h.column for h in self.hits]

    def to_dict(self) -> dict:
        return {"columns_scanned": self.columns_scanned, "patient_names": self.patient_names,
                "seconds": round(self.seconds, 2), "columns": [asdict(h) for h in self.hits]}

    def summary(self) -> str:
        """One line, en / zh."""
        listed = f": {', '.join(self.columns)}" if self.hits else ""
        return (f"plaintext scan: {len(self.hits)} of {self.columns_scanned} text columns hold a mobile, "
                f"ID number or patient name{listed} / 明文扫描：{len(self.hits)} 个文本列含手机号、身份证号或患者姓名")


def is_staff_name_column(column: str) -> bool:
    return any(fnmatch.fnmatchcase(column, pattern) for pattern in STAFF_NAME_COLUMNS)


def text_columns(engine: Engine) -> list[tuple[str, str, str, str]]:
    return engine.rows(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
        "AND c.data_type IN ('VARCHAR', 'VARCHAR[]', 'JSON') ORDER BY 1, 2, 3")


def _load_names(engine: Engine, keyring: keys.Keyring | None) -> int:
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {NAMES} (name VARCHAR)")
    if not engine.table_exists(fields.PATIENT):
        return 0
    names = fields.read_patients(engine, "name", "WHERE name IS NOT NULL", keyring=keyring)["name"]
    names = pc.unique(pc.utf8_trim_whitespace(names.combine_chunks()))
    engine.append(NAMES, pa.table({"name": names}))
    engine.execute(f"DELETE FROM {NAMES} WHERE name IS NULL OR length(name) < 2")
    return engine.scalar(f"SELECT count(*) FROM {NAMES}")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _values(schema: str, table: str, columns: list[tuple[int, str, str]]) -> str:
    """SQL: the distinct non-empty values ``v`` of each column ``c`` (its index), tokens cut out."""
    parts = []
    for i, column, dtype in columns:
        col = _quote(column)
        text = f"array_to_string({col}, ' ')" if dtype.endswith("[]") else f"CAST({col} AS VARCHAR)"
        parts.append(f"SELECT DISTINCT {i} AS c, trim(CASE WHEN contains({text}, '{VERSION}.') "
                     f"THEN regexp_replace({text}, '{TOKEN}', '', 'g') ELSE {text} END) AS v "
                     f"FROM {_quote(schema)}.{_quote(table)}")
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) WHERE v <> ''"


NON_ASCII = "strlen(v) > length(v)"   # more bytes than characters; patient names are Chinese


def _scan_table(engine: Engine, schema: str, table: str, columns: list[tuple[str, str]]) -> list[ColumnHit]:
    """The table is read once: its distinct values go to a TEMP table that both passes read
    (one query per column would cost a regex compilation each)."""
    indexed = [(i, column, dtype) for i, (column, dtype) in enumerate(columns)]
    patient = {i for i, column, _ in indexed if not is_staff_name_column(f"{schema}.{table}.{column}")}
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {VALUES} AS {_values(schema, table, indexed)}")
    counts = {c: [n, mobiles, ids, exact, 0] for c, n, mobiles, ids, exact, other in engine.rows(
        f"SELECT c, count(*), count(*) FILTER (WHERE regexp_matches(v, '{MOBILE}')), "
        f"count(*) FILTER (WHERE regexp_matches(v, '{ID_NUMBER}')), "
        f"count(*) FILTER (WHERE list_contains({sorted(patient)}, c) AND v IN (SELECT name FROM {NAMES})), "
        f"count(*) FILTER (WHERE length(v) > 4 AND {NON_ASCII}) "
        f"FROM {VALUES} GROUP BY c") if mobiles or ids or exact or other}
    free_text = sorted(i for i in counts if i in patient)
    if free_text:
        # one of the 3- and 4-character pieces of longer non-ASCII text is a patient name
        for c, inside in engine.rows(
                f"""SELECT c, count(DISTINCT v) FROM (SELECT c, v FROM {VALUES}
                                                      WHERE list_contains({free_text}, c) AND length(v) > 4 AND {NON_ASCII}),
                    range(1, length(v) - 1) r(i), (VALUES (3), (4)) w(n)
                WHERE substring(v, i, n) IN (SELECT name FROM {NAMES}) GROUP BY c"""):
            counts[c][4] = inside
    return [ColumnHit(f"{schema}.{table}.{columns[c][0]}", *n) for c, n in sorted(counts.items()) if any(n[1:])]


def scan(engine: Engine, keyring: keys.Keyring | None = None) -> ScanResult:
    """Scan every text column of ``engine``; only columns with a hit are listed."""
    started = time.perf_counter()
    columns = text_columns(engine)
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, dtype in columns:
        tables.setdefault((schema, table), []).append((column, dtype))
    patient_names = _load_names(engine, keyring)
    try:
        hits = [hit for (schema, table), its_columns in tables.items()
                for hit in _scan_table(engine, schema, table, its_columns)]
    finally:
        engine.execute(f"DROP TABLE IF EXISTS {NAMES}")
        engine.execute(f"DROP TABLE IF EXISTS {VALUES}")
    return ScanResult(len(columns), patient_names, time.perf_counter() - started, hits)
