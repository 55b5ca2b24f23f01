"""The monthly report written by `molar serve` on the 1st of each month.

Each day the job checks whether last month's reports are in the folder; any that are
missing is written then, so a server that was down on the 1st catches up the next time it
runs. One file for the chain and one per clinic: ``monthly-report-2026-10.pdf``,
``monthly-report-2026-10-C01.pdf``. A month without visits or charges writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from molar.privacy import audit
from molar.reports import kpis
from molar.reports.files import has_data, write_report
from molar.reports.monthly import build, previous_month
from molar.warehouse import Engine

log = logging.getLogger("molar.reports.scheduled")
ACTOR = "molar serve"


@dataclass(frozen=True)
class Schedule:
    folder: Path
    lang: str = "zh"
    fmt: str = "html"

    def path(self, month: date, clinic: str | None) -> Path:
        return self.folder / f"monthly-report-{month:%Y-%m}{'-' + clinic if clinic else ''}.{self.fmt}"


def write_due(engine: Engine, today: date, schedule: Schedule) -> list[Path]:
    """Write last month's chain and clinic reports that are not in the folder yet."""
    month = previous_month(today.replace(day=1))
    names = dict(kpis.clinics(engine))
    written: list[Path] = []
    for clinic in [None, *names]:
        out = schedule.path(month, clinic)
        if out.exists():
            continue
        report = build(engine, month, clinic)
        if not has_data(report):
            continue
        write_report(report, out, lang=schedule.lang, clinic_names=names, made=today)
        audit.record(engine, actor=ACTOR, role="system", action="report.read", resource="scheduled monthly report",
                     purpose="schedule", detail={"month": f"{month:%Y-%m}", "clinic": clinic, "format": schedule.fmt,
                                                 "file": out.name})
        written.append(out)
    if written:
        log.info("monthly report %s: wrote %s", f"{month:%Y-%m}", ", ".join(p.name for p in written))
    return written
