"""Rows from two engines, made comparable."""

from __future__ import annotations

import json
import math
from decimal import Decimal


def normal(value):
    """Decimal → float; floats to 9 significant digits (Spark adds partial sums per
    partition, DuckDB per thread: the last bit may differ); NaN kept as a marker."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else float(f"{value:.9g}")
    return value


def rows(engine, sql: str, json_columns: tuple[int, ...] = ()) -> list[tuple]:
    """The query's rows, normalised and sorted; ``json_columns`` (positions) are compared
    as parsed JSON, since the order of an object's keys carries no meaning."""
    found = []
    for row in engine.rows(sql):
        values = [normal(v) for v in row]
        for i in json_columns:
            if values[i] is not None:
                values[i] = json.dumps(json.loads(values[i]), sort_keys=True)
        found.append(tuple(values))
    return sorted(found, key=repr)
