"""Create one std table per canonical contract, with load bookkeeping columns."""

from molar.model import CONTRACTS
from molar.warehouse.engine import Engine

BOOKKEEPING = ("_load_id VARCHAR", "_row_number BIGINT")


def migrate(engine: Engine) -> None:
    for contract in CONTRACTS.values():
        engine.execute(contract.create_table_sql(f"std.{contract.name}", BOOKKEEPING))
