"""What the console's pages and the monthly report share: the Jinja2 templates, the page
frame (role-aware navigation, language switch) and the data of the four chart kinds (drawn
by ``static/console.js``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from molar.reports import kpis
from molar.web.i18n import Locale
from molar.web.session import LANG_COOKIE, PREFIX, Viewer, csrf_token

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  trim_blocks=True, lstrip_blocks=True)
# (resource, action, path, label): the pages in the navigation, each shown to the roles that may open it.
NAV = [("dashboard", "read", "/dashboard", "nav.dashboard"), ("report", "read", "/report", "report.nav"),
       ("patient", "read", "/patients", "nav.patients"), ("task", "read", "/queues", "nav.queues"),
       ("quarantine", "read", "/quarantine", "nav.quarantine"), ("outbox", "read", "/outbox", "nav.outbox"),
       ("rule", "read", "/journeys", "nav.journeys"), ("segment", "read", "/segments", "nav.segments"),
       ("operations", "recall", "/recall", "nav.recall")]


def nav(viewer: Viewer) -> list[dict[str, str]]:
    """The pages this viewer's role may open (role-aware navigation)."""
    return [{"href": PREFIX + href, "label": viewer.locale.t(label)}
            for resource, action, href, label in NAV if viewer.may(resource, action)]


def home_page(viewer: Viewer) -> str:
    items = nav(viewer)
    return items[0]["href"] if items else PREFIX + "/patients"


def render(request: Request, viewer: Viewer, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    loc = viewer.locale
    other = "en" if loc.lang == "zh-CN" else "zh-CN"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    switch = request.url.path + "?" + urlencode({**query, "lang": other})
    html = ENV.get_template(template).render(
        t=loc.t, loc=loc, lang=loc.lang, prefix=PREFIX, nav=nav(viewer), principal=viewer.principal,
        role_label=loc.t(f"role.{viewer.principal.role}") if viewer.principal else "",
        csrf=csrf_token(request) if viewer.principal else "",
        switch_url=switch, switch_label=Locale(other).t("lang_name"), **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") == loc.lang:
        response.set_cookie(LANG_COOKIE, loc.lang, max_age=365 * 86400, path=PREFIX, samesite="strict")
    return response


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
