"""Columns added to the canonical contracts since 0002 (visit time of day, a treatment's
name as the source wrote it), rows rolled up per load target, ignored lines and the
fingerprint of the mapping a file was loaded with."""

from molar.model import CONTRACTS
from molar.warehouse.engine import Engine


def migrate(engine: Engine) -> None:
    for contract in CONTRACTS.values():
        for column in contract.columns:
            engine.execute(f"ALTER TABLE std.{contract.name} ADD COLUMN IF NOT EXISTS {column.name} {column.sql_type}")
    engine.execute("ALTER TABLE ops.load_target ADD COLUMN IF NOT EXISTS rows_merged BIGINT DEFAULT 0")
    engine.execute("ALTER TABLE ops.load ADD COLUMN IF NOT EXISTS rows_ignored BIGINT DEFAULT 0")
    engine.execute("ALTER TABLE ops.load ADD COLUMN IF NOT EXISTS mapping_sha256 VARCHAR")
