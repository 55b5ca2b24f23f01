"""`molar ops forecast`: evaluate on held-out weeks, forecast the next weeks, store both.

Three fits per measure cover both jobs (n full weeks, W the horizon): trained on [0, n − 2W)
to size the evaluation's intervals, on [0, n − W) for the held-out test — whose errors also
size the forecast's intervals — and on all n weeks for the forecast itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from importlib.metadata import version

import pandas as pd
import pyarrow as pa

from molar.operations import calendar
from molar.operations.blocks import actual_block, at_level, predict_block
from molar.operations.evaluate import actual_expected, evaluate_measure, required_weeks
from molar.operations.model import ForecastConfig, dispersion, interval
from molar.operations.series import MEASURES, ForecastDataError, Series, load_series
from molar.warehouse import Engine

STORED_LEVELS = ("slot", "clinic_department")


def _check_history(full: Series, config: ForecastConfig) -> None:
    need = config.min_train_weeks + config.weeks
    if len(full.weeks) < need:
        raise ForecastDataError(
            f"too little history to forecast: {len(full.weeks)} full weeks of appointments up to {full.end}, need "
            f"{need} ({config.min_train_weeks} to learn from and {config.weeks} to measure the intervals); load more "
            f"months of the booking system's appointments / 预约历史不足{need}周，无法预测")


def forecast_measure(full: Series, measure: str, config: ForecastConfig, evaluate: bool) -> tuple[pd.DataFrame, dict]:
    """Stored rows of one measure for the W weeks after the data, and its held-out metrics."""
    n, w = len(full.weeks), config.weeks
    held_out = predict_block(full, n - w, measure, config)
    metrics = evaluate_measure(full, measure, config, test_block=held_out) if evaluate else {}
    ahead = predict_block(full, n, measure, config)
    rows = []
    alphas = {}
    for level in STORED_LEVELS:
        alphas[level] = dispersion(*actual_expected(at_level(held_out, actual_block(full, n - w, n, measure), level)),
                                    config.level)
        frame = at_level(ahead, None, level)
        frame["low"], frame["high"] = interval(frame["expected"].to_numpy(), alphas[level], config.level)
        frame["level"], frame["measure"] = level, measure
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    out["week_start"] = [full.weeks[0] + timedelta(weeks=int(t)) for t in out["t"]]
    return out, {**metrics, "forecast_dispersion": {k: round(v, 4) for k, v in alphas.items()}}


def run_forecast(engine: Engine, config: ForecastConfig | None = None, now: datetime | None = None) -> dict:
    """Forecast appointments and arrivals per slot for the next ``config.weeks`` weeks, with
    the held-out evaluation when the history allows it; stores one run."""
    config = config or ForecastConfig()
    full = load_series(engine)
    _check_history(full, config)
    evaluate = len(full.weeks) >= required_weeks(config)
    frames, metrics = [], {}
    for measure in MEASURES:
        frame, metrics[measure] = forecast_measure(full, measure, config, evaluate)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    first_week = full.weeks[-1] + timedelta(weeks=1)
    now = now or datetime.now()
    forecast_id = f"FC{now:%Y%m%d%H%M%S%f}"
    unknown = calendar.unknown_years(first_week, 7 * config.weeks)
    summary = {"config": asdict(config), "history_weeks": len(full.weeks), "evaluated": evaluate,
               "metrics": metrics, "versions": {p: version(p) for p in ("lightgbm", "chinese-calendar", "molar")},
               "calendar_unknown_years": unknown}
    table = pa.table({
        "forecast_id": [forecast_id] * len(rows), "level": rows["level"].tolist(),
        "week_start": pa.array(rows["week_start"].tolist(), pa.date32()),
        "clinic_id": rows["clinic_id"].tolist(), "department": rows["department"].tolist(),
        "weekday": pa.array(rows["weekday"].astype("Int64"), pa.int32(), from_pandas=True),
        "hour": pa.array(rows["hour"].astype("Int64"), pa.int32(), from_pandas=True),
        "measure": rows["measure"].tolist(), "expected": rows["expected"].round(3).tolist(),
        "low": rows["low"].tolist(), "high": rows["high"].tolist(),
    })
    with engine.transaction():
        engine.execute("INSERT INTO ops.demand_forecast_run VALUES (?, ?, ?, ?, ?, ?)",
                       [forecast_id, now, full.end, first_week, config.weeks, json.dumps(summary, ensure_ascii=False)])
        engine.append("ops.demand_forecast", table)
    return {"forecast_id": forecast_id, "data_end": full.end.isoformat(), "first_week": first_week.isoformat(),
            "weeks": config.weeks, "slots": int((rows["level"] == "slot").sum() // (len(MEASURES) * config.weeks)), **summary}

