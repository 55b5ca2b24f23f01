"""What the console's pages and the monthly report share: the Jinja2 templates and the
data of the four chart kinds (drawn by ``static/console.js``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from molar.reports import kpis
from molar.web.i18n import Locale

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)


def chart_data(locale: Locale, o: kpis.Overview, clinic_names: dict[str, str],
               last_year: kpis.Overview | kpis.Daily | None = None) -> dict[str, Any]:
    """Everything the four chart kinds need, labels already in the viewer's language."""
    t = locale.t
    daily = {"days": [f"{d['day']:%m-%d}" for d in o.daily], "visits": [d["visits"] for d in o.daily],
             "revenue": [round(d["revenue_yuan"]) for d in o.daily],
             "names": [t("dashboard.visits"), t("dashboard.revenue"), t("dashboard.visits_last_year")]}
    if last_year is not None:   # by day of the month (29 February has no twin)
        daily["visits_last_year"] = [d["visits"] for d in last_year.daily][:len(o.daily)]
    return {
        "daily": daily,
        "departments": {"labels": [t(f"department.{k}") for k in o.by_department],
                        "values": list(o.by_department.values())},
        "clinics": {"labels": [clinic_names.get(k, k) for k in o.by_clinic], "values": list(o.by_clinic.values())},
        "acquisition": [{"name": t(f"channel.{k}"), "value": v} for k, v in o.acquisition.items()],
        # Busiest department first: the one the heat map opens on.
        "heatmap": {"weekdays": t("weekday"), "departments": [
            [t(f"department.{k}"), v] for k, v in sorted(o.heatmap.items(), key=lambda kv: -sum(c[2] for c in kv[1]))]},
        "empty": t("dashboard.no_data"),
    }
