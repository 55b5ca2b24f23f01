"""Work queues: staff tasks per clinic and role (take, complete with an outcome, SLA
colours), the quarantine review with downloads for fixing, and the outbox status.

Writes (take, complete) run on the server's single writer (``runtime.pipeline.call``) and
each leaves an audit row; names and mobiles are masked by role (``privacy/masking.py``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from molar.delivery.outbox import STATUSES
from molar.delivery.tasks import OUTCOMES, TaskError, assign_task, resolve_task
from molar.ingest import quarantine
from molar.privacy import keys
from molar.privacy.accounts import Principal
from molar.privacy.crypto import FieldCipher
from molar.privacy.fields import read_golden
from molar.privacy.masking import View
from molar.realtime.app import audit_read
from molar.reports import kpis
from molar.warehouse import Engine
from molar.web.render import render
from molar.web.session import PREFIX, PageDenied, Viewer, checked_form, page

TaskReader = Annotated[Viewer, Depends(page("task", "read"))]
TaskChanger = Annotated[Viewer, Depends(page("task", "change"))]
QuarantineReader = Annotated[Viewer, Depends(page("quarantine", "read"))]
QuarantineExporter = Annotated[Viewer, Depends(page("quarantine", "export"))]
OutboxReader = Annotated[Viewer, Depends(page("outbox", "read"))]
SOON = timedelta(hours=1)     # an open task due within this is amber
TASK_ROWS = 200
QUARANTINE_ROWS = 50
FAILURES = 20
TASK_STATUSES = ("open", "done", "all")


def sla(due_at: datetime, status: str, now: datetime) -> str:
    """The colour of a task: done, overdue (red), due_soon (amber, within an hour) or on_time."""
    if status == "done":
        return "done"
    if due_at < now:
        return "overdue"
    return "due_soon" if due_at - now <= SOON else "on_time"


def _clinic_clause(principal: Principal, clinic: str | None) -> tuple[str, list[Any]]:
    """Rows of patients at the chosen clinic, and never outside a clinic-bound user's clinics."""
    sql, params = "", []
    if principal.clinics is not None:
        sql += " AND list_contains(?, p.home_clinic_id)"
        params.append(sorted(principal.clinics))
    if clinic:
        sql += " AND p.home_clinic_id = ?"
        params.append(clinic)
    return sql, params


@dataclass(frozen=True)
class TaskFilters:
    clinic: str
    kind: str
    role: str      # the staff role a task is for (nurse, customer_service …), not the viewer's
    status: str

    def query(self) -> str:
        return urlencode({"clinic": self.clinic, "kind": self.kind, "role": self.role, "status": self.status})


def tasks(engine: Engine, principal: Principal, f: TaskFilters, now: datetime) -> tuple[list[dict[str, Any]], View]:
    """The queue: open tasks first, soonest due first, with the patient's name and mobile
    as the principal's role may see them."""
    where, params = _clinic_clause(principal, f.clinic or None)
    for column, value in (("kind", f.kind), ("role", f.role)):
        if value:
            where += f" AND t.{column} = ?"
            params.append(value)
    if f.status != "all":
        where += " AND t.status = ?"
        params.append(f.status)
    rows = engine.arrow(f"""
        SELECT t.task_id, t.kind, t.golden_id, t.rule_key, t.role, t.title_zh, t.title_en, t.due_at, t.status,
               t.created_at, t.assigned_to, t.resolved_at, t.resolved_by, t.outcome, p.home_clinic_id
        FROM ops.task t LEFT JOIN identity.patient p USING (golden_id)
        WHERE true {where}
        ORDER BY t.status = 'done', t.due_at, t.task_id LIMIT ?""", [*params, TASK_ROWS]).to_pylist()
    people = {p["golden_id"]: p for p in read_golden(
        engine, "golden_id, name, mobile", "WHERE list_contains(?, golden_id)", [[r["golden_id"] for r in rows]]
    ).to_pylist()} if rows else {}
    view = View(principal)
    for r in rows:
        person = people.get(r["golden_id"], {})
        r.update(name=view("name", person.get("name")), mobile=view("mobile", person.get("mobile")),
                 sla=sla(r["due_at"], r["status"], now))
    return rows, view


