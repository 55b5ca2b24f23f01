"""std tables for marketing: leads, their touch paths, treatment plans and spend."""

from molar.model.tables import LEAD, LEAD_TOUCH, MARKETING_SPEND, TREATMENT_PLAN
from molar.warehouse.engine import Engine

BOOKKEEPING = ("_load_id VARCHAR", "_row_number BIGINT")


def migrate(engine: Engine) -> None:
    for contract in (LEAD, LEAD_TOUCH, TREATMENT_PLAN, MARKETING_SPEND):
        engine.execute(contract.create_table_sql(f"std.{contract.name}", BOOKKEEPING))
