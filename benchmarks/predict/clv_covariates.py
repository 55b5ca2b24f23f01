"""Transactions with covariates from a chain's HIS export, for `molar clv fit --covariate`.

One row per visit of a HIS patient up to the export date (病历号): the visit date, what was paid on it (实收 of its
charges), the clinic of the visit and the patient's age band at the calibration end. The
HIS export alone, no warehouse: patients are HIS records, not golden IDs.

    uv run python benchmarks/predict/clv_covariates.py /tmp/chain/sources/his /tmp/his_visits.csv
    uv run molar clv fit /tmp/his_visits.csv --customer patient --date day --amount paid \\
        --calibration-end 2025-10-31 --covariate clinic --covariate age_band --json
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

BANDS = [0, 13, 19, 30, 45, 60, 200]
LABELS = ["0-12", "13-18", "19-29", "30-44", "45-59", "60+"]


def read(path: Path) -> pd.DataFrame:
    """The HIS exports come in UTF-8 or GBK."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")


def main(his: Path, out: Path, calibration_end: str = "2025-10-31", exported: str = "2026-10-31") -> None:
    visits, charges, patients = (read(his / n) for n in ("visits.csv", "charges.csv", "patients.csv"))
    paid = charges.assign(paid=pd.to_numeric(charges["实收"], errors="coerce").fillna(0)) \
        .groupby("就诊号", as_index=False)["paid"].sum()
    born = parse_dates(patients["出生日期"])
    age = (pd.Timestamp(calibration_end) - born).dt.days / 365.25
    band = pd.cut(age, BANDS, labels=LABELS, right=False).astype(str).replace("nan", "")
    rows = visits.merge(paid, on="就诊号", how="left").merge(
        pd.DataFrame({"病历号": patients["病历号"], "age_band": band}), on="病历号", how="left")
    day = parse_dates(rows["就诊日期"])
    keep = day.notna() & (day <= pd.Timestamp(exported))   # a date after the export is a typo
    pd.DataFrame({"patient": rows["病历号"], "day": day.dt.date, "paid": rows["paid"].fillna(0),
                  "clinic": rows["诊所"], "age_band": rows["age_band"].fillna("")})[keep].to_csv(out, index=False)
    print(f"{out}: {int(keep.sum()):,} visits of {rows['病历号'][keep].nunique():,} patients "
          f"({int((~keep).sum()):,} visits without a readable date or dated after {exported} left out)")


def parse_dates(text: pd.Series) -> pd.Series:
    """2024-11-01, 2024/11/1, 2024年11月1日 and 20241101 (the export's own spellings)."""
    iso = text.str.replace(r"(\d{4})年(\d{1,2})月(\d{1,2})日", r"\1-\2-\3", regex=True) \
        .str.replace(r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3", regex=True)
    return pd.to_datetime(iso, errors="coerce", format="mixed")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
