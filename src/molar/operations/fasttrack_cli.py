"""`molar fasttrack offer`: who to offer an opened slot to first, and (``--send``) the offer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from molar.operations.recall_cli import AsOfOpt, ClinicOpt
from molar.privacy.cli import clinic_caller, patient_contacts
from molar.ui.console import console
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    parse_day,
    print_json,
    settings_from,
    warehouse_engine,
)

fasttrack_app = typer.Typer(help="Fast track: offer an opened appointment slot to the returning patients who need "
                                 "it most.", no_args_is_help=True)


@fasttrack_app.command("offer")
def fasttrack_offer(
    clinic: ClinicOpt,
    department: Annotated[str, typer.Option("--department", help="Department of the slot, e.g. periodontics.")],
    slot: Annotated[str, typer.Option("--slot", help='Start of the opened slot, "YYYY-MM-DD HH:MM" (clinic time).')],
    top: Annotated[int, typer.Option("--top", help="How many patients to offer it to.", min=1, max=50)] = 5,
    send: Annotated[bool, typer.Option("--send", help="Send the offer through the automation engine (consent, "
                                                      "caps and quiet hours apply).")] = False,
    as_of: AsOfOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The top patients for the slot with their priority, each part of it in words; with
    --send, one care message each (queued, deferred to the end of quiet hours, or suppressed, with why)."""
    from molar.operations.fasttrack import Slot, queue, send_offers
    from molar.operations.recall import RecallError

    settings = settings_from(warehouse)
    with warehouse_engine(warehouse) as engine:
        principal = clinic_caller(engine, "fasttrack", clinic)
        try:
            start = datetime.strptime(slot.strip(), "%Y-%m-%d %H:%M")
        except ValueError:
            raise fail(f'--slot {slot!r}: write the start as "YYYY-MM-DD HH:MM", e.g. "2026-11-03 14:00" / '
                       "时间格式应为 YYYY-MM-DD HH:MM") from None
        opened = Slot(clinic, department, start)
        with failing_on(RecallError):
            ranked = queue(engine, opened, as_of=parse_day(as_of, "--as-of"))
        offers = ranked[:top]
        sent = None
        if send:
            from molar.automation.runtime import Automation

            with failing_on(ValueError):   # a rule or policy file in error (CatalogueError) names file and line
                automation = Automation.from_settings(settings)
            now = automation.clock()
            if start <= now:
                raise fail(f"the slot {start:%Y-%m-%d %H:%M} has already begun (now {now:%Y-%m-%d %H:%M}); offers go "
                           "out only for slots still ahead / 该号源时间已过，无法邀约")
            sent = {r["golden_id"]: r for r in send_offers(engine, automation, opened, offers, now)}
        people = patient_contacts(engine, principal, [o["golden_id"] for o in offers], "molar fasttrack offer", "fasttrack")
    for o in offers:
        o.update(people.get(o["golden_id"], {"name": None, "mobile": None}))
        if sent is not None:
            o["offer"] = sent[o["golden_id"]]
    if as_json:
        print_json({"slot": {"clinic_id": clinic, "department": department, "start": start},
                    "eligible": len(ranked), "offers": offers, "sent": sent is not None})
        return
    table = Table(title=f"Fast track {clinic} {department} {start:%Y-%m-%d %H:%M}: top {len(offers)} of "
                        f"{len(ranked)} eligible")
    columns = ["#", "patient", "name", "mobile", "priority", "why"] + (["offer"] if sent is not None else [])
    for col in columns:
        table.add_column(col, no_wrap=col in ("patient", "mobile"))
    for o in offers:
        why = "\n".join(f"{p['points']:>5.1f} {p['en']}" for p in o["parts"])
        cells = [str(o["rank"]), o["golden_id"], o["name"] or "", o["mobile"] or "", f"{o['priority']:.1f}", why]
        if sent is not None:
            r = o["offer"]
            cells.append(f"{r['outcome']}: {r['reason_en']}" + (" (earlier run)" if r["earlier_run"] else ""))
        table.add_row(*cells)
    console.print(table)
    if not ranked:
        console.print("nobody is due in this department at this clinic / 该诊所该科室暂无待复诊患者")
    elif sent is None:
        console.print("add --send to offer the slot to these patients / 加 --send 发送邀约")


def register(app: typer.Typer) -> None:
    app.add_typer(fasttrack_app, name="fasttrack")
