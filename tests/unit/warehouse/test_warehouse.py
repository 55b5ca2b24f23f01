import pyarrow as pa
import pytest

from molar.warehouse import LAYERS, DuckDBEngine, WarehouseError, migrate, open_warehouse
from molar.warehouse.migrations import available_migrations


def test_layers_created_by_migrations(tmp_path):
    engine = open_warehouse(path=tmp_path / "w.duckdb")
    schemas = {r[0] for r in engine.rows("SELECT schema_name FROM information_schema.schemata")}
    assert set(LAYERS) <= schemas
    versions = [r[0] for r in engine.rows("SELECT version FROM main.schema_version ORDER BY 1")]
    assert versions == [m.version for m in available_migrations()]
    engine.close()


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "w.duckdb"
    open_warehouse(path=path).close()
    engine = DuckDBEngine(path)
    assert migrate(engine) == []
    engine.close()


def test_transaction_rolls_back_on_error():
    engine = DuckDBEngine()
    engine.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), engine.transaction():
        engine.execute("INSERT INTO t VALUES (1)")
        with engine.transaction():  # nested use joins the outer transaction
            engine.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    assert engine.count("t") == 0
    with engine.transaction():
        engine.execute("INSERT INTO t VALUES (3)")
    assert engine.rows("SELECT x FROM t") == [(3,)]


def test_append_matches_columns_by_name():
    engine = DuckDBEngine()
    engine.execute("CREATE TABLE t (a VARCHAR, b BIGINT)")
    assert engine.append("t", pa.table({"b": [1, 2], "a": ["x", "y"]})) == 2
    assert engine.rows("SELECT a, b FROM t ORDER BY b") == [("x", 1), ("y", 2)]
    assert engine.append("t", pa.table({"a": pa.array([], pa.string()), "b": pa.array([], pa.int64())})) == 0


def test_second_writer_gets_a_clear_error(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    engine = open_warehouse(path=path)
    code = (
        "from molar.warehouse import DuckDBEngine, WarehouseError\n"
        f"try:\n    DuckDBEngine({str(path)!r})\nexcept WarehouseError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    engine.close()
    assert "in use by another Molar process" in out.stdout
    assert issubclass(WarehouseError, RuntimeError)
