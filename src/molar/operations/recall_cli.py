"""`molar recall list`: patients due for a recall visit at one clinic, for the front desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from molar.privacy.cli import clinic_caller, patient_contacts
from molar.ui.console import console
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    parse_day,
    print_json,
    warehouse_engine,
)

recall_app = typer.Typer(help="Recall: who is due for a cleaning, perio maintenance, ortho, implant or children's "
                              "check-up visit.", no_args_is_help=True)
ClinicOpt = Annotated[str, typer.Option("--clinic", help="Clinic ID, e.g. C01.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="The day to count from, YYYY-MM-DD (default: the last "
                                                           "day of the exports).")]
STATUS_WORDS = {"overdue": "overdue / 已逾期", "due": "due / 待复诊", "opted_out": "opted out / 已拒收",
                "booked": "booked / 已预约"}


@recall_app.command("list")
def recall_list(
    clinic: ClinicOpt,
    due_within: Annotated[str, typer.Option("--due-within", help="Due by the day + this, e.g. 30d or 2w.")] = "30d",
    as_of: AsOfOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Patients of the clinic whose recall falls due within the window (overdue ones first),
    with the reminders sent and what came of them; booked and opted-out patients are marked."""
    from molar.automation.durations import DurationError, parse_duration
    from molar.operations.recall import RecallError, recalls, summary
    from molar.operations.series import data_end

    with warehouse_engine(warehouse) as engine:
        principal = clinic_caller(engine, "recall", clinic)
        try:
            window = parse_duration(due_within)
        except DurationError as exc:
            raise fail(f"--due-within {due_within!r}: {exc}") from None
        day = parse_day(as_of, "--as-of") or data_end(engine)
        with failing_on(RecallError):
            rows = recalls(engine, as_of=day, clinics=[clinic],
                           due_by=day + timedelta(days=window.days) if day else None)
        people = patient_contacts(engine, principal, sorted({r["golden_id"] for r in rows}), "molar recall list", "recall")
    for r in rows:
        r.update(people.get(r["golden_id"], {"name": None, "mobile": None}))
    counts = summary(rows)
    if as_json:
        print_json({"clinic_id": clinic, "as_of": day, "due_by": day + timedelta(days=window.days),
                    "summary": counts, "recalls": rows})
        return
    table = Table(title=f"Recall list {clinic}: due by {day + timedelta(days=window.days)} (as of {day})")
    for col in ("patient", "name", "mobile", "recall", "due", "status", "days late", "reminders", "outcome"):
        table.add_column(col, no_wrap=col in ("patient", "due", "mobile"))
    for r in rows:
        outcome = r["outcome"]
        words = "" if outcome is None else "no booking yet / 未预约" if outcome["booked_at"] is None else \
            f"booked {outcome['booked_at']:%m-%d} ({outcome['status']})"
        if r["status"] == "booked":
            words = f"next visit {r['next_booking']:%Y-%m-%d %H:%M}" + (f"; {words}" if words else "")
        table.add_row(r["golden_id"], r["name"] or "", r["mobile"] or "", r["recall_name"]["en"], str(r["due_on"]),
                      STATUS_WORDS[r["status"]], str(r["days_overdue"] or ""), str(r["reminders"] or ""), words)
    console.print(table)
    by = counts["by_status"]
    console.print(f"{by['overdue']} overdue, {by['due']} due, {by['opted_out']} opted out, {by['booked']} booked; "
                  f"{counts['reminded']} reminded, {counts['booked_after_reminder']} booked after a reminder")


def register(app: typer.Typer) -> None:
    app.add_typer(recall_app, name="recall")
