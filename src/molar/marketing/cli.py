"""`molar marketing funnel|attribution|plans|next-treatment|uplift`: the lead funnel, channel attribution, plan
follow-ups, next-best-treatment rules and rule uplift from holdouts."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console
from molar.ui.options import (
    AsOfOpt,
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    settings_from,
)

marketing_app = typer.Typer(help="Marketing: lead funnel, CAC and channel attribution, plan follow-ups.",
                            no_args_is_help=True)
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only leads created on or after this date (YYYY-MM-DD).")]


def _caller(engine, action: str):
    from molar.privacy.cli import cli_principal

    return cli_principal(engine, "marketing", action, bootstrap=True)


def _since(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--since {text!r} is not a date; write it as YYYY-MM-DD / 日期格式应为 YYYY-MM-DD") from None


def _aggregate(warehouse, since: str | None, error: type[Exception], compute):
    """``compute(engine, start, clinics)`` for a caller with ``marketing.read``, limited to
    their clinics; ``error`` ends in one message."""
    start = _since(since)
    with open_engine(settings_from(warehouse)) as engine:
        principal = _caller(engine, "read")
        with failing_on(error):
            return compute(engine, start, principal.clinics)


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"


def _money(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


@marketing_app.command("funnel")
def marketing_funnel(
    by: Annotated[str, typer.Option("--by", help="channel | campaign | clinic | consultant")] = "channel",
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Leads → consult → booking → arrival per group: conversion, median days, spend, CAC, CVR, revenue."""
    from molar.marketing.funnel import FunnelError, funnel

    rows, total = _aggregate(warehouse, since, FunnelError, lambda engine, start, clinics: (
        funnel(engine, by, start, clinics), funnel(engine, "total", start, clinics)))
    if as_json:
        print_json({"by": by, "since": since, "groups": rows, "total": total[0] if total else None})
        return
    if not rows:
        console.print("no leads in the warehouse for this period: load the CRM exports (molar ingest) / 该时段没有线索")
        return
    table = Table(title=f"Lead funnel by {by}" + (f" since {since}" if since else ""))
    for col in (by, "leads", "consult", "booking", "arrived", "CVR", "days lead→arrival", "spend", "CAC", "revenue",
                "ROI"):
        table.add_column(col, justify="left" if col == by else "right")
    for r in [*rows, *[{**t, by: "total"} for t in total]]:
        table.add_row(str(r[by] or "(none)"), f"{r['leads']:,}", f"{r['consulted']:,} ({_pct(r['consult_rate'])})",
                      f"{r['booked']:,} ({_pct(r['booking_rate'])})", f"{r['arrived']:,} ({_pct(r['arrival_rate'])})",
                      _pct(r["cvr"]), "—" if r["median_days"]["lead_to_arrival"] is None
                      else f"{r['median_days']['lead_to_arrival']:.1f}", _money(r["spend"]), _money(r["cac"]),
                      _money(r["revenue"]), _pct(r["roi"]))
    console.print(table)


