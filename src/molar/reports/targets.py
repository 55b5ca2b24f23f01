"""Monthly KPI targets: set per KPI for the chain or one clinic, from a month on.

A report shows, per KPI, the target that holds for its month and scope and whether it was
met. For the no-show rate and complaints lower is better; for everything else higher.
A clinic's report uses the clinic's own targets only (a chain target is not split).
The report reads them with :func:`molar.reports.kpis.targets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from molar.reports.monthly import KPIS, ReportError
from molar.warehouse import Engine

KINDS = {key: kind for key, _, kind in KPIS}
LOWER_IS_BETTER = frozenset({"no_show_rate", "complaints"})
CHAIN = ""   # clinic_id of a chain-wide target


@dataclass(frozen=True)
class Target:
    kpi: str
    clinic_id: str | None
    applies_from: date
    value: float
    set_by: str
    set_at: datetime


def parse_value(kpi: str, text: str) -> float:
    """``1200000`` (yuan or a count), ``8%`` or ``0.08`` for a rate; else a ReportError."""
    if kpi not in KINDS:
        raise ReportError(f"{kpi!r} is not a KPI; KPIs: {', '.join(KINDS)} / 指标名称不存在")
    raw = text.strip().replace(",", "")
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%")) / (100 if percent else 1)
    except ValueError:
        raise ReportError(f"target {text!r} for {kpi} is not a number / 目标值须为数字") from None
    if KINDS[kpi] == "rate" and not 0 <= value <= 1:
        raise ReportError(f"target {text!r} for {kpi} is a rate: write it as 8% or 0.08 / 比率目标须在 0–100% 之间")
    if KINDS[kpi] != "rate" and (percent or value < 0):
        raise ReportError(f"target {text!r} for {kpi} must be a number of at least 0 / 目标值不能为负")
    return value


def set_target(engine: Engine, kpi: str, value: float, *, clinic: str | None, applies_from: date, by: str,
               now: datetime) -> None:
    engine.execute("INSERT OR REPLACE INTO ops.kpi_target VALUES (?, ?, ?, ?, ?, ?)",
                   [kpi, clinic or CHAIN, applies_from, value, by, now])


def list_targets(engine: Engine, clinics: set[str] | None = None) -> list[Target]:
    rows = engine.rows("SELECT kpi, clinic_id, applies_from, value, set_by, set_at FROM ops.kpi_target "
                       "ORDER BY clinic_id, kpi, applies_from")
    return [Target(k, c or None, a, v, b, s) for k, c, a, v, b, s in rows
            if clinics is None or c in clinics]


def met(kpi: str, actual: float | None, target: float | None) -> bool | None:
    if actual is None or target is None:
        return None
    return actual <= target if kpi in LOWER_IS_BETTER else actual >= target