def task_in_scope(engine: Engine, principal: Principal, task_id: str) -> bool:
    where, params = _clinic_clause(principal, None)
    return bool(engine.scalar(f"SELECT count(*) FROM ops.task t LEFT JOIN identity.patient p USING (golden_id) "
                              f"WHERE t.task_id = ? {where}", [task_id, *params]))


def outbox_status(engine: Engine, principal: Principal) -> dict[str, Any]:
    """Messages per channel and status, and the latest failures (of the principal's clinics),
    their errors at the role's free-text level like ``molar outbox list``."""
    where, params = _clinic_clause(principal, None)
    source = f"ops.outbox o LEFT JOIN identity.patient p USING (golden_id) WHERE true {where}"
    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in engine.rows(f"SELECT o.channel, o.status, count(*) FROM {source} GROUP BY ALL", params):
        counts.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = n
    failures = engine.arrow(f"""
        SELECT o.message_id, o.rule_key, o.golden_id, o.channel, o.template, o.attempts, o.last_error, o.updated_at
        FROM {source} AND o.status = 'failed' ORDER BY o.updated_at DESC, o.message_id LIMIT ?""",
                            [*params, FAILURES]).to_pylist()
    view = View(principal)
    for m in failures:
        m["last_error"] = view("free_text", m["last_error"])
    return {"counts": dict(sorted(counts.items())), "failures": failures}


def _reveal(engine: Engine, viewer: Viewer) -> FieldCipher | None:
    """Opens quarantined personal values for a role that may read them in clear."""
    return FieldCipher(keys.open_keyring_from(None, engine)) if viewer.may("quarantine", "values") else None


