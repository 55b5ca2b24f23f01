"""`molar report monthly`: the monthly operations report as PDF or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molar.ui.console import console
from molar.ui.options import JsonOpt, WarehouseOpt, fail, failing_on, print_json, warehouse_engine

report_app = typer.Typer(help="Reports for the people who run the chain.", no_args_is_help=True)
targets_app = typer.Typer(help="Monthly KPI targets shown in the report.", no_args_is_help=True)
report_app.add_typer(targets_app, name="targets")


@report_app.command("monthly")
def monthly(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (e.g. 2026-10).")],
    out: Annotated[Path, typer.Option("--out", help="File to write: .pdf (printed by chromium) or .html.")],
    clinic: Annotated[str | None, typer.Option("--clinic", help="One clinic (default: the whole chain).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en.")] = "zh",
    warehouse: WarehouseOpt = None,
) -> None:
    """The monthly operations report: KPIs against the month before and a year before, charts,
    tier and stage movements, churn risk, complaints; aggregates only, no personal data."""
    from molar.privacy.audit import clinic_now
    from molar.privacy.cli import cli_access, cli_principal
    from molar.reports import kpis
    from molar.reports.files import FORMATS, LANGS, has_data, write_report
    from molar.reports.monthly import ReportError, build, parse_month
    from molar.reports.pdf import PrintError

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "report", "read", bootstrap=True)
        with failing_on(ReportError):
            period = parse_month(month)
        if lang not in LANGS:
            raise fail(f"--lang {lang!r}: write zh or en / 语言只能是 zh 或 en")
        if out.suffix.lower() not in FORMATS:
            raise fail(f"--out {out}: the file must end in .pdf or .html / 输出文件须以 .pdf 或 .html 结尾")
        if not out.parent.is_dir():
            raise fail(f"--out {out}: the folder {out.parent} does not exist; create it first / 输出目录不存在")
        if principal.clinics is not None and clinic not in principal.clinics:
            raise fail(f"{principal.name!r} may report only on the clinics {', '.join(sorted(principal.clinics))}: "
                       "pass one with --clinic / 只能查看所属诊所的报告")
        with failing_on(ReportError):
            report = build(engine, period, clinic)
        if not has_data(report):
            first, last = engine.rows("SELECT min(visit_date), max(visit_date) FROM std.visit")[0]
            span = f"its visits run from {first:%Y-%m} to {last:%Y-%m}" if first else "it holds no visits yet"
            raise fail(f"nothing to report for {period:%Y-%m} in this warehouse: {span} / 该月份没有数据")
        names = dict(kpis.clinics(engine))
        cli_access(engine, "report", "read", command="molar report monthly", principal=principal,
                   detail={"month": f"{period:%Y-%m}", "clinic": clinic, "format": out.suffix.lower()[1:]})
    with failing_on(PrintError):
        write_report(report, out, lang=lang, clinic_names=names, made=clinic_now().date())
    console.print(f"wrote {out}: {report.current.visits} visits, revenue ¥{report.current.revenue_yuan:,.0f} "
                  f"in {period:%Y-%m} / 已生成月度报告")


@targets_app.command("set")
def targets_set(
    kpi: Annotated[str, typer.Argument(help="active_patients, new_patients, visits, revenue, average_order, "
                                            "no_show_rate, complaints or recall_compliance.")],
    value: Annotated[str, typer.Argument(help="A count, yuan (1200000), or a rate (8% or 0.08).")],
    clinic: Annotated[str | None, typer.Option("--clinic", help="One clinic (default: the whole chain).")] = None,
    applies_from: Annotated[str | None, typer.Option(
        "--from", help="First month it holds for, YYYY-MM (default: this month); it holds until a later one.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Set a monthly target; the report shows it beside the figure and whether it was met."""
    from molar.privacy.audit import clinic_now
    from molar.privacy.cli import cli_access, cli_principal
    from molar.reports import kpis
    from molar.reports.monthly import ReportError, parse_month
    from molar.reports.targets import parse_value, set_target

    now = clinic_now()
    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "report", "target", bootstrap=True)
        with failing_on(ReportError):
            number = parse_value(kpi, value)
            month = parse_month(applies_from) if applies_from else now.date().replace(day=1)
        if clinic is not None and clinic not in dict(kpis.clinics(engine)):
            raise fail(f"--clinic {clinic!r} is not a clinic of this warehouse / 诊所编号不存在")
        if principal.clinics is not None and clinic not in principal.clinics:
            raise fail(f"{principal.name!r} may set targets only for the clinics {', '.join(sorted(principal.clinics))}: "
                       "pass one with --clinic / 只能设置所属诊所的目标")
        with engine.transaction():
            set_target(engine, kpi, number, clinic=clinic, applies_from=month, by=principal.name, now=now)
            cli_access(engine, "report", "target", command="molar report targets set", principal=principal,
                       detail={"kpi": kpi, "value": number, "clinic": clinic, "from": f"{month:%Y-%m}"})
    console.print(f"target {kpi} = {value} for {clinic or 'the chain'} from {month:%Y-%m} / 已设置目标")


@targets_app.command("list")
def targets_list(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """The targets set, per clinic (blank: the whole chain), KPI and first month."""
    from rich.table import Table

    from molar.privacy.cli import cli_principal
    from molar.reports.targets import list_targets

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "report", "read", bootstrap=True)
        rows = [{"kpi": t.kpi, "clinic": t.clinic_id, "from": f"{t.applies_from:%Y-%m}", "value": t.value,
                 "set_by": t.set_by, "set_at": t.set_at.isoformat(timespec="seconds")}
                for t in list_targets(engine, principal.clinics)]
    if as_json:
        print_json(rows)
        return
    table = Table(title="KPI targets / 月度目标")
    for column in ("clinic", "kpi", "from", "value", "set_by"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["clinic"] or "chain", r["kpi"], r["from"], f"{r['value']:g}", r["set_by"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
