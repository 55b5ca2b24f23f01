"""Migration 0024 gives a warehouse made before it the marketing tables, with every contract column."""

from __future__ import annotations

from molar.model import CONTRACTS
from molar.warehouse import open_warehouse
from molar.warehouse.migrations import available_migrations, migrate

TABLES = ("lead", "lead_touch", "treatment_plan", "marketing_spend")


def _columns(engine, table: str) -> list[str]:
    return [r[0] for r in engine.rows(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'std' AND table_name = ? "
        "ORDER BY ordinal_position", [table])]


def test_0024_creates_the_marketing_tables_in_an_older_warehouse(tmp_path):
    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    for table in TABLES:   # as a warehouse migrated before 0024 was
        engine.execute(f"DROP TABLE std.{table}")
    engine.execute("DELETE FROM main.schema_version WHERE version >= 24")
    applied = migrate(engine)
    assert [m.version for m in applied] == [m.version for m in available_migrations() if m.version >= 24]
    for table in TABLES:
        assert _columns(engine, table) == [*CONTRACTS[table].column_names, "_load_id", "_row_number"]
    engine.close()
