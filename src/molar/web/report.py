"""The monthly report drawn: the page context, the sentences in words, and the standalone
HTML (styles, ECharts and the chart script inlined, so the file opens anywhere offline
and chromium can print it). The console's report page uses the same context."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from molar.reports.monthly import Report, change
from molar.reports.targets import met
from molar.web.i18n import Locale
from molar.web.render import ENV, HERE, chart_data

STATIC = HERE / "static"
TOP_MOVES = 10


def context(report: Report, loc: Locale, clinic_names: dict[str, str], made: date) -> dict[str, Any]:
    """Everything ``_report_body.html`` shows, already formatted for ``loc``."""
    o = report.current
    rows = []
    for row in report.kpi_rows():
        fmt = {"number": loc.number, "money": loc.money, "rate": loc.percent}[row["kind"]]
        rows.append({"key": row["key"], "label": loc.t(f"dashboard.{row['key']}"),
                     "now": fmt(row["now"]), "previous": fmt(row["previous"]), "last_year": fmt(row["last_year"]),
                     "mom": loc.change(change(row["now"], row["previous"], row["kind"]), row["kind"]),
                     "yoy": loc.change(change(row["now"], row["last_year"], row["kind"]), row["kind"]),
                     "target": fmt(row["target"]) if row["target"] is not None else "–",
                     "met": met(row["key"], row["now"], row["target"])})
    clinic = report.clinic_name or loc.t("report.whole_chain")
    return {
        "r": report, "o": o, "kpi_rows": rows, "clinic_label": clinic,
        "title": f"{loc.t('report.title')} · {loc.month(report.scope.month)} · {clinic}",
        "filters": loc.t("report.filters", month=loc.month(report.scope.month), clinic=clinic, made=loc.date(made)),
        "words": words(report, loc, clinic_names, {r["key"]: r for r in rows}),
        "tier_moves": _moves(loc, report.moves.tiers, "tier"),
        "stage_moves": _moves(loc, report.moves.stages, "stage"),
        "charts": chart_data(loc, o, clinic_names, report.last_year),
    }


def _moves(loc: Locale, moves: dict[tuple[str, str], int], kind: str) -> list[tuple[str, str, str]]:
    return [(loc.t(f"{kind}.{a}"), loc.t(f"{kind}.{b}"), loc.number(n)) for (a, b), n in list(moves.items())[:TOP_MOVES]]


def _top(moves: dict[tuple[str, str], int], loc: Locale, kind: str) -> str:
    (a, b), _ = next(iter(moves.items()))
    return f"{loc.t(f'{kind}.{a}')} → {loc.t(f'{kind}.{b}')}"


def words(report: Report, loc: Locale, clinic_names: dict[str, str], rows: dict[str, dict]) -> dict[str, str]:
    """One sentence per section, from the figures of that section."""
    o, m, t = report.current, report.moves, loc.t
    out = {"kpis": t("report.text_kpis", visits=rows["visits"]["now"], visits_mom=rows["visits"]["mom"],
                     visits_yoy=rows["visits"]["yoy"], revenue=rows["revenue"]["now"],
                     revenue_mom=rows["revenue"]["mom"], revenue_yoy=rows["revenue"]["yoy"],
                     new=rows["new_patients"]["now"], new_mom=rows["new_patients"]["mom"],
                     new_yoy=rows["new_patients"]["yoy"], no_show=rows["no_show_rate"]["now"],
                     no_show_mom=rows["no_show_rate"]["mom"])}
    judged = [r for r in rows.values() if r["met"] is not None]
    if judged:
        missed = ", ".join(r["label"] for r in judged if not r["met"]) or "–"
        out["kpis"] += t("report.text_targets", met=loc.number(sum(r["met"] for r in judged)),
                         set=loc.number(len(judged)), missed=missed)
    if o.visits and o.by_department:
        cells: Counter[tuple[int, int]] = Counter()
        for dept_cells in o.heatmap.values():
            for weekday, hour, n in dept_cells:
                cells[(weekday, hour)] += n
        department, department_visits = next(iter(o.by_department.items()))
        busiest = max(o.by_clinic, key=lambda c: o.by_clinic[c])
        channel = next((c for c in o.acquisition if c != "none"), next(iter(o.acquisition), "none"))
        out["charts"] = t("report.text_charts", department=t(f"department.{department}"),
                          department_visits=loc.number(department_visits),
                          clinic=clinic_names.get(busiest, busiest), channel=t(f"channel.{channel}"))
        if cells:   # a chain may load visits without any booking system
            (weekday, hour), _ = cells.most_common(1)[0]
            out["charts"] += t("report.text_peak", weekday=t("weekday")[weekday], hour=hour)
    else:
        out["charts"] = t("report.text_charts_empty")
    if m.tiers or m.stages:
        out["moves"] = t("report.text_moves", tier_moves=loc.number(sum(m.tiers.values())),
                         tier_top=_top(m.tiers, loc, "tier") if m.tiers else "–",
                         stage_moves=loc.number(sum(m.stages.values())),
                         stage_top=_top(m.stages, loc, "stage") if m.stages else "–")
    else:
        out["moves"] = t("report.text_no_moves")
    if m.risk_as_of is not None:
        out["risk"] = t("report.text_risk", as_of=loc.date(m.risk_as_of), high=loc.number(m.risk_bands.get("high", 0)),
                        key_customers=loc.number(m.key_customers or 0))
    else:
        out["risk"] = t("report.text_no_risk")
    out["complaints"] = t("report.text_complaints", now=loc.number(o.complaints),
                          previous=loc.number(report.previous.complaints),
                          last_year=loc.number(report.last_year.complaints))
    return out


def header(report: Report, loc: Locale) -> str:
    """The line printed at the top of every PDF page: what the report is and its filters."""
    return (f"{loc.t('report.title')} · {loc.month(report.scope.month)} · "
            f"{report.clinic_name or loc.t('report.whole_chain')}")


def standalone(report: Report, loc: Locale, clinic_names: dict[str, str], made: date) -> str:
    """The report as one self-contained HTML file (no request leaves the page)."""
    return ENV.get_template("report_print.html").render(
        t=loc.t, loc=loc, lang=loc.lang, **context(report, loc, clinic_names, made),
        css=(STATIC / "console.css").read_text(encoding="utf-8"),
        scripts=[(STATIC / name).read_text(encoding="utf-8") for name in ("echarts.min.js", "console.js")])
