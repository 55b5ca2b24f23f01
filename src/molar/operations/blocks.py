"""Forecast blocks: a model trained on the weeks before an origin predicts the ``weeks``
weeks from it; actual counts of the same weeks; totals at the levels staff plan at."""

from __future__ import annotations

import numpy as np
import pandas as pd

from molar.operations.features import design
from molar.operations.model import DemandModel, ForecastConfig
from molar.operations.series import SLOT, Series

LEVELS = {
    "slot": [*SLOT, "t"],
    "clinic_department": ["clinic_id", "department", "t"],
    "department": ["department", "t"],
}


def codes(series: Series) -> dict[str, list[str]]:
    return {"clinic": sorted(series.slots["clinic_id"].unique()),
            "department": sorted(series.slots["department"].unique())}


def predict_block(full: Series, origin: int, measure: str, config: ForecastConfig) -> pd.DataFrame:
    """Train on weeks [0, origin) only (slots seen there) and predict weeks [origin, origin + weeks).
    Columns: the slot, ``t`` (week index from the series start) and ``expected``."""
    past = full.upto(origin) if origin < len(full.weeks) else full
    cats = codes(past)
    train = design(past, measure, np.arange(origin), config.weeks, cats)
    keep = past.active[train["slot"].to_numpy(), train["t"].to_numpy()]
    train = train[keep]
    y = past.counts[measure][train["slot"].to_numpy(), train["t"].to_numpy()]
    model = DemandModel(config).fit(train, y)
    ahead = design(past, measure, np.arange(origin, origin + config.weeks), config.weeks, cats)
    out = past.slots.iloc[ahead["slot"].to_numpy()].reset_index(drop=True)
    out["t"] = ahead["t"].to_numpy()
    out["expected"] = model.predict(ahead)
    return out


def actual_block(full: Series, start: int, stop: int, measure: str) -> pd.DataFrame:
    """Actual counts of every slot in weeks [start, stop): columns the slot, ``t``, ``actual``."""
    grid = full.counts[measure][:, start:stop]
    out = full.slots.loc[np.repeat(np.arange(len(full.slots)), stop - start)].reset_index(drop=True)
    out["t"] = np.tile(np.arange(start, stop), len(full.slots))
    out["actual"] = grid.ravel()
    return out


def at_level(predicted: pd.DataFrame, actual: pd.DataFrame | None, level: str) -> pd.DataFrame:
    """Totals per ``LEVELS[level]`` of ``expected`` (and ``actual``; a slot missing on one
    side counts 0)."""
    keys = LEVELS[level]
    out = predicted.groupby(keys, as_index=False)["expected"].sum()
    if actual is not None:
        act = actual.groupby(keys, as_index=False)["actual"].sum()
        out = out.merge(act, on=keys, how="outer").fillna({"expected": 0.0, "actual": 0.0})
    return out
