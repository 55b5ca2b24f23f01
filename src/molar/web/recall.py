"""The recall list in the console: patients of one clinic due for a recall visit, for the
front desk (`molar recall list` on a page). Names and mobiles are masked by role and every
listing leaves an audit row naming the patients shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from molar.operations.recall import STATUSES, RecallError, recalls, summary
from molar.operations.series import data_end
from molar.privacy.fields import read_golden
from molar.privacy.masking import View
from molar.realtime.app import audit_read
from molar.reports import kpis
from molar.web.render import render
from molar.web.session import PREFIX, PageDenied, Viewer, page

RecallReader = Annotated[Viewer, Depends(page("operations", "recall"))]
WINDOWS = (7, 30, 90)       # "due within" choices, days
SHOWN = 300                 # rows on the page; the summary counts them all


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/recall")
    def recall_page(request: Request, viewer: RecallReader, clinic: str = "", within: int = 30) -> Response:
        principal = viewer.principal
        engine = request.app.state.realtime.read_engine()
        names = dict(kpis.clinics(engine))
        clinics = [(c, n) for c, n in names.items() if principal.clinics is None or c in principal.clinics]
        clinic = clinic[:20] or (clinics[0][0] if clinics else "")
        if principal.clinics is not None and clinic not in principal.clinics:
            raise PageDenied(viewer)
        within = within if within in WINDOWS else 30
        loc = viewer.locale
        day = data_end(engine)
        try:
            rows = recalls(engine, as_of=day, clinics=[clinic], due_by=day + timedelta(days=within) if day else None)
        except RecallError:
            return render(request, viewer, "error.html", 409, title=loc.t("recall.title"), message=loc.t("recall.no_data"))
        counts = summary(rows)
        shown = rows[:SHOWN]
        ids = sorted({r["golden_id"] for r in shown})
        view = View(principal)
        people = {}
        if ids:
            for p in read_golden(engine, "golden_id, name, mobile", "WHERE golden_id IN (SELECT unnest(?))",
                                 [ids]).to_pylist():
                people[p["golden_id"]] = {"name": view("name", p["name"]), "mobile": view("mobile", p["mobile"])}
        for r in shown:
            r.update(people.get(r["golden_id"], {"name": None, "mobile": None}))
        audit_read(request, action="operations.recall", patient=None, fields=view.shown,
                   detail={"via": "console recall list", "clinic": clinic, "within_days": within,
                           "masked": sorted(view.masked), "patients": ids})
        return render(request, viewer, "recall.html", rows=shown, total=len(rows), counts=counts, clinic=clinic,
                      clinics=clinics, within=within, windows=WINDOWS, statuses=STATUSES, as_of=day,
                      due_by=day + timedelta(days=within) if day else None)

    return router
