"""`molar doctors match`: the right doctor for a patient's treatment, with reasons."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from molar.automation.yamlio import CatalogueError
from molar.operations.recall_cli import AsOfOpt
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
from molar.warehouse import Engine

doctors_app = typer.Typer(help="Doctor matching: rank a clinic's doctors for a patient's treatment, with reasons.",
                          no_args_is_help=True)
PatientArg = Annotated[str | None, typer.Argument(help="The patient's golden ID, e.g. G0000001234 (or --patient).",
                                                  show_default=False)]
PatientOpt = Annotated[str | None, typer.Option("--patient", help="The patient's golden ID, e.g. G0000001234.")]


def one_patient(argument: str | None, option: str | None) -> str | None:
    """The patient named as an argument or with --patient (the same one if both)."""
    if argument and option and argument.strip() != option.strip():
        raise fail(f"two patients given ({argument} and --patient {option}); give one / 只能指定一位患者")
    chosen = argument or option
    return chosen.strip() if chosen else None


def principal_for(engine: Engine, action: str) -> Any:
    from molar.privacy.cli import cli_principal

    return cli_principal(engine, "operations", action, bootstrap=True)


def _check_clinic(engine: Engine, principal: Any, clinic: str | None) -> None:
    from molar.privacy.cli import check_clinic

    if clinic is not None:
        check_clinic(engine, principal, clinic)


@doctors_app.command("match")
def doctors_match(
    golden: PatientArg = None,
    patient: PatientOpt = None,
    treatment: Annotated[str | None, typer.Option("--treatment", help="Planned treatment code, e.g. IMP.")] = None,
    department: Annotated[str | None, typer.Option("--department", help="Or the department, e.g. implant.")] = None,
    clinic: Annotated[str | None, typer.Option("--clinic", help="Clinic ID (default: the patient's home clinic).")] = None,
    top: Annotated[int, typer.Option("--top", help="How many doctors to list.", min=1, max=50)] = 5,
    as_of: AsOfOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clinic's doctors ranked for the patient's treatment: the case's complexity, and per doctor
    experience, fit, continuity, outcomes and availability in words."""
    from molar.operations.matching import MatchingError, Request, match
    from molar.privacy.cli import cli_access

    with warehouse_engine(warehouse) as engine:
        principal = principal_for(engine, "doctors")
        patient = one_patient(golden, patient)
        if patient is None:
            raise fail("give the patient: molar doctors match G0000001234 --treatment IMP / 请指定患者")
        _check_clinic(engine, principal, clinic)
        with failing_on(MatchingError, CatalogueError):
            result = match(engine, patient, Request(treatment, department), clinic=clinic,
                           as_of=parse_day(as_of, "--as-of"))
        if clinic is None and principal.clinics is not None and result["clinic_id"] not in principal.clinics:
            raise fail(f"{principal.name!r} works at {', '.join(sorted(principal.clinics))}, not at the patient's "
                       f"clinic {result['clinic_id']}; name one with --clinic / 无权查看该诊所")
        cli_access(engine, "operations", "doctors", command="molar doctors match", patient=result["golden_id"],
                   detail={"treatment": treatment, "department": result["department"], "clinic": result["clinic_id"]},
                   principal=principal)
    result["doctors"] = result["doctors"][:top]
    if as_json:
        print_json(result)
        return
    reasons = "; ".join(r["en"] for r in result["reasons"]) or "no complexity flag"
    reasons_zh = "；".join(r["zh"] for r in result["reasons"]) or "无复杂因素"
    console.print(f"patient {result['golden_id']} · {result['treatment'] or result['department']} at "
                  f"{result['clinic_id'] or 'any clinic'} · complexity {result['complexity']:.2f} "
                  f"({'complex' if result['complex'] else 'routine'}: {reasons}) / 病例复杂度"
                  f"{result['complexity']:.2f}（{'复杂' if result['complex'] else '常规'}：{reasons_zh}）")
    table = Table(title=f"Doctors for {result['treatment'] or result['department']} (as of {result['as_of']})")
    for col in ("#", "doctor", "name", "title", "department", "score", "why"):
        table.add_column(col, no_wrap=col in ("doctor", "title"))
    for d in result["doctors"]:
        why = "\n".join(f"{p['points']:>5.1f} {p['part']}: {p['en']}" for p in d["parts"])
        table.add_row(str(d["rank"]), d["doctor_id"], d["name"], d["title"] or "", d["department"] or "",
                      f"{d['score']:.1f}", why)
    console.print(table)
    if not result["doctors"]:
        console.print("no active doctor of this department or treatment at the clinic / 该诊所暂无相应医生")


def register(app: typer.Typer) -> None:
    app.add_typer(doctors_app, name="doctors")
