"""`molar cases similar`: past courses of treatment like a patient's, and how they went."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from molar.operations.matching_cli import PatientArg, PatientOpt, one_patient, principal_for
from molar.operations.recall_cli import AsOfOpt, parse_day
from molar.ui.console import console
from molar.ui.options import JsonOpt, WarehouseOpt, failing_on, print_json, warehouse_engine
from molar.warehouse import Engine

cases_app = typer.Typer(help="Similar cases: past courses of treatment like a patient's, and how they went.",
                        no_args_is_help=True)


def names(engine: Engine, principal: Any, ids: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Names of the patients for a role that sees names in full (else none), and the fields shown."""
    from molar.privacy.fields import read_golden
    from molar.privacy.masking import View

    view = View(principal)
    out: dict[str, str | None] = dict.fromkeys(ids)
    if ids and view.level("name") == "full":
        for row in read_golden(engine, "golden_id, name", "WHERE golden_id IN (SELECT unnest(?))", [ids]).to_pylist():
            out[row["golden_id"]] = view("name", row["name"])
    return out, sorted(view.shown)


@cases_app.command("similar")
def cases_similar(
    golden: PatientArg = None,
    patient: PatientOpt = None,
    case: Annotated[str | None, typer.Option("--case", help="Or a case number from an earlier answer, e.g. "
                                                             "K1a2b3c4d5e.")] = None,
    department: Annotated[str | None, typer.Option("--department", help="The patient's latest case in this "
                                                                         "department (default: their latest).")] = None,
    k: Annotated[int, typer.Option("--k", help="How many similar cases.", min=1, max=50)] = 5,
    as_of: AsOfOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The k past courses of treatment nearest to the patient's latest one, with what was done and how
    it went; other patients appear by case number only, unless the role sees names in full."""
    from molar.operations.matching import MatchingError
    from molar.operations.similar import similar
    from molar.privacy.cli import cli_access

    with warehouse_engine(warehouse) as engine:
        principal = principal_for(engine, "cases")
        with failing_on(MatchingError):
            result = similar(engine, golden_id=one_patient(golden, patient), case=case, department=department,
                             k=k, as_of=parse_day(as_of, "--as-of"))
        shown, fields = names(engine, principal, [c["golden_id"] for c in result["similar"]])
        for c in result["similar"]:
            c["name"] = shown.get(c["golden_id"])
        others = [c.pop("golden_id") for c in result["similar"] if c["name"] is None]   # the case number stands in
        detail = {"case": result["case"]["case_id"], "similar": len(result["similar"])}
        cli_access(engine, "operations", "cases", command="molar cases similar",
                   patient=result["case"]["golden_id"], fields=fields, detail=detail, principal=principal)
        for c in result["similar"]:
            if c["name"] is not None:
                cli_access(engine, "operations", "cases", command="molar cases similar", patient=c["golden_id"],
                           fields=fields, detail=detail, principal=principal)
        detail["de_identified"] = len(others)
    if as_json:
        print_json(result)
        return
    q = result["case"]
    console.print(f"case {q['case_id']} (patient {q['golden_id']}): {q['department']}, "
                  f"{_done(q)}, {q['visits']} visits over {q['duration_days']} days, ¥{q['cost_yuan']:,.0f}, "
                  f"{q['age_band'] or '?'} {q['sex'] or ''}, {q['outcome']}")
    table = Table(title=f"{len(result['similar'])} most similar past cases (as of {result['as_of']})")
    named = any(c["name"] for c in result["similar"])
    columns = ["case", *(["patient"] if named else []), "distance", "age", "sex", "what was done", "visits", "days",
               "cost ¥", "outcome"]
    for col in columns:
        table.add_column(col, no_wrap=col in ("case", "distance", "age"))
    for c in result["similar"]:
        table.add_row(c["case_id"], *([c["name"] or ""] if named else []), f"{c['distance']:.3f}", c["age_band"] or "",
                      c["sex"] or "", _done(c), str(c["visits"]), str(c["duration_days"]), f"{c['cost_yuan']:,.0f}",
                      c["outcome"])
    console.print(table)
    counts = ", ".join(f"{n} {o}" for o, n in result["outcomes"].items() if n)
    console.print(f"outcomes of the similar cases: {counts or 'none'} / 相似病例结局")


def _done(case: dict[str, Any]) -> str:
    return " ".join(f"{code}×{n}" if n > 1 else code for code, n in case["treatments"].items())


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
