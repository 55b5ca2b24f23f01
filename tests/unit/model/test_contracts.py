import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from molar.ingest.loader import load_file
from molar.ingest.mapping import load_mappings
from molar.model import CONTRACTS, Column, Contract, codes, get_contract
from molar.warehouse import DuckDBEngine, migrate
from support import TODAY


def test_every_contract_key_is_declared_required():
    optional = [f"{c.name}.{k}" for c in CONTRACTS.values() for k in c.key if not c.column(k).required]
    assert optional == []


def _key_headers():
    """(file map, table, header) for every key column a source file supplies."""
    return [
        pytest.param(f, t.contract.name, c.header, id=f"{f.source}.{f.entry}.{t.contract.name}.{c.column}")
        for m in load_mappings().values() for f in m.files for t in f.tables
        for c in t.columns if c.column in t.contract.key and c.header
    ]


def _write_one_row(path, headers: list[str], blank: str) -> None:
    values = {h: "" if h == blank else "1" for h in headers}
    suffix = path.suffix
    if suffix == ".csv":
        path.write_text(",".join(headers) + "\n" + ",".join(values.values()) + "\n", encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text(json.dumps(values, ensure_ascii=False) + "\n", encoding="utf-8")
    elif suffix == ".parquet":
        pq.write_table(pa.table({h: pa.array([v or None], pa.string()) for h, v in values.items()}), path)
    else:
        workbook = xlsxwriter.Workbook(path)
        sheet = workbook.add_worksheet()
        sheet.write_row(0, 0, headers)
        sheet.write_row(1, 0, list(values.values()))
        workbook.close()


@pytest.mark.parametrize("file_map,table,header", _key_headers())
def test_a_row_without_its_key_is_quarantined_as_required(warehouse, tmp_path, file_map, table, header):
    path = tmp_path / file_map.match[0].replace("*", "")
    _write_one_row(path, file_map.headers, header)
    result = load_file(warehouse, path, file_map, today=TODAY)
    assert result.status == "complete", result.message_en
    first_row = 1 if path.suffix in (".jsonl", ".parquet") else 2  # spreadsheets count the header
    assert (first_row, table) in warehouse.rows(
        "SELECT DISTINCT row_number, target_table FROM quarantine.issue WHERE code = 'required_missing' "
        "AND severity = 'error' AND field = ?", [header])
    assert warehouse.count(f"std.{table}") == 0


def test_coded_columns_only_allow_known_codes():
    assert get_contract("appointment").column("channel").allowed == codes.APPOINTMENT_CHANNELS
    assert set(get_contract("treatment").column("item_code").allowed) >= {
        "CLN", "FILL", "RCT", "EXT", "IMP", "ORTHO", "ALIGN", "WHT", "CRN", "SEAL", "FLUO", "PERIO", "DENT", "CHK"
    }


def test_pii_columns_are_marked():
    assert set(get_contract("patient").pii_columns) >= {"name", "mobile", "id_number", "address", "wechat_unionid"}
    assert get_contract("visit").pii_columns == ()


def test_numeric_columns_document_units():
    for contract in CONTRACTS.values():
        for column in contract.columns:
            if column.type in ("money", "float") and column.name not in ("latitude", "longitude"):
                assert column.unit, f"{contract.name}.{column.name} has no unit"


def test_contract_rejects_bad_definitions():
    with pytest.raises(ValueError, match="unknown type"):
        Column("x", "string", "bad type")
    with pytest.raises(ValueError, match="key columns"):
        Contract("t", "d", (Column("a", "text", "a"),), key=("b",))
    with pytest.raises(ValueError, match="duplicated"):
        Contract("t", "d", (Column("a", "text", "a"), Column("a", "int", "a")), key=("a",))


def test_unknown_table_error_lists_known_tables():
    with pytest.raises(KeyError, match="known tables: .*patient"):
        get_contract("patients")


def test_std_tables_match_contracts():
    engine = DuckDBEngine()
    migrate(engine)
    # std.patient also carries the blind indexes written beside its encrypted columns
    extra = {"patient": ["mobile_bi", "id_number_bi", "unionid_bi"]}
    for name, contract in CONTRACTS.items():
        expected = [*contract.column_names, "_load_id", "_row_number", *extra.get(name, [])]
        assert engine.columns(f"std.{name}") == expected
    types = dict(engine.rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'std' AND table_name = 'charge'"
    ))
    assert types["amount_yuan"] == "DECIMAL(12,2)"
    assert types["charged_on"] == "DATE"