def _back(form: dict[str, str]) -> str:
    back = form.get("back", "")
    return back if back.startswith(PREFIX + "/queues") and "//" not in back else PREFIX + "/queues"


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/queues")
    def queue(request: Request, viewer: TaskReader, clinic: str = "", kind: str = "", role: str = "",
              status: str = "open") -> Response:
        principal = viewer.principal
        if clinic and principal.clinics is not None and clinic not in principal.clinics:
            raise PageDenied(viewer)
        runtime = request.app.state.realtime
        engine = runtime.read_engine()
        f = TaskFilters(clinic[:20], kind[:40], role[:40], status if status in TASK_STATUSES else "open")
        now = runtime.clock()
        rows, view = tasks(engine, principal, f, now)
        audit_read(request, action="task.read", patient=None, fields=view.shown,
                   detail={"masked": sorted(view.masked), "via": "console work queue",
                           "filters": {"clinic": f.clinic, "kind": f.kind, "role": f.role, "status": f.status},
                           "patients": sorted({r["golden_id"] for r in rows})})
        names = dict(kpis.clinics(engine))
        clinics = [(c, n) for c, n in names.items() if principal.clinics is None or c in principal.clinics]
        kinds, roles = ([k for (k,) in engine.rows(f"SELECT DISTINCT {c} FROM ops.task WHERE {c} IS NOT NULL ORDER BY 1")]
                        for c in ("kind", "role"))
        return render(request, viewer, "queues.html", rows=rows, f=f, clinics=clinics, kinds=kinds, roles=roles,
                      statuses=TASK_STATUSES, outcomes=OUTCOMES, may_change=viewer.may("task", "change"),
                      back=f"{PREFIX}/queues?{f.query()}", names=names)

    def _change(request: Request, viewer: Viewer, task_id: str, form: dict[str, str],
                work: Callable[[Engine], Any], detail: dict[str, Any]) -> Response:
        runtime = request.app.state.realtime
        loc = viewer.locale
        engine = runtime.read_engine()
        before = engine.rows("SELECT status, assigned_to, outcome, golden_id FROM ops.task WHERE task_id = ?",
                             [task_id[:40]])
        if not before or not task_in_scope(engine, viewer.principal, task_id):
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("queues.no_task"))
        try:
            runtime.pipeline.call(work).result(timeout=30)
        except TaskError:
            return render(request, viewer, "error.html", 409, title=loc.t("queues.cannot_title"),
                          message=loc.t("queues.already_done"))
        status, assigned, outcome, golden = before[0]
        audit_read(request, action="task.change", patient=golden, detail={
            "task": task_id, "via": "console work queue",
            "before": {"status": status, "assigned_to": assigned, "outcome": outcome}, **detail})
        return RedirectResponse(_back(form), status_code=303)

    @router.post("/queues/{task_id}/assign")
    async def assign(request: Request, task_id: str, viewer: TaskChanger) -> Response:
        form = await checked_form(request, viewer)
        me, now = viewer.principal.name, request.app.state.realtime.clock()
        return _change(request, viewer, task_id, form, lambda e: assign_task(e, task_id, to=me, now=now),
                       {"after": {"assigned_to": me}})

    @router.post("/queues/{task_id}/complete")
    async def complete(request: Request, task_id: str, viewer: TaskChanger) -> Response:
        form = await checked_form(request, viewer)
        outcome, note = form.get("outcome", ""), form.get("note", "").strip()[:500] or None
        if outcome not in OUTCOMES:
            loc = viewer.locale
            return render(request, viewer, "error.html", 400, title=loc.t("queues.cannot_title"),
                          message=loc.t("queues.pick_outcome"))
        me, now = viewer.principal.name, request.app.state.realtime.clock()
        return _change(request, viewer, task_id, form,
                       lambda e: resolve_task(e, task_id, now=now, by=me, note=note, outcome=outcome),
                       {"after": {"status": "done", "outcome": outcome}, "note": note is not None})

    @router.get("/quarantine")
    def quarantine_page(request: Request, viewer: QuarantineReader, file: str = "", reason: str = "") -> Response:
        engine = request.app.state.realtime.read_engine()
        lang = "zh" if viewer.locale.lang == "zh-CN" else "en"
        reveal = _reveal(engine, viewer)
        rows = quarantine.details(engine, file=file[:200] or None, code=reason[:60] or None, limit=QUARANTINE_ROWS,
                                  lang=lang, reveal=reveal)
        clear = [r for r in rows if r[5] and r[3] is not None] if reveal else []
        if clear:
            audit_read(request, action="quarantine.values", patient=None, fields=sorted({r[2] or "line" for r in clear}),
                       detail={"rows": len(clear), "file": file or None, "reason": reason or None})
        return render(request, viewer, "quarantine.html", summary=quarantine.summary(engine, lang),
                      files=quarantine.files(engine), rows=rows, file=file, reason=reason, clear=reveal is not None,
                      may_export=viewer.may("quarantine", "export"))

    @router.get("/quarantine/download")
    def quarantine_download(request: Request, viewer: QuarantineExporter, load: str = "") -> Response:
        engine = request.app.state.realtime.read_engine()
        group = next((g for g in quarantine.files(engine) if g.load_id == load[:80]), None)
        if group is None:
            loc = viewer.locale
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("quarantine.no_file"))
        reveal = _reveal(engine, viewer)
        out = io.StringIO()
        out.write("\ufeff")   # opens in Excel as UTF-8
        rows, personal = quarantine.write_csv(engine, group, csv.writer(out), reveal)
        audit_read(request, action="quarantine.export", patient=None, fields=personal if reveal else [],
                   detail={"load": group.load_id, "source": group.source, "file": Path(group.file_path).name,
                           "rows": rows, "clear": reveal is not None})
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{group.stem}.quarantine.csv"'})

    @router.get("/outbox")
    def outbox_page(request: Request, viewer: OutboxReader) -> Response:
        engine = request.app.state.realtime.read_engine()
        return render(request, viewer, "outbox.html", statuses=STATUSES,
                      **outbox_status(engine, viewer.principal))

    return router
