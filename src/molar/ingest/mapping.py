"""Source mappings: YAML files that map a source system's files and headers onto the
canonical model, so a clinic adds a new system without writing code.

Errors name the file, the line and what to change.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from molar.ingest.kinds import check_column
from molar.model import CONTRACTS, Contract, codes
from molar.privacy.crypto import ENCRYPTED_COLUMNS

MAPPINGS_DIR = Path(__file__).with_name("mappings")
LOOKUPS = {
    "clinic": ("clinic", "name", "clinic_id"),
    "doctor": ("doctor", "name", "doctor_id"),
    "patient": ("patient", "source_patient_key", "source_patient_key"),  # must be a known patient of the source
}
_COLUMN_KEYS = {
    "from", "const", "derive", "occurrence", "standardise", "options", "values", "lookup",
    "other", "add_codes", "default", "on_error",
}
_TABLE_KEYS = {"columns", "rollup"}
_FILE_KEYS = {"entry", "match", "tables", "duplicates"}
POLICIES = ("reject_row", "null_with_warning")
ROLLUPS = ("first", "sum")
# Identifiers that other evidence (name, mobile, birth date) can replace: a bad value is
# dropped with a warning instead of losing the whole row.
SOFT_BY_DEFAULT = frozenset({"id_number", "wechat_openid", "nickname"})


class MappingError(ValueError):
    """A mapping file is wrong; the message says which file, which line and what to change."""


class _LinedDict(dict):
    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _LinedDict:
        data = _LinedDict(super().construct_mapping(node, deep=deep))
        data.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        data.lines["__self__"] = node.start_mark.line + 1
        return data


@dataclass(frozen=True)
class ColumnMap:
    column: str  # canonical column
    header: str | None = None  # source header / JSON field it comes from
    const: str | None = None
    standardise: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    values: dict[str, str] | None = None
    lookup: str | None = None
    derive: tuple[str, ...] = ()  # headers hashed into a key the source does not have
    occurrence: tuple[str, ...] = ()  # headers whose repeats are numbered 1, 2, … in file order
    other: str | None = None  # code for values the mapping does not know (the name is kept)
    default: str | None = None  # value when the cell is blank, e.g. 0 for free items
    on_error: str = "reject_row"  # or null_with_warning: drop the value, keep the row
    codes: tuple[str, ...] = ()  # codes a coded column accepts (the contract's plus add_codes)

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys([*([self.header] if self.header else []), *self.derive, *self.occurrence]))


@dataclass(frozen=True)
class TableMap:
    contract: Contract
    columns: tuple[ColumnMap, ...]
    # Line-level files: rows sharing a key are one canonical row; column → first|sum.
    rollup: dict[str, str] | None = None

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys(h for c in self.columns for h in c.headers))

    def column(self, name: str) -> ColumnMap | None:
        return next((c for c in self.columns if c.column == name), None)


@dataclass(frozen=True)
class FileMap:
    source: str
    entry: str
    match: tuple[str, ...]
    tables: tuple[TableMap, ...]
    mapping_file: Path
    # Line-level files without a line number: a row equal to an earlier one on these
    # headers is a repeated export of it (quarantined as duplicate_row).
    duplicates: tuple[str, ...] = ()

    @property
    def headers(self) -> list[str]:
        return list(dict.fromkeys([*(h for t in self.tables for h in t.headers), *self.duplicates]))

    def matches(self, path: Path) -> bool:
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in self.match)

    @property
    def fingerprint(self) -> str:
        """Changes when the mapping file changes: a file loaded again under an edited
        mapping replaces its earlier load."""
        return hashlib.sha256(self.mapping_file.read_bytes() + self.entry.encode()).hexdigest()

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.entry}"

    @property
    def personal_headers(self) -> tuple[str, ...]:
        """Headers whose values are personal (they feed a contract column marked ``pii`` or
        one std stores sealed, such as free text, or are hashed into a derived key: a
        reviewer's mobile), stored encrypted in the raw layer. A header that is also the value
        of a plain column (WeChat's unionid is the record's source key) stays plain: std holds
        it in clear."""
        sealed_std = {(c.table, c.column) for c in ENCRYPTED_COLUMNS}

        def personal(table: TableMap, column: str) -> bool:
            return table.contract.column(column).pii or (f"std.{table.contract.name}", column) in sealed_std

        fed = [(t, cm) for t in self.tables for cm in t.columns if cm.header]
        feeds_pii = {cm.header for t, cm in fed if personal(t, cm.column)}
        feeds_pii |= {h for t in self.tables for cm in t.columns for h in cm.derive}
        plain = {cm.header for t, cm in fed if not personal(t, cm.column)}
        return tuple(h for h in self.headers if h in feeds_pii - plain)


@dataclass(frozen=True)
class SourceMapping:
    source: str
    description: str
    files: tuple[FileMap, ...]
    path: Path


def _fail(path: Path, line: int | None, message: str) -> MappingError:
    where = f"{path}:{line}" if line else str(path)
    return MappingError(f"{where}: {message}")


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _headers(path: Path, line: int, column: str, key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(h, str) and h for h in items):
        raise _fail(path, line, f"column {column!r}: '{key}:' takes a header or a list of headers, e.g. [病历号, 就诊时间]")
    return tuple(items)


def _codes(path: Path, line: int, column: str, spec: dict, allowed: tuple[str, ...] | None) -> tuple[dict[str, str] | None, tuple[str, ...]]:
    """(value → code table, codes this column accepts) after `add_codes:` and `values:`."""
    added = spec.get("add_codes") or []
    if not isinstance(added, list) or not all(isinstance(c, str) and c.isidentifier() for c in added):
        raise _fail(path, line, f"column {column!r}: 'add_codes:' takes a list of new codes (letters, digits, _), e.g. [kuaishou]")
    if added and not allowed:
        raise _fail(path, line, f"column {column!r} is not a coded column; 'add_codes:' applies to coded columns only")
    codes_ok = (*(allowed or ()), *added)
    values = spec.get("values")
    if isinstance(values, str):
        if values not in codes.VOCABULARIES:
            raise _fail(path, line, f"column {column!r}: no shared vocabulary {values!r}; "
                        f"known: {', '.join(codes.VOCABULARIES)} (or give a table of value: code)")
        values = codes.VOCABULARIES[values]
    if values is not None:
        if not isinstance(values, dict):
            raise _fail(path, line, f"column {column!r}: 'values:' must map source values to codes")
        bad = [str(v) for v in values.values() if allowed and str(v) not in codes_ok]
        if bad:
            raise _fail(path, line, f"column {column!r}: {bad} are not allowed codes; allowed: {', '.join(codes_ok)} "
                        "(add new ones with 'add_codes:')")
        values = {str(k): str(v) for k, v in values.items()}
    other = spec.get("other")
    if other is not None and (not allowed or str(other) not in codes_ok):
        raise _fail(path, line, f"column {column!r}: 'other: {other}' must be one of the allowed codes: {', '.join(codes_ok)}")
    return values, codes_ok if allowed else ()


def _parse_column(path: Path, line: int, column: str, spec: Any, contract: Contract) -> ColumnMap:
    if column not in contract.column_names:
        raise _fail(
            path, line,
            f"table {contract.name!r} has no column {column!r}{_suggest(column, list(contract.column_names))}; "
            f"its columns are: {', '.join(contract.column_names)}",
        )
    required = contract.column(column).required or column in contract.key
    default_policy = "null_with_warning" if column in SOFT_BY_DEFAULT and not required else "reject_row"
    if isinstance(spec, str):
        return ColumnMap(column, header=spec, on_error=default_policy)
    if not isinstance(spec, dict):
        raise _fail(path, line, f"column {column!r}: give a header name or a table with 'from:', 'const:' or 'derive:'")
    unknown = set(spec) - _COLUMN_KEYS
    if unknown:
        raise _fail(path, line, f"column {column!r}: unknown keys {sorted(unknown)}; allowed: {sorted(_COLUMN_KEYS)}")
    if sum(k in spec for k in ("from", "const", "derive")) + ("occurrence" in spec and "derive" not in spec) != 1:
        raise _fail(path, line, f"column {column!r}: give exactly one of 'from:' (a header), 'const:' (a fixed value), "
                    "'derive:' (headers hashed into a key) or 'occurrence:' (headers whose repeats are numbered)")
    lookup = spec.get("lookup")
    if lookup is not None and lookup not in LOOKUPS:
        raise _fail(path, line, f"column {column!r}: lookup must be one of {sorted(LOOKUPS)}")
    on_error = spec.get("on_error", default_policy)
    if on_error not in POLICIES:
        raise _fail(path, line, f"column {column!r}: on_error must be one of {', '.join(POLICIES)}")
    if on_error == "null_with_warning" and required:
        raise _fail(path, line, f"column {column!r} is a key or required column: a row cannot load without it, "
                    "so on_error must be reject_row")
    derive = _headers(path, line, column, "derive", spec["derive"]) if "derive" in spec else ()
    occurrence: tuple[str, ...] = ()
    if "occurrence" in spec:
        occ = spec["occurrence"]
        if occ is True and derive:
            occurrence = derive
        elif occ is not True:
            occurrence = _headers(path, line, column, "occurrence", occ)
        else:
            raise _fail(path, line, f"column {column!r}: 'occurrence: true' numbers repeats of the 'derive:' headers; "
                        "without 'derive:' list the headers")
    values, codes_ok = _codes(path, line, column, spec, contract.column(column).allowed)
    options = spec.get("options") or {}
    if not isinstance(options, dict):
        raise _fail(path, line, f"column {column!r}: 'options:' must be a table, e.g. {{formats: [ymd]}}")
    default = spec.get("default")
    cm = ColumnMap(
        column,
        header=str(spec["from"]) if "from" in spec else None,
        const=str(spec["const"]) if "const" in spec else None,
        standardise=spec.get("standardise"),
        options=dict(options),
        values=values,
        lookup=lookup,
        derive=derive,
        occurrence=occurrence,
        other=str(spec["other"]) if spec.get("other") is not None else None,
        default=None if default is None else str(default),
        on_error=on_error,
        codes=codes_ok,
    )
    try:
        check_column(cm, contract.column(column))
    except (TypeError, ValueError, KeyError) as exc:
        raise _fail(path, line, f"column {column!r}: {str(exc).strip(chr(34) + chr(39))}") from None
    return cm


def _parse_table(path: Path, line: int, name: str, spec: Any, source: str) -> TableMap:
    if name not in CONTRACTS:
        raise _fail(path, line, f"unknown table {name!r}{_suggest(name, list(CONTRACTS))}; tables: {', '.join(CONTRACTS)}")
    contract = CONTRACTS[name]
    if not isinstance(spec, dict) or not spec:
        raise _fail(path, line, f"table {name!r}: map its columns, e.g. `name: 患者姓名`")
    rollup = None
    if "columns" in spec:  # table options next to the columns
        unknown = set(spec) - _TABLE_KEYS
        if unknown:
            raise _fail(path, line, f"table {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(_TABLE_KEYS)}")
        rollup = _rollup(path, getattr(spec, "lines", {}).get("rollup", line), name, spec.get("rollup"), contract)
        spec = spec["columns"]
        if not isinstance(spec, dict) or not spec:
            raise _fail(path, line, f"table {name!r}: 'columns:' maps columns to headers, e.g. `name: 患者姓名`")
    lines = getattr(spec, "lines", {})
    columns = [_parse_column(path, lines.get(c, line), c, s, contract) for c, s in spec.items()]
    if "source" in contract.column_names and not any(c.column == "source" for c in columns):
        columns.insert(0, ColumnMap("source", const=source))
    mapped = {c.column for c in columns}
    missing = [c.name for c in contract.columns if (c.required or c.name in contract.key) and c.name not in mapped]
    if missing:
        raise _fail(path, line, f"table {name!r}: required columns not mapped: {', '.join(missing)}")
    return TableMap(contract, tuple(columns), rollup)


def _rollup(path: Path, line: int, table: str, spec: Any, contract: Contract) -> dict[str, str] | None:
    if spec is None or spec is False:
        return None
    if spec is True:
        spec = {}
    if not isinstance(spec, dict):
        raise _fail(path, line, f"table {table!r}: 'rollup:' is true or a table of column: first|sum")
    for column, how in spec.items():
        if column not in contract.column_names or column in contract.key:
            raise _fail(path, line, f"table {table!r}: rollup column {column!r} must be a non-key column of the table")
        if how not in ROLLUPS:
            raise _fail(path, line, f"table {table!r}: rollup of {column!r} must be one of {', '.join(ROLLUPS)}")
        if how == "sum" and contract.column(column).type not in ("int", "float", "money"):
            raise _fail(path, line, f"table {table!r}: only numbers can be summed; {column!r} is {contract.column(column).type}")
    return {str(k): str(v) for k, v in spec.items()}


def load_mapping(path: Path) -> SourceMapping:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _fail(path, mark.line + 1 if mark else None, f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "source" not in doc or "files" not in doc:
        raise _fail(path, None, "a mapping needs `source:` (system name) and `files:` (a list)")
    source = str(doc["source"])
    if not source.isidentifier():
        raise _fail(path, doc.lines.get("source"), f"source {source!r} must be a simple name (letters, digits, _)")
    files = []
    for item in doc["files"] or []:
        line = getattr(item, "lines", {}).get("__self__")
        if not isinstance(item, dict) or not {"entry", "match", "tables"} <= set(item):
            raise _fail(path, line, "each file needs `entry:` (a name), `match:` (file name patterns) and `tables:`")
        if set(item) - _FILE_KEYS:
            raise _fail(path, line, f"unknown keys {sorted(set(item) - _FILE_KEYS)}; a file takes {sorted(_FILE_KEYS)}")
        entry = str(item["entry"])
        if not entry.isidentifier():
            raise _fail(path, line, f"entry {entry!r} must be a simple name (letters, digits, _)")
        match = item["match"]
        patterns = (match,) if isinstance(match, str) else tuple(str(m) for m in match)
        tables_spec = item["tables"]
        if not isinstance(tables_spec, dict):
            raise _fail(path, line, f"entry {entry!r}: `tables:` maps table names to their columns")
        tlines = getattr(tables_spec, "lines", {})
        tables = tuple(
            _parse_table(path, tlines.get(t, line), t, s, source) for t, s in tables_spec.items()
        )
        duplicates = _headers(path, line, entry, "duplicates", item["duplicates"]) if "duplicates" in item else ()
        files.append(FileMap(source, entry, patterns, tables, path, duplicates))
    entries = [f.entry for f in files]
    if len(set(entries)) != len(entries):
        raise _fail(path, None, f"entry names must be unique; repeated: {sorted({e for e in entries if entries.count(e) > 1})}")
    return SourceMapping(source, str(doc.get("description", "")), tuple(files), path)


def load_mappings(directories: list[Path] | None = None) -> dict[str, SourceMapping]:
    found: dict[str, SourceMapping] = {}
    for directory in directories or [MAPPINGS_DIR]:
        for path in sorted(directory.glob("*.yaml")):
            mapping = load_mapping(path)
            if mapping.source in found:
                raise _fail(path, None, f"source {mapping.source!r} is already defined in {found[mapping.source].path}")
            found[mapping.source] = mapping
    return found


def match_file(path: Path, mappings: dict[str, SourceMapping], source: str | None = None) -> FileMap | None:
    candidates = [mappings[source]] if source else list(mappings.values())
    for mapping in candidates:
        for file_map in mapping.files:
            if file_map.matches(path):
                return file_map
    return None
