"""Transactions → per-customer summaries for the CLV models (frequency, recency, age, spend).

Data contract: one row per transaction with a customer key, a date and an amount. Purchases
on the same day by the same customer are one visit (amounts summed), as in Fader, Hardie &
Lee (2005). ``frequency`` counts *repeat* visits, so a one-time customer has frequency 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

UNITS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


class ClvInputError(ValueError):
    """Transactions that cannot be fitted (the message says what and how to fix it)."""


@dataclass(frozen=True)
class Summary:
    """Per-customer arrays, time in ``unit``; holdout arrays are empty without a holdout."""

    customers: np.ndarray
    frequency: np.ndarray  # repeat visits in the calibration period
    recency: np.ndarray  # first visit → last visit
    age: np.ndarray  # first visit → calibration end ("T")
    monetary: np.ndarray  # mean amount of the repeat visits (0 without repeats)
    holdout_frequency: np.ndarray
    holdout_length: float
    unit: str


def unit_days(unit: str) -> float:
    try:
        return UNITS[unit.upper()]
    except KeyError:
        raise ClvInputError(f"unknown time unit {unit!r}: use D (days), W (weeks) or M (months)") from None


def read_transactions(path: Path, customer: str, when: str, amount: str) -> pd.DataFrame:
    """Read a CSV of transactions into (customer, date, amount) with one row per customer-day."""
    if not path.is_file():
        raise ClvInputError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise ClvInputError(f"{path} is empty: it needs a header row and at least one transaction") from None
    except UnicodeDecodeError:
        raise ClvInputError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    missing = [c for c in (customer, when, amount) if c not in raw.columns]
    if missing:
        raise ClvInputError(
            f"{path}: column(s) {', '.join(missing)} not found; the file has {', '.join(raw.columns)} "
            "(name them with --customer, --date and --amount)"
        )
    return daily_transactions(
        pd.DataFrame({"customer": raw[customer], "date": raw[when], "amount": raw[amount]}), str(path)
    )


MAX_LEVELS = 30


def read_covariates(path: Path, customer: str, when: str, columns: list[str],
                    customers: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """0/1 columns for the BG/NBD covariates, one row per customer of ``customers``.

    A customer's level is the value on their first transaction (acquisition: clinic, channel,
    age band then); a blank is a level of its own. The most common level of each column is
    the reference and gets no column, so ``clinic=C02`` reads "against clinic C01"."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ClvInputError(f"{path}: covariate column(s) {', '.join(missing)} not found; the file has "
                            f"{', '.join(raw.columns)}")
    raw = raw.assign(_when=pd.to_datetime(raw[when], errors="coerce", format="mixed")).sort_values("_when", kind="stable")
    first = raw.groupby(customer, sort=False).first().reindex(pd.Index(customers, dtype=str))
    return one_hot(first, columns, str(path))


def one_hot(levels_by_customer: pd.DataFrame, columns: list[str], where: str) -> tuple[tuple[str, ...], np.ndarray]:
    """0/1 columns from one row per customer; the most common level of each column is the
    reference (no column) and a blank is a level of its own."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for column in columns:
        values = levels_by_customer[column].fillna("").replace("", "(blank)")
        levels = values.value_counts(sort=True)
        if len(levels) > MAX_LEVELS:
            raise ClvInputError(f"{where}: covariate {column!r} has {len(levels)} levels; group it into at most "
                                f"{MAX_LEVELS} (e.g. age bands instead of ages)")
        for level in sorted(levels.index[1:]):
            names.append(f"{column}={level}")
            blocks.append((values == level).to_numpy(dtype=float))
    return tuple(names), np.column_stack(blocks) if blocks else np.zeros((len(levels_by_customer), 0))


def daily_transactions(frame: pd.DataFrame, where: str = "transactions") -> pd.DataFrame:
    """Validate (customer, date, amount) rows and sum each customer's purchases per day."""
    if frame.empty:
        raise ClvInputError(f"{where} has no transactions")
    dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
    bad = dates.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ClvInputError(
            f"{where}: {int(bad.sum())} date(s) cannot be read, first on data row {row + 1} "
            f"({frame['date'].iloc[row]!r}); write dates as YYYY-MM-DD"
        )
    amounts = pd.to_numeric(frame["amount"], errors="coerce")
    bad = amounts.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ClvInputError(
            f"{where}: {int(bad.sum())} amount(s) are not numbers, first on data row {row + 1} "
            f"({frame['amount'].iloc[row]!r})"
        )
    out = pd.DataFrame({"customer": frame["customer"].astype(str), "date": dates.dt.normalize(), "amount": amounts})
    return out.groupby(["customer", "date"], as_index=False, sort=True)["amount"].sum()


def summarise(daily: pd.DataFrame, calibration_end: date, unit: str = "W",
              observation_end: date | None = None) -> Summary:
    """Calibration summary up to ``calibration_end`` (inclusive) and holdout visits after it."""
    scale = unit_days(unit)
    cal_end = pd.Timestamp(calibration_end)
    cal = daily[daily["date"] <= cal_end]
    if cal.empty:
        raise ClvInputError(f"no transactions on or before the calibration end {calibration_end}")
    g = cal.groupby("customer", sort=True)
    first, last, visits = g["date"].min(), g["date"].max(), g["date"].size()
    total, first_amount = g["amount"].sum(), g["amount"].first()
    frequency = (visits - 1).to_numpy(dtype=float)
    repeat_spend = (total - first_amount).to_numpy(dtype=float)
    monetary = np.divide(repeat_spend, frequency, out=np.zeros_like(frequency), where=frequency > 0)
    end = pd.Timestamp(observation_end) if observation_end else daily["date"].max()
    holdout = daily[(daily["date"] > cal_end) & (daily["date"] <= end)]
    held = holdout.groupby("customer")["date"].size().reindex(first.index, fill_value=0)
    return Summary(
        customers=first.index.to_numpy(),
        frequency=frequency,
        recency=((last - first).dt.days / scale).to_numpy(dtype=float),
        age=((cal_end - first).dt.days / scale).to_numpy(dtype=float),
        monetary=monetary,
        holdout_frequency=held.to_numpy(dtype=float),
        holdout_length=max(0.0, (end - cal_end).days / scale),
        unit=unit.upper(),
    )
