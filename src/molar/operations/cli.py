"""`molar ops forecast|evaluate|staffing`: appointment demand and the staff it needs."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console
from molar.ui.options import JsonOpt, WarehouseOpt, fail, failing_on, print_json, warehouse_engine

ops_app = typer.Typer(help="Clinic operations: appointment demand forecast and staffing.", no_args_is_help=True)
WeeksOpt = Annotated[int, typer.Option("--weeks", help="Weeks to forecast (and to hold out when evaluating).",
                                       min=1, max=13)]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _caller(engine, action: str):
    from molar.privacy.cli import cli_principal

    return cli_principal(engine, "operations", action, bootstrap=True)


def _metrics_table(metrics: dict, measure: str) -> Table:
    m = metrics[measure]
    table = Table(title=f"Held-out {measure}: last {m['weeks_held_out']} weeks, chain-wide weekly totals per department")
    for col in ("department", "actual", "forecast", "MAPE %", "naive MAPE %", "sMAPE %", "naive sMAPE %", "MASE",
                "naive MASE"):
        table.add_column(col, justify="left" if col == "department" else "right", no_wrap=col == "department")
    for dept, d in m["departments"].items():
        model, naive = d["model"], d["seasonal_naive"]
        table.add_row(dept, f"{d['actual']:,.0f}", f"{d['expected']:,.0f}", _num(model["mape"]), _num(naive["mape"]),
                      _num(model["smape"]), _num(naive["smape"]), _num(model["mase"]), _num(naive["mase"]))
    return table


def _num(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def _print_metrics(metrics: dict) -> None:
    for measure in ("appointments", "arrivals"):
        console.print(_metrics_table(metrics, measure))
        m = metrics[measure]
        cov = m["coverage"]
        console.print(f"{measure}: MAPE {m['mape']} % vs seasonal-naive {m['seasonal_naive_mape']} %; 80 % interval "
                      f"coverage {cov['clinic_department']:.0%} (clinic × department weeks), {cov['department']:.0%} "
                      f"(department weeks), {cov['slot']:.0%} (slots)")


@ops_app.command("evaluate")
def ops_evaluate(warehouse: WarehouseOpt = None, weeks: WeeksOpt = 8, as_json: JsonOpt = False) -> None:
    """Train on earlier weeks, forecast the last weeks held out, compare with seasonal-naive."""
    from molar.operations.evaluate import evaluate
    from molar.operations.model import ForecastConfig
    from molar.operations.series import ForecastDataError, load_series

    with warehouse_engine(warehouse) as engine:
        _caller(engine, "forecast")
        with failing_on(ForecastDataError):
            result = evaluate(load_series(engine), ForecastConfig(weeks=weeks))
    if as_json:
        print_json(result)
        return
    _print_metrics(result["measures"])


@ops_app.command("forecast")
def ops_forecast(warehouse: WarehouseOpt = None, weeks: WeeksOpt = 8, as_json: JsonOpt = False) -> None:
    """Forecast appointments and arrivals per clinic × department × weekday × hour for the next weeks,
    with 80 % intervals; stores the run (ops.demand_forecast) and prints its held-out evaluation."""
    from molar.operations.forecast import run_forecast
    from molar.operations.model import ForecastConfig
    from molar.operations.series import ForecastDataError

    with warehouse_engine(warehouse) as engine:
        principal = _caller(engine, "forecast")
        with failing_on(ForecastDataError):
            result = run_forecast(engine, ForecastConfig(weeks=weeks))
        totals = engine.rows(
            """SELECT clinic_id, department, sum(expected),
                      sum(expected) FILTER (WHERE week_start = ?), sum(low) FILTER (WHERE week_start = ?),
                      sum(high) FILTER (WHERE week_start = ?)
               FROM ops.demand_forecast
               WHERE forecast_id = ? AND level = 'clinic_department' AND measure = 'appointments'
               GROUP BY ALL ORDER BY ALL""", [result["first_week"]] * 3 + [result["forecast_id"]])
    if principal.clinics is not None:
        totals = [t for t in totals if t[0] in principal.clinics]
    if as_json:
        print_json({**result, "clinic_department_totals": [
            {"clinic_id": c, "department": d, "appointments": round(e, 1), "first_week": round(e1, 1),
             "first_week_low": lo, "first_week_high": hi} for c, d, e, e1, lo, hi in totals]})
        return
    if result["evaluated"]:
        _print_metrics(result["metrics"])
    else:
        console.print("[yellow]not evaluated:[/] less than a year and two horizons of history / 历史不足，未做留出评估")
    table = Table(title=f"Appointments expected from {result['first_week']}")
    for col in ("clinic", "department", f"{weeks} weeks", "first week", "first week 80 % interval"):
        table.add_column(col, justify="left" if col in ("clinic", "department") else "right")
    for c, d, e, e1, lo, hi in totals:
        table.add_row(c, d, f"{e:,.1f}", f"{e1:,.1f}", f"{lo:,.0f}–{hi:,.0f}")
    console.print(table)
    if result["calendar_unknown_years"]:
        console.print(f"[yellow]warning:[/] chinese-calendar has no official holidays for "
                      f"{result['calendar_unknown_years']}: weekends only; upgrade the package / 缺少该年份节假日安排")
    console.print(f"[bold green]forecast[/] {result['forecast_id']}: {result['slots']:,} slots × {weeks} weeks "
                  "stored in ops.demand_forecast")


@ops_app.command("staffing")
def ops_staffing(
    warehouse: WarehouseOpt = None,
    week: Annotated[str | None, typer.Option("--week", help="Monday of a forecast week (default: the first).")] = None,
    target_wait: Annotated[float, typer.Option("--target-wait", help="Mean wait to stay under, minutes.", min=0)] = 10.0,
    plan_for: Annotated[str, typer.Option("--plan-for", help="expected | high (upper end of the 80 % interval).")] = "expected",
    as_json: JsonOpt = False,
) -> None:
    """Doctors and nurses per clinic and hour for a forecast week, and where to open longer."""
    from molar.operations.staffing import StaffingConfig, StaffingError, staffing

    if plan_for not in ("expected", "high"):
        raise fail(f"--plan-for {plan_for!r}: write expected or high")
    try:
        monday = date.fromisoformat(week) if week else None
    except ValueError:
        raise fail(f"--week {week!r} is not a date; write it as YYYY-MM-DD") from None
    with warehouse_engine(warehouse) as engine:
        principal = _caller(engine, "staffing")
        with failing_on(StaffingError):
            result = staffing(engine, monday, StaffingConfig(target_wait_minutes=target_wait, plan_for=plan_for),
                              principal.clinics)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Staff per hour, week of {result['week']} (mean wait ≤ {target_wait:g} min, plan for {plan_for})")
    for col in ("clinic", "day", "hour", "doctors", "nurses", "chairs used", "short of doctors"):
        table.add_column(col, justify="left" if col in ("clinic", "day") else "right")
    for r in sorted(result["per_hour"], key=lambda r: (r["clinic_id"], r["weekday"], r["hour"])):
        table.add_row(r["clinic_id"], WEEKDAYS[r["weekday"]], f"{r['hour']:02d}:00", str(r["doctors"]), str(r["nurses"]),
                      f"{r['chair_use']:.0%}", "yes" if r["doctors_short"] else "")
    console.print(table)
    sessions = Table(title="Quiet slots to book into sessions (hours per clinic, department and day)")
    for col in ("clinic", "department", "day", "visits", "session hours"):
        sessions.add_column(col, justify="right" if col in ("visits", "session hours") else "left")
    for r in result["sessions"]:
        sessions.add_row(r["clinic_id"], r["department"], WEEKDAYS[r["weekday"]], f"{r['visits']:.1f}",
                         f"{r['session_hours']:g}")
    console.print(sessions)
    for e in result["extend"]:
        console.print(f"{e['clinic_id']} {WEEKDAYS[e['weekday']]}: {e['suggest']} ({e['edge_hour']:02d}:00 uses "
                      f"{e['chair_use']:.0%} of the chairs{', short of doctors' if e['doctors_short'] else ''})")
    if not result["extend"]:
        console.print("no clinic needs longer opening hours this week / 本周无需延长营业时间")


def register(app: typer.Typer) -> None:
    app.add_typer(ops_app, name="ops")
