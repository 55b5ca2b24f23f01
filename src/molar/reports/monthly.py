"""The monthly operations report: a month's KPIs against the month before and the same
month a year earlier, the dashboard's charts, tier and stage movements, churn risk and
complaints, each section with a sentence in words.

Every figure comes from :mod:`molar.reports.kpis` (no KPI is computed here) and is an
aggregate: the report carries no personal data. ``molar.web.report`` draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from molar.reports import kpis
from molar.warehouse import Engine

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
# The KPI table: (key, Overview attribute, kind). A rate's change is in percentage points.
KPIS = (
    ("active_patients", "active_patients", "number"),
    ("new_patients", "new_patients", "number"),
    ("visits", "visits", "number"),
    ("revenue", "revenue_yuan", "money"),
    ("average_order", "average_order_yuan", "money"),
    ("no_show_rate", "no_show_rate", "rate"),
    ("complaints", "complaints", "number"),
    ("recall_compliance", "recall_compliance", "rate"),
)


class ReportError(ValueError):
    """A report cannot be made as asked; the message says what to change."""


def parse_month(text: str) -> date:
    """``YYYY-MM`` to the month's first day, or a :class:`ReportError` naming the fix."""
    m = MONTH.fullmatch(text.strip())
    if not m:
        raise ReportError(f"--month {text!r} is not a month; write it as YYYY-MM, e.g. 2026-10 "
                          "/ 月份格式应为 YYYY-MM，例如 2026-10")
    return date(int(m[1]), int(m[2]), 1)


def previous_month(month: date) -> date:
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


@dataclass
class Report:
    scope: kpis.Scope
    clinic_name: str | None
    current: kpis.Overview
    previous: kpis.Overview
    last_year: kpis.Overview
    moves: kpis.Movements
    targets: dict[str, float] = field(default_factory=dict)

    def kpi_rows(self) -> list[dict[str, object]]:
        """One row per KPI: its value this month, the month before and a year before, and
        the month's target when one is set."""
        return [{"key": key, "kind": kind, "now": getattr(self.current, attr),
                 "previous": getattr(self.previous, attr), "last_year": getattr(self.last_year, attr),
                 "target": self.targets.get(key)}
                for key, attr, kind in KPIS]


def build(engine: Engine, month: date, clinic: str | None = None) -> Report:
    """The report of ``month`` for the chain or one clinic; an unknown clinic is refused."""
    names = dict(kpis.clinics(engine))
    if clinic is not None and clinic not in names:
        raise ReportError(f"--clinic {clinic!r} is not a clinic of this warehouse; clinics: "
                          f"{', '.join(names) or 'none'} / 诊所编号不存在")
    scope = kpis.Scope(month, clinic)
    return Report(
        scope=scope, clinic_name=names.get(clinic) if clinic else None,
        current=kpis.overview(engine, scope),
        previous=kpis.overview(engine, kpis.Scope(previous_month(month), clinic)),
        last_year=kpis.overview(engine, kpis.Scope(month.replace(year=month.year - 1), clinic)),
        moves=kpis.movements(engine, scope),
        targets=kpis.targets(engine, month, clinic))


def change(now: float | int | None, before: float | int | None, kind: str) -> float | None:
    """Relative change (0.12 = +12 %), or for a rate the difference in points (0.012 = +1.2 pp);
    None when there is nothing to compare with."""
    if now is None or before is None:
        return None
    if kind == "rate":
        return now - before
    return (now - before) / before if before else None
