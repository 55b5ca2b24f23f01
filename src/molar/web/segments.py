"""Segments in the console: the catalogue with live sizes, one segment (definition in words,
size, masked preview, size history, export) and the builder, which sizes and previews a
condition without saving and saves it as a new version for roles that may change segments.

Every preview and export goes through ``molar.segments.people`` (masked by role, a
clinic-bound user's clinics only) and leaves an audit row; saving runs on the server's
single writer (``runtime.pipeline.call``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from molar.realtime.app import audit_read
from molar.segments import facts
from molar.segments.catalogue import (
    CatalogueError,
    Segment,
    load_catalogue,
    parse_segment,
    save_version,
)
from molar.segments.members import members, members_of, size_history
from molar.segments.people import people, visible, write_csv
from molar.web.render import render
from molar.web.session import PREFIX, Viewer, checked_form, page

SegmentReader = Annotated[Viewer, Depends(page("segment", "read"))]
SegmentExporter = Annotated[Viewer, Depends(page("segment", "export"))]
SegmentChanger = Annotated[Viewer, Depends(page("segment", "change"))]
PREVIEW_ROWS = 20
BUILDER_ROWS = 3          # condition lines on the builder form (all must hold)
OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "exists", "contains")


def _lang(viewer: Viewer) -> str:
    return "zh" if viewer.locale.lang == "zh-CN" else "en"


def _value(op: str, text: str) -> Any:
    """A value typed in the builder: a list for in / not_in (comma-separated), yes/no for
    exists, a number when it reads as one, else the text."""
    text = text.strip()
    if op in ("in", "not_in"):
        return [_value("==", part) for part in text.replace("，", ",").split(",") if part.strip()]
    if op == "exists":
        return text.lower() not in ("false", "no", "0", "否")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


@dataclass(frozen=True)
class Draft:
    """What the builder form holds: up to BUILDER_ROWS (field, op, value) lines and names."""

    lines: list[tuple[str, str, str]]
    key: str = ""
    name_zh: str = ""
    name_en: str = ""

    @classmethod
    def of(cls, data: Any) -> Draft:
        lines = [(str(data.get(f"field{i}", ""))[:80], str(data.get(f"op{i}", "=="))[:8], str(data.get(f"value{i}", ""))[:200])
                 for i in range(BUILDER_ROWS)]
        return cls(lines, str(data.get("key", ""))[:40].strip(), str(data.get("name_zh", ""))[:60].strip(),
                   str(data.get("name_en", ""))[:60].strip())

    def condition(self) -> list[dict[str, Any]]:
        return [{"fact": f, "op": op, **({"value": _value(op, v)} if v.strip() or op == "exists" else {})}
                for f, op, v in self.lines if f]

    def definition(self) -> dict[str, Any]:
        name = {"zh": self.name_zh or self.key or "草稿", "en": self.name_en or self.key or "draft"}
        return {"name": name, "description": name, "condition": self.condition()}

    def segment(self) -> Segment:
        return parse_segment("the segment builder", {**self.definition(), "key": self.key or "draft", "version": 1})


def _preview(request: Request, viewer: Viewer, segment: Segment, via: str) -> dict[str, Any]:
    """Size, size in the viewer's clinics and the first members masked by role (audited)."""
    runtime = request.app.state.realtime
    engine = runtime.read_engine()
    everyone = members(engine, segment, runtime.clock().date())
    mine = visible(engine, viewer.principal, everyone)
    rows, view = people(engine, viewer.principal, mine[:PREVIEW_ROWS])
    audit_read(request, action="segment.read", patient=None, fields=sorted(view.shown),
               detail={"segment": segment.key, "version": segment.version, "via": via, "size": len(everyone),
                       "masked": sorted(view.masked), "patients": [r["golden_id"] for r in rows]})
    return {"size": len(everyone), "mine": len(mine), "rows": rows, "clinic_bound": viewer.principal.clinics is not None}


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def _catalogue(request: Request) -> dict[str, Segment]:
        return load_catalogue(request.app.state.realtime.read_engine())

    def _missing(request: Request, viewer: Viewer) -> Response:
        loc = viewer.locale
        return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                      message=loc.t("segments.no_segment"))

    @router.get("/segments")
    def catalogue_page(request: Request, viewer: SegmentReader) -> Response:
        runtime = request.app.state.realtime
        engine, today = runtime.read_engine(), runtime.clock().date()
        lang = _lang(viewer)
        catalogue = list(_catalogue(request).values())
        sizes = members_of(engine, catalogue, today)
        rows = [{"key": s.key, "version": s.version, "name": s.name(lang), "description": s.description(lang),
                 "words": s.in_words(lang), "size": len(sizes[s.key])} for s in catalogue]
        return render(request, viewer, "segments.html", segments=rows, may_change=viewer.may("segment", "change"))

    @router.get("/segments/builder")
    def builder(request: Request, viewer: SegmentReader) -> Response:
        draft = Draft.of(request.query_params)
        return _builder(request, viewer, draft, None)

    def _builder(request: Request, viewer: Viewer, draft: Draft, error: str | None, status: int = 200) -> Response:
        lang = _lang(viewer)
        found, words = None, ""
        if error is None and draft.condition():
            try:
                segment = draft.segment()
            except CatalogueError as exc:
                error = viewer.locale.t("segments.bad_condition", error=str(exc).removeprefix("the segment builder: "))
                status = 400
            else:
                words = segment.in_words(lang)
                found = _preview(request, viewer, segment, "console segment builder")
        return render(request, viewer, "segment_builder.html", status, draft=draft, ops=OPS, found=found, words=words,
                      error=error, fields=[(f.path, f.name(lang), ", ".join(f.choices)) for f in facts.fields()],
                      may_change=viewer.may("segment", "change"))

    @router.post("/segments/builder")
    async def save(request: Request, viewer: SegmentChanger) -> Response:
        draft = Draft.of(await checked_form(request, viewer))
        loc = viewer.locale
        if not draft.key or not draft.condition():
            return _builder(request, viewer, draft, loc.t("segments.need_key"), 400)
        runtime = request.app.state.realtime
        catalogue = _catalogue(request)
        before = catalogue.get(draft.key)
        me, now = viewer.principal.name, runtime.clock()
        try:
            saved = runtime.pipeline.call(
                lambda e: save_version(e, catalogue, draft.key, draft.definition(), me, now)).result(timeout=30)
        except CatalogueError as exc:
            error = loc.t("segments.bad_condition", error=str(exc).removeprefix("the segment builder: "))
            return _builder(request, viewer, draft, error, 400)
        audit_read(request, action="segment.change", patient=None, detail={
            "segment": saved.key, "via": "console segment builder", "version": saved.version,
            "before": before.definition if before else None, "after": saved.definition})
        return RedirectResponse(f"{PREFIX}/segments/{saved.key}", status_code=303)

    @router.get("/segments/{key}")
    def segment_page(request: Request, key: str, viewer: SegmentReader) -> Response:
        segment = _catalogue(request).get(key[:40])
        if segment is None:
            return _missing(request, viewer)
        lang = _lang(viewer)
        engine = request.app.state.realtime.read_engine()
        edit = {"key": segment.key, "name_zh": segment.name_zh, "name_en": segment.name_en}
        for i, check in enumerate(segment.definition["condition"][:BUILDER_ROWS]
                                  if isinstance(segment.definition["condition"], list) else []):
            if isinstance(check, dict) and "fact" in check:
                value = check.get("value", "")
                edit.update({f"field{i}": check["fact"], f"op{i}": check["op"],
                             f"value{i}": ", ".join(map(str, value)) if isinstance(value, list) else str(value)})
        return render(request, viewer, "segment.html", s=segment, name=segment.name(lang),
                      description=segment.description(lang), words=segment.in_words(lang),
                      found=_preview(request, viewer, segment, "console segment page"),
                      history=size_history(engine, segment.key), may_export=viewer.may("segment", "export"),
                      may_change=viewer.may("segment", "change"),
                      edit_url=f"{PREFIX}/segments/builder?" + urlencode(edit))

    @router.get("/segments/{key}/export")
    def export(request: Request, key: str, viewer: SegmentExporter) -> Response:
        segment = _catalogue(request).get(key[:40])
        if segment is None:
            return _missing(request, viewer)
        runtime = request.app.state.realtime
        engine = runtime.read_engine()
        rows, view = people(engine, viewer.principal,
                            visible(engine, viewer.principal, members(engine, segment, runtime.clock().date())))
        out = io.StringIO()
        out.write("\ufeff")   # opens in Excel as UTF-8
        written = write_csv(out, rows)
        audit_read(request, action="segment.export", patient=None, fields=sorted(view.shown),
                   detail={"segment": segment.key, "version": segment.version, "rows": written, "via": "console",
                           "masked": sorted(view.masked)})
        name = f"segment-{segment.key}-v{segment.version}-{runtime.clock():%Y%m%d}.csv"
        return Response(out.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return router
