import pytest

from molar.model import CONTRACTS, Column, Contract, codes, get_contract
from molar.warehouse import DuckDBEngine, migrate


def test_every_contract_key_is_required_or_bookkept():
    for contract in CONTRACTS.values():
        for key in contract.key:
            assert key in contract.column_names


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
    for name, contract in CONTRACTS.items():
        assert engine.columns(f"std.{name}") == [*contract.column_names, "_load_id", "_row_number"]
    types = dict(engine.rows(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'std' AND table_name = 'charge'"
    ))
    assert types["amount_yuan"] == "DECIMAL(12,2)"
    assert types["charged_on"] == "DATE"
