"""std tables for post-op follow-up: surgeries with their outcome, and the check calls."""

from molar.model.tables import POSTOP_CASE, POSTOP_CHECK
from molar.warehouse.engine import Engine

BOOKKEEPING = ("_load_id VARCHAR", "_row_number BIGINT")


def migrate(engine: Engine) -> None:
    for contract in (POSTOP_CASE, POSTOP_CHECK):
        engine.execute(contract.create_table_sql(f"std.{contract.name}", BOOKKEEPING))
