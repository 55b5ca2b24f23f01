"""The console's pages (Jinja2, server-rendered) and :func:`install`, which adds them to the
``molar serve`` app. Views compute what a template shows; templates only branch on it, and
data for the charts goes in through ``|tojson``."""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from molar.privacy.accounts import sign_in, token_digest
from molar.privacy.consent import overview as consent_overview
from molar.privacy.masking import patient_view
from molar.realtime.app import audit_read
from molar.realtime.patient import patient_360
from molar.realtime.schemas import data_fields
from molar.reports import kpis, monthly
from molar.reports.pdf import PrintError, print_pdf
from molar.warehouse import Engine
from molar.web import journeys, queues, recall, segments
from molar.web import patients as find
from molar.web import report as report_view
from molar.web.render import chart_data, home_page, render
from molar.web.session import (
    COOKIE,
    PREFIX,
    PageDenied,
    SignInFirst,
    Viewer,
    locale_of,
    login_url,
    page,
    read_form,
    session_principal,
    viewer_of,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".LICENSE": "text/plain", ".svg": "image/svg+xml"}
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")

Dashboard = Annotated[Viewer, Depends(page("dashboard", "read"))]
Reader = Annotated[Viewer, Depends(page("patient", "read"))]
ReportReader = Annotated[Viewer, Depends(page("report", "read"))]
PAGE_ROWS = 50
GROUP_TABLES = {"channel": "channel_mix", "tier": "tiers", "stage": "stages"}   # kpis.GROUPS -> Overview


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/")
    def home(request: Request) -> Response:
        viewer = viewer_of(request)
        return RedirectResponse(home_page(viewer) if viewer.principal else login_url(PREFIX + "/"), status_code=303)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, media_type=STATIC_TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "max-age=3600"})

    @router.get("/login")
    def login_page(request: Request, next: str = PREFIX + "/") -> Response:
        return render(request, Viewer(None, locale_of(request)), "login.html", next=_safe_next(next), error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        username, password = form.get("username", "")[:100], form.get("password", "")[:1000]
        next_url = _safe_next(form.get("next", PREFIX + "/"))
        viewer = Viewer(None, locale_of(request))
        runtime = request.app.state.realtime
        wait = runtime.sign_in_limiter.retry_after(username)
        if wait is not None:
            return render(request, viewer, "login.html", 429, next=next_url,
                          error=viewer.locale.t("login.too_many", seconds=round(wait)))
        found = await asyncio.to_thread(sign_in, runtime.read_engine(), username, password, now=runtime.clock())
        if found is None:
            return render(request, viewer, "login.html", 401, next=next_url, error=viewer.locale.t("login.wrong"))
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(COOKIE, found[0], httponly=True, samesite="strict", path=PREFIX,
                            secure=request.url.scheme == "https", max_age=8 * 3600)
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token and session_principal(request) is not None:
            runtime = request.app.state.realtime
            runtime.read_engine().execute(
                "UPDATE ops.access_token SET revoked_at = ? WHERE token_sha256 = ? AND kind = 'session'",
                [runtime.clock(), token_digest(token)])
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    @router.get("/dashboard")
    def dashboard(request: Request, viewer: Dashboard, month: str | None = None,
                  clinic: str | None = None) -> Response:
        engine = request.app.state.realtime.read_engine()
        f = _filters(engine, viewer, month, clinic)
        data = kpis.overview(engine, f.scope)
        last_year = kpis.daily(engine, kpis.Scope(f.scope.month.replace(year=f.scope.month.year - 1), f.scope.clinic))
        query = {"month": f.month, "clinic": f.clinic}
        may = viewer.may("patient", "read")

        def drill_url(kpi: str, **extra: str) -> str:
            return f"{PREFIX}/dashboard/patients?" + urlencode({**query, "kpi": kpi, **extra})

        drill = {k: drill_url(k) for k in kpis.DRILLS} if may else {}
        groups = ({kind: {v: drill_url(kind, group=v) for v in getattr(data, attr)}
                   for kind, attr in GROUP_TABLES.items()} if may else {})
        return render(request, viewer, "dashboard.html", o=data, month=f.month, clinic=f.clinic, clinics=f.choices,
                      chain_wide=f.chain_wide, drill=drill, groups=groups,
                      charts=chart_data(viewer.locale, data, f.names, last_year))

    @router.get("/dashboard/patients")
    def behind(request: Request, viewer: Dashboard, kpi: str, month: str | None = None,
               clinic: str | None = None, page: int = 1, group: str | None = None) -> Response:
        """The patients behind one KPI (or one row of a table) of the dashboard, a page at a
        time, masked by role."""
        if not viewer.may("patient", "read"):
            raise PageDenied(viewer)
        loc = viewer.locale
        if kpi not in kpis.DRILLS and not (kpi in kpis.GROUPS and group and len(group) <= 40):
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("behind.unknown_kpi"))
        engine = request.app.state.realtime.read_engine()
        f = _filters(engine, viewer, month, clinic)
        page = max(1, min(page, 100_000))
        group = group if kpi in kpis.GROUPS else None
        found = kpis.behind(engine, f.scope, kpi, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS, group=group)
        rows, view = find.named(engine, found.rows, viewer.principal)
        audit_read(request, action="patient.read", patient=None, fields=view.shown,
                   detail={"masked": sorted(view.masked), "via": "console drill-down", "kpi": kpi, "group": group,
                           "month": f.month,
                           "clinic": f.clinic or None, "page": page, "patients": [r["golden_id"] for r in rows]})
        query = {"kpi": kpi, "month": f.month, "clinic": f.clinic, **({"group": group} if group else {})}
        pages = max(1, -(-found.patients // PAGE_ROWS))

        def link(n: int) -> str:
            return f"{PREFIX}/dashboard/patients?" + urlencode({**query, "page": n})

        return render(request, viewer, "behind.html", rows=rows, found=found, kpi=kpi, group=group, f=f, page=page,
                      pages=pages,
                      previous=link(page - 1) if page > 1 else None, next=link(page + 1) if page < pages else None,
                      back=f"{PREFIX}/dashboard?" + urlencode({"month": f.month, "clinic": f.clinic}))

    @router.get("/report")
    def report_page(request: Request, viewer: ReportReader, month: str | None = None,
                    clinic: str | None = None) -> Response:
        engine = request.app.state.realtime.read_engine()
        f = _filters(engine, viewer, month, clinic)
        report = monthly.build(engine, f.scope.month, f.scope.clinic)
        audit_read(request, action="report.read", patient=None,
                   detail={"month": f.month, "clinic": f.clinic or None, "format": "page"})
        download = f"{PREFIX}/report/download?" + urlencode({"month": f.month, "clinic": f.clinic})
        return render(request, viewer, "report.html", month=f.month, clinic=f.clinic, clinics=f.choices,
                      chain_wide=f.chain_wide, download=download,
                      **report_view.context(report, viewer.locale, f.names, runtime_today(request)))

    @router.get("/report/download")
    def report_download(request: Request, viewer: ReportReader, month: str | None = None,
                        clinic: str | None = None, format: str = "pdf") -> Response:
        engine = request.app.state.realtime.read_engine()
        f = _filters(engine, viewer, month, clinic)
        report = monthly.build(engine, f.scope.month, f.scope.clinic)
        fmt = "html" if format == "html" else "pdf"
        audit_read(request, action="report.read", patient=None,
                   detail={"month": f.month, "clinic": f.clinic or None, "format": fmt})
        loc = viewer.locale
        html = report_view.standalone(report, loc, f.names, runtime_today(request))
        name = f"molar-report-{f.month}{'-' + f.clinic if f.clinic else ''}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "html":
            return HTMLResponse(html, headers=headers)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / name
            try:
                print_pdf(html, out, header=report_view.header(report, loc))
            except PrintError as exc:
                return render(request, viewer, "error.html", 503, title=loc.t("report.no_report_title"),
                              message=str(exc))
            return Response(out.read_bytes(), media_type="application/pdf", headers=headers)

    @router.get("/patients")
    def search(request: Request, viewer: Reader, q: str = "") -> Response:
        found, message = [], None
        if q:
            kind = find.classify_query(q[:64])
            runtime = request.app.state.realtime
            if kind is None:
                message = viewer.locale.t("patients.bad_query")
            elif kind[0] == "golden_id":
                return RedirectResponse(f"{PREFIX}/patients/{kind[1]}", status_code=303)
            elif not viewer.may("patient", "lookup"):
                message = viewer.locale.t("patients.lookup_denied")
            else:
                found = find.by_mobile(runtime.read_engine(), kind[1])
                audit_read(request, action="patient.lookup", patient=None, fields=["mobile"],
                           detail={"found": found})
                if len(found) == 1:
                    return RedirectResponse(f"{PREFIX}/patients/{found[0]}", status_code=303)
                if not found:
                    message = viewer.locale.t("patients.none_found")
        return render(request, viewer, "patients.html", q=q, found=found, message=message)

    @router.get("/patients/{patient_id}")
    def patient(request: Request, patient_id: str, viewer: Reader) -> Response:
        runtime = request.app.state.realtime
        engine = runtime.read_engine()
        raw = patient_360(engine, patient_id[:64]) if len(patient_id) <= 64 else None
        principal = viewer.principal
        home = ((raw or {}).get("patient") or {}).get("home_clinic_id")
        if raw is None or (principal.clinics is not None and home not in principal.clinics):
            return render(request, viewer, "error.html", 404, title=viewer.locale.t("error.not_found_title"),
                          message=viewer.locale.t("patient.not_found"))
        data, view = patient_view(raw, principal, today=runtime.clock().date(), data_fields=data_fields)
        audit_read(request, action="patient.read", patient=raw["golden_id"], fields=view.shown,
                   detail={"masked": sorted(view.masked), "via": "console"})
        golden = raw["golden_id"]
        return render(request, viewer, "patient.html", p=data, golden_id=golden,
                      levels={f: view.level(f) for f in ("name", "mobile", "id_number", "wechat")},
                      timeline=find.timeline(engine, golden), churn=find.churn_risk(engine, golden),
                      consent=consent_overview(engine, golden))

    return router


@dataclass(frozen=True)
class Filters:
    """The month and clinic a page shows, after the viewer's clinics are applied."""

    scope: kpis.Scope
    choices: list[tuple[str, str]]     # clinics the viewer may pick
    names: dict[str, str]              # every clinic's name
    chain_wide: bool

    @property
    def month(self) -> str:
        return f"{self.scope.month:%Y-%m}"

    @property
    def clinic(self) -> str:
        return self.scope.clinic or ""


def _filters(engine: Engine, viewer: Viewer, month: str | None, clinic: str | None) -> Filters:
    """A clinic outside the viewer's clinics is refused; a clinic-bound viewer gets their first
    clinic by default; a missing or malformed month is the newest month with visits."""
    allowed = viewer.principal.clinics
    all_clinics = kpis.clinics(engine)
    if clinic and allowed is not None and clinic not in allowed:
        raise PageDenied(viewer)
    if not clinic and allowed is not None:
        clinic = sorted(allowed)[0]
    if month and MONTH.fullmatch(month):
        period = date(int(month[:4]), int(month[5:]), 1)
    else:
        period = kpis.latest_month(engine) or date.today().replace(day=1)
    return Filters(kpis.Scope(period, clinic or None),
                   [(c, n) for c, n in all_clinics if allowed is None or c in allowed],
                   dict(all_clinics), allowed is None)


def runtime_today(request: Request) -> date:
    return request.app.state.realtime.clock().date()


def _safe_next(url: str) -> str:
    """Only a console path: never send a signed-in user to another site."""
    return url if url.startswith(PREFIX + "/") and "//" not in url and "\\" not in url else PREFIX + "/"


def install(app: FastAPI) -> None:
    """Add the console to the ``molar serve`` app."""
    app.include_router(build_router())
    app.include_router(queues.build_router())
    app.include_router(journeys.build_router())
    app.include_router(segments.build_router())
    app.include_router(recall.build_router())

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return RedirectResponse(login_url(exc.next_url), status_code=303)

    @app.exception_handler(PageDenied)
    async def denied(request: Request, exc: PageDenied) -> Response:
        v = exc.viewer
        return render(request, v, "error.html", 403, title=v.locale.t("error.forbidden_title"),
                      message=v.locale.t("error.forbidden", role=v.locale.t(f"role.{v.principal.role}")))
