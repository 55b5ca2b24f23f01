"""Journeys: the rule catalogue with its state, enable/disable, one journey's steps as a
diagram (server-rendered SVG), holdout counts, and a patient's ``why`` in words.

The catalogue is the server's (``rules_dir`` of molar.toml, else the shipped rules); the
enable/disable override runs on the server's single writer, like ``/v1/rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from molar.automation.admin import list_rules, set_rule_enabled
from molar.automation.catalogue import Branch, Catalogue, Rule, Step, load_catalogue
from molar.automation.conditions import describe
from molar.automation.explain import why
from molar.realtime.app import audit_read
from molar.warehouse import Engine
from molar.web.patients import classify_query
from molar.web.render import render
from molar.web.session import PREFIX, Viewer, checked_form, page

RuleReader = Annotated[Viewer, Depends(page("rule", "read"))]
RuleChanger = Annotated[Viewer, Depends(page("rule", "change"))]
DecisionReader = Annotated[Viewer, Depends(page("decision", "read"))]
# Diagram geometry (px): a box per step, one row each, branches indented.
BOX_W, BOX_H, ROW, INDENT, MARGIN, LANE = 400, 30, 46, 40, 12, 12


def _fit(label: str, room: int = BOX_W - 16) -> str:
    """The label cut to the box at 12 px: a CJK character is about 12 px wide, others about 7."""
    used = 0
    for i, c in enumerate(label):
        used += 12 if ord(c) >= 0x2E80 else 7
        if used > room:
            return label[:max(i - 1, 0)] + "…"
    return label


@cache
def _catalogue(rules_dir: Path | None) -> Catalogue:
    return load_catalogue(rules_dir)


def catalogue_of(request: Request) -> Catalogue:
    rules_dir = request.app.state.realtime.settings.rules_dir
    return _catalogue(Path(rules_dir) if rules_dir else None)


def journey_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Journeys per rule: started, held out (the control group), active, completed."""
    return {key: {"started": n, "held_out": held, "active": active, "completed": done} for key, n, held, active, done
            in engine.rows("""
        SELECT rule_key, count(*), count(*) FILTER (status = 'held_out'),
               count(*) FILTER (status IN ('running', 'waiting')), count(*) FILTER (status = 'completed')
        FROM ops.journey GROUP BY 1""")}


def _order(path: str) -> tuple[int, ...]:
    """Steps in the order they are written: 3, 3.then.0, 3.then.1, 3.else.0, 4."""
    return tuple(int(p) if p.isdigit() else {"then": 0, "else": 1}[p] for p in path.split("."))


def step_label(step: Step, lang: str, t: Any) -> str:
    if step.kind == "wait":
        return step.describe(lang)
    if step.kind == "send":
        return t("journeys.step.send", template=step.template, channel=t(f"journeys.channel.{step.channel}"))
    if step.kind == "task":
        return t("journeys.step.task", title=(step.title_zh if lang == "zh" else step.title_en) or step.task_kind)
    if step.kind == "set_tag":
        return t("journeys.step.set_tag", tag=step.tag, value=step.value)
    if step.kind == "coupon":
        return t("journeys.step.coupon", kind=step.coupon_kind)
    if isinstance(step, Branch):
        return t("journeys.step.branch", condition=describe(step.condition, lang))
    return step.kind


@dataclass(frozen=True)
class Diagram:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    width: int
    height: int
    box_width: int = BOX_W
    box_height: int = BOX_H