@marketing_app.command("attribution")
def marketing_attribution(
    model: Annotated[str, typer.Option("--model", help="first | last | markov (removal effect)")] = "markov",
    since: SinceOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Arrivals credited to channels by first touch, last touch or the Markov removal effect."""
    from molar.marketing.attribution import AttributionError, attribution

    result = _aggregate(warehouse, since, AttributionError,
                        lambda engine, start, clinics: attribution(engine, model, start, clinics))
    if as_json:
        print_json(result)
        return
    table = Table(title=f"{model} attribution: {result['conversions']:,} arrivals from {result['leads']:,} leads")
    cols = ["channel", "conversions", "share"] + (["removal effect"] if model == "markov" else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "channel" else "right")
    for r in result["channels"]:
        cells = [r["channel"], f"{r['conversions']:,.1f}", _pct(r["share"])]
        if model == "markov":
            cells.append(_pct(r["removal_effect"]))
        table.add_row(*cells)
    console.print(table)


@marketing_app.command("plans")
def marketing_plans(
    unaccepted: Annotated[bool, typer.Option("--unaccepted", help="Proposed plans not yet accepted.")] = False,
    unfinished: Annotated[bool, typer.Option("--unfinished", help="Accepted plans only partly done.")] = False,
    older_than: Annotated[str, typer.Option("--older-than", help="Proposed at least this long ago: 14d, 2w …")] = "14d",
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Treatment plans to follow up, oldest first (both kinds unless one is chosen)."""
    from molar.automation.durations import DurationError, parse_duration
    from molar.marketing.plans import follow_up
    from molar.privacy import audit
    from molar.privacy.masking import View

    with failing_on(DurationError):
        age = parse_duration(older_than)
    statuses = [s for s, on in (("proposed", unaccepted), ("partially_done", unfinished)) if on] or [
        "proposed", "partially_done"]
    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        principal = _caller(engine, "follow_up")
        rows = follow_up(engine, settings.today, age, statuses, principal.clinics)
        view = View(principal)
        for r in rows:
            r["source_patient_key"] = view("source_key", r["source_patient_key"])
        audit.record(engine, actor=principal.name, role=principal.role, action="marketing.follow_up",
                     resource="std.treatment_plan", purpose="molar marketing plans", fields=sorted(view.shown),
                     detail={"plans": len(rows), "statuses": statuses, "older_than": older_than})
    if as_json:
        print_json({"today": settings.today.isoformat(), "older_than": older_than, "statuses": statuses,
                    "plans": rows})
        return
    table = Table(title=f"{len(rows):,} plans to follow up (proposed ≥ {older_than} ago) / 待跟进治疗方案")
    for col in ("plan", "patient", "clinic", "consultant", "proposed", "items", "quoted", "status", "days", "expired"):
        table.add_column(col, justify="right" if col in ("quoted", "days") else "left")
    for r in rows:
        table.add_row(r["plan_id"], r["source_patient_key"] or "—", r["clinic_id"] or "—", r["consultant"] or "—",
                      r["proposed_on"].isoformat(), r["items"] or "—", _money(r["quoted_yuan"]), r["status"],
                      str(r["age_days"]), "yes" if r["expired"] else "")
    console.print(table)


@marketing_app.command("next-treatment")
def marketing_next_treatment(
    min_lift: Annotated[float, typer.Option("--min-lift", help="Only rules with at least this lift.")] = 1.0,
    min_patients: Annotated[int, typer.Option("--min-patients", help="Only rules seen in this many patients.")] = 20,
    patient: Annotated[str | None, typer.Option("--patient", help="A golden ID: the treatments to suggest next.")] = None,
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sequence rules "A, then B" between treatments (support, confidence, lift, lag), or a patient's next treatments."""
    from molar.marketing.nbt import NextTreatmentError, next_for_patient, sequence_rules
    from molar.privacy import audit

    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        _caller(engine, "read")
        with failing_on(NextTreatmentError):
            rules = sequence_rules(engine, settings.today, min_patients=min_patients, min_lift=min_lift)
        if patient is not None:
            principal = _caller(engine, "follow_up")
            suggestions = next_for_patient(engine, patient, settings.today, rules)
            audit.record(engine, actor=principal.name, role=principal.role, action="marketing.next_treatment",
                         resource="std.treatment", purpose="molar marketing next-treatment", fields=[],
                         detail={"suggestions": len(suggestions)}, patient=patient)
    if patient is not None:
        if as_json:
            print_json({"patient": patient, "as_of": settings.today.isoformat(), "next": suggestions})
        elif not suggestions:
            console.print(f"no rule suggests a next treatment for {patient} / 暂无推荐的下一步治疗")
        else:
            table = Table(title=f"Next treatments for {patient} / 下一步治疗建议")
            for col in ("item", "because of", "since", "confidence", "lift", "median days"):
                table.add_column(col, justify="right" if col in ("confidence", "lift", "median days") else "left")
            for r in suggestions:
                table.add_row(r["item"], r["because"], r["since"], _pct(r["confidence"]), f"{r['lift']:.2f}",
                              f"{r['median_lag_days']:.0f}")
            console.print(table)
        return
    if as_json:
        print_json({"as_of": settings.today.isoformat(), "rules": [r.as_dict() for r in rules]})
        return
    table = Table(title=f"{len(rules)} sequence rules (lift ≥ {min_lift}, ≥ {min_patients} patients) / 治疗序列规则")
    for col in ("first", "then", "patients", "support", "confidence", "lift", "median days"):
        table.add_column(col, justify="left" if col in ("first", "then") else "right")
    for r in rules:
        table.add_row(r.antecedent, r.consequent, f"{r.patients:,}", _pct(r.support), _pct(r.confidence),
                      f"{r.lift:.2f}", f"{r.median_lag_days:.0f}")
    console.print(table)


@marketing_app.command("uplift")
def marketing_uplift(
    rule: Annotated[str | None, typer.Option("--rule", help="One rule key (default: every rule with journeys).")] = None,
    window: Annotated[str, typer.Option("--window", help="Conversion window after the trigger: 30d, 2w …")] = "30d",
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each rule's effect: visit or booking within the window, treated − holdout, with a 95 % interval, per channel."""
    from molar.automation.durations import DurationError, parse_duration
    from molar.marketing.uplift import UpliftError, uplift

    with failing_on(DurationError):
        span = parse_duration(window)
    if span.total_seconds() % 86400:
        raise fail(f"--window {window}: write whole days, e.g. 30d or 2w / 转化窗口须为整天数")
    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        _caller(engine, "read")
        with failing_on(UpliftError):
            rows = uplift(engine, settings.today, span.days, rule)
    if as_json:
        print_json({"as_of": settings.today.isoformat(), "window_days": span.days, "rules": rows})
        return
    if not rows:
        console.print("no rule journeys whose window has ended: run the rules first (molar serve) / 暂无可评估的规则旅程")
        return
    table = Table(title=f"Rule uplift: visit or booking within {span.days} days, treated − holdout / 规则增益")
    for col in ("rule", "channel", "treated", "conv.", "holdout", "conv.", "effect", "95 % interval", "added"):
        table.add_column(col, justify="left" if col in ("rule", "channel") else "right")
    for r in rows:
        for c in [{**r, "channel": "all"}, *r["channels"]]:
            ci = c["ci95"]
            table.add_row(r["rule"], c["channel"], f"{c['treated']['journeys']:,}", _pct(c["treated"]["rate"]),
                          f"{c['holdout']['journeys']:,}", _pct(c["holdout"]["rate"]),
                          "—" if c["effect"] is None else f"{c['effect']:+.1%}",
                          "—" if ci is None else f"[{ci[0]:+.1%}, {ci[1]:+.1%}]",
                          "—" if c["incremental"] is None else f"{c['incremental']:+,.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(marketing_app, name="marketing")
