"""Every tag of the shipped catalogue (except the value tags, which read the steps'
results) gives the same rows on DuckDB and on Spark over the same input tables.

Tags that cannot run on Spark yet are expected gaps (strict: a fix shows as a pass).
"""

from __future__ import annotations

import pytest

from molar.profile.catalogue import load_catalogue
from molar.profile.tagging import _value_sql
from molar.warehouse import WarehouseError
from spark.compare import rows

pytestmark = pytest.mark.spark

GAPS = {
    "referral_reach": "a recursive CTE joined with UNION (Spark 4.3 takes only UNION ALL in recursive CTEs)",
}


def _cases() -> list:
    cases = []
    for tag in load_catalogue():
        if tag.dimension == "value":
            continue
        marks = [pytest.mark.xfail(reason=GAPS[tag.key], raises=WarehouseError, strict=True)] if tag.key in GAPS else []
        cases.append(pytest.param(tag, id=tag.key, marks=marks))
    return cases


@pytest.mark.parametrize("tag", _cases())
def test_tag_rows(both, tag):
    duck, spark, as_of = both
    body = tag.render_sql(as_of.isoformat())
    columns = [r[0] for r in duck.rows(f"DESCRIBE SELECT * FROM ({body}) LIMIT 0")]
    sql = _value_sql(tag, as_of, columns)
    expected = rows(duck, sql, json_columns=(4,))
    assert rows(spark, sql, json_columns=(4,)) == expected
    assert expected, "no rows on this chain: the comparison would prove nothing"