def diagram(rule: Rule, lang: str, t: Any) -> Diagram:
    """Boxes for the trigger and every step, top to bottom in written order; an arrow to the
    next box goes straight down, a jump (past a branch, back from it) round the right side."""
    paths = sorted(rule.steps, key=_order)
    nodes = [{"id": "trigger", "kind": "trigger", "depth": 0,
              "label": t("journeys.step.trigger", trigger=rule.trigger.describe(lang))}]
    nodes += [{"id": p, "kind": rule.steps[p].kind, "depth": p.count(".") // 2,
               "label": step_label(rule.steps[p], lang, t)} for p in paths]
    row = {n["id"]: i for i, n in enumerate(nodes)}
    for i, n in enumerate(nodes):
        n.update(x=MARGIN + n["depth"] * INDENT, y=MARGIN + i * ROW, short=_fit(n["label"]))
    links: list[tuple[str, str | None, str]] = [("trigger", rule.first, "")]
    for p in paths:
        s = rule.steps[p]
        if isinstance(s, Branch):
            links += [(p, s.then_path, t("journeys.branch_yes")), (p, s.else_path, t("journeys.branch_no"))]
        else:
            links.append((p, s.next, ""))
    right = MARGIN + max(n["depth"] for n in nodes) * INDENT + BOX_W
    edges, lanes = [], 0
    for source, target, label in links:
        if target is None:
            continue
        a, b = nodes[row[source]], nodes[row[target]]
        if row[target] == row[source] + 1:
            x = max(a["x"], b["x"]) + 16
            points = [(x, a["y"] + BOX_H), (x, b["y"])]
        else:
            lanes += 1
            lane = right + lanes * LANE
            points = [(a["x"] + BOX_W, a["y"] + BOX_H // 2), (lane, a["y"] + BOX_H // 2),
                      (lane, b["y"] + BOX_H // 2), (b["x"] + BOX_W, b["y"] + BOX_H // 2)]
        edges.append({"points": " ".join(f"{x},{y}" for x, y in points), "label": label,
                      "label_x": points[0][0] + 4, "label_y": points[0][1] + (14 if len(points) == 2 else -4)})
    return Diagram(nodes, edges, right + lanes * LANE + 2 * MARGIN, MARGIN * 2 + len(nodes) * ROW)


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/journeys")
    def journeys(request: Request, viewer: RuleReader) -> Response:
        engine = request.app.state.realtime.read_engine()
        return render(request, viewer, "journeys.html", rules=list_rules(engine, catalogue_of(request)),
                      counts=journey_counts(engine), may_change=viewer.may("rule", "change"))

    @router.get("/journeys/{key}")
    def journey(request: Request, key: str, viewer: RuleReader, patient: str = "") -> Response:
        catalogue = catalogue_of(request)
        loc = viewer.locale
        if key not in catalogue.rules:
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("journeys.no_rule"))
        engine = request.app.state.realtime.read_engine()
        lang = "zh" if loc.lang == "zh-CN" else "en"
        state = next(r for r in list_rules(engine, catalogue) if r["key"] == key)
        return render(request, viewer, "journey.html", rule=state, diagram=diagram(catalogue.get(key), lang, loc.t),
                      counts=journey_counts(engine).get(key, {}), may_change=viewer.may("rule", "change"),
                      may_why=viewer.may("decision", "read"), patient=patient[:64])

    async def _toggle(request: Request, key: str, viewer: Viewer, enabled: bool) -> Response:
        await checked_form(request, viewer)
        catalogue = catalogue_of(request)
        loc = viewer.locale
        if key not in catalogue.rules:
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("journeys.no_rule"))
        runtime = request.app.state.realtime
        before = next(r for r in list_rules(runtime.read_engine(), catalogue) if r["key"] == key)["enabled"]
        me, now = viewer.principal.name, runtime.clock()
        runtime.pipeline.call(lambda e: set_rule_enabled(e, catalogue, key, enabled, now=now, by=me)).result(30)
        audit_read(request, action="rule.change", patient=None,
                   detail={"rule": key, "via": "console", "before": {"enabled": before}, "after": {"enabled": enabled}})
        return RedirectResponse(f"{PREFIX}/journeys/{key}", status_code=303)

    @router.post("/journeys/{key}/enable")
    async def enable(request: Request, key: str, viewer: RuleChanger) -> Response:
        return await _toggle(request, key, viewer, True)

    @router.post("/journeys/{key}/disable")
    async def disable(request: Request, key: str, viewer: RuleChanger) -> Response:
        return await _toggle(request, key, viewer, False)

    @router.get("/journeys/{key}/why")
    def explain(request: Request, key: str, viewer: DecisionReader, patient: str = "") -> Response:
        catalogue = catalogue_of(request)
        loc = viewer.locale
        query = classify_query(patient[:64])
        golden = query[1] if query and query[0] == "golden_id" else ""
        if key not in catalogue.rules or not golden:
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("journeys.no_patient"))
        runtime = request.app.state.realtime
        engine = runtime.read_engine()
        home = engine.rows("SELECT home_clinic_id FROM identity.patient WHERE golden_id = ?", [golden])
        clinics = viewer.principal.clinics
        if not home or (clinics is not None and home[0][0] not in clinics):
            return render(request, viewer, "error.html", 404, title=loc.t("error.not_found_title"),
                          message=loc.t("journeys.no_patient"))
        sentences = why(engine, golden, key, catalogue, now=runtime.clock())
        audit_read(request, action="decision.read", patient=golden, detail={"rule": key, "via": "console"})
        lang = "zh" if loc.lang == "zh-CN" else "en"
        return render(request, viewer, "why.html", rule=key, name=catalogue.get(key), golden=golden,
                      sentences=[s.text(lang) for s in sentences])

    return router
