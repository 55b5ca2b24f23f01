"""Regional reference data: resident population per district, year and age band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from molar.model import codes
from molar.synth import geo

# how a young (+1) or old (-1) district shifts each age band's share
_YOUNG_SHIFT = np.array([0.25, 0.25, 0.1, 0.25, 0.2, 0.0, -0.3, -0.35])


def write_population(path: Path, rng: np.random.Generator, first_year: int, last_year: int) -> int:
    share = np.array(geo.AGE_BAND_SHARE)
    rows_d, rows_y, rows_b, rows_p = [], [], [], []
    for d in geo.DISTRICTS:
        s = share * (1 + d.young * _YOUNG_SHIFT)
        s = s / s.sum()
        growth = 0.012 + 0.01 * d.young
        for y in range(first_year, last_year + 1):
            total = d.population * (1 + growth) ** (y - 2020)
            pop = np.round(total * s * rng.uniform(0.98, 1.02, s.size)).astype(np.int64)
            rows_d += [d.name] * s.size
            rows_y += [y] * s.size
            rows_b += list(codes.AGE_BANDS)
            rows_p += pop.tolist()
    table = pa.table({
        "district": pa.array(rows_d, pa.string()), "year": pa.array(rows_y, pa.int32()),
        "age_band": pa.array(rows_b, pa.string()), "population": pa.array(rows_p, pa.int64()),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return table.num_rows
