"""`molar identity resolve|explain|merge|split|overrides|link-file|evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console, err_console, progress_bar
from molar.ui.options import (
    EngineOpt,
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    require_engine,
    settings_from,
    warehouse_engine,
)

identity_app = typer.Typer(
    help="Identity resolution: one patient, one stable golden ID.", no_args_is_help=True
)



def _print_summary(summary: dict) -> None:
    table = Table(title="Identity resolution", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    ids = summary.get("ids", {})
    clustering = summary.get("clustering", {})
    est = summary.get("model", {}).get("estimated_at_threshold", {})
    rows = [
        ("source records", summary.get("records")),
        *([("  new since the last run", summary.get("new_records"))] if summary.get("mode") == "incremental" else []),
        ("records compared", summary.get("records_linked")),
        *([("  re-clustered with the people they touch", summary.get("records_region"))]
          if summary.get("mode") == "incremental" else []),
        ("scored pairs kept (review band and links)", summary.get("pairs_kept")),
        ("links (threshold weight {:+.1f})".format(summary.get("threshold_weight", 0)), summary.get("links")),
        ("components split on conflicts", clustering.get("components_split")),
        ("manual overrides applied", clustering.get("overrides")),
        ("golden IDs", ids.get("golden_ids")),
        ("  kept from the previous run", ids.get("kept")),
        ("  new", ids.get("new")),
        ("  retired", ids.get("retired")),
        ("merge / split events", f"{ids.get('merged_events', 0)} / {ids.get('split_events', 0)}"),
    ]
    if est:
        blind = summary.get("model", {}).get("blind_spot", {})
        rows.append(("model's own estimate: precision / recall (scored pairs only)",
                     f"{est.get('precision', 0):.4f} / {est.get('recall', 0):.4f}"))
        rows.append(("  not seen by it: records never compared",
                     (summary.get("records") or 0) - (summary.get("records_linked") or 0)))
        rows.append(("  not seen by it: records in no scored pair", blind.get("records_in_no_scored_pair")))
        rows.append(("  sources without a single link", ", ".join(blind.get("sources_without_links", [])) or "none"))
    rows.append(("seconds", summary.get("seconds", {}).get("total")))
    for k, v in rows:
        table.add_row(k, "" if v is None else (f"{v:,}" if isinstance(v, int) else str(v)))
    console.print(table)


def _failed(what: str, exc: Exception, state: str) -> str:
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return (f"{what} failed: {detail} ({type(exc).__name__}); {state}. "
            f"/ 处理失败：{detail}；请检查输入后重试，或把此信息报告给维护者。")


def _print_warnings(summary: dict) -> None:
    for warning in summary.get("warnings", []):
        err_console.print(f"[yellow]warning:[/] {warning}")


@identity_app.command("resolve")
def resolve_command(
    warehouse: WarehouseOpt = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Link threshold as a match weight (log2 odds); default 4 (p ≈ 0.94).")] = None,
    min_probability: Annotated[float | None, typer.Option(
        "--min-probability", help="Link threshold as a match probability instead, e.g. 0.99.")] = None,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Link only the records new since the last run, with that run's trained model, "
        "against the existing golden IDs (default: a full re-link that retrains the model).")] = False,
    as_json: JsonOpt = False,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Link patient records across sources into golden IDs (stable across reruns)."""
    require_engine(engine_name, "identity")
    from molar.identity.incremental import IncrementalError, resolve_incremental
    from molar.identity.linker import prob_to_weight
    from molar.identity.resolve import resolve

    if threshold is not None and min_probability is not None:
        raise fail("give --threshold or --min-probability, not both")
    if min_probability is not None and not 0 < min_probability < 1:
        raise fail(f"--min-probability must be between 0 and 1, got {min_probability}")
    settings = settings_from(warehouse)
    with open_engine(settings) as engine, progress_bar() as bar:
        task = bar.add_task("identity", total=None)
        options = dict(progress=lambda message: bar.update(task, description=message), threads=settings.threads,
                       as_of=settings.today)
        try:
            if incremental:
                weight = prob_to_weight(min_probability) if min_probability is not None else threshold
                summary = resolve_incremental(engine, threshold_weight=weight, **options)
            else:
                summary = resolve(engine, threshold_weight=threshold, threshold_probability=min_probability,
                                  **options)
        except IncrementalError as exc:
            raise fail(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - one message, never a traceback
            raise fail(_failed("identity resolve", exc, "golden IDs of the previous run are unchanged")) from exc
    _print_warnings(summary)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)


@identity_app.command("explain")
def explain_command(
    golden_id: Annotated[str, typer.Argument(help="Golden ID to explain, e.g. G0000000042.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a golden ID's records and, for each pair, the match weight of every comparison."""
    from molar.identity.explain import ExplainError, explain, render
    from molar.privacy.cli import cli_access, cli_principal
    from molar.privacy.masking import mask_identity_explanation

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "patient", "read", bootstrap=True)
        with failing_on(ExplainError):
            data = explain(engine, golden_id)
        data, view = mask_identity_explanation(data, principal)
        cli_access(engine, "patient", "read", command="molar identity explain", patient=golden_id,
                   fields=view.shown, detail={"masked": sorted(view.masked)}, principal=principal)
    if as_json:
        print_json(data)
    else:
        console.print(render(data), markup=False, highlight=False)


def _override(kind: str, refs: list[str], reason: str | None, by: str | None, warehouse: Path | None,
              as_json: bool) -> None:
    from molar.identity.overrides import OverrideError, add_override, golden_ids_of
    from molar.privacy.cli import cli_access, cli_principal

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "override", "change", bootstrap=True)
        with failing_on(OverrideError), engine.transaction():  # the audit row only with the change
            result = add_override(engine, kind, refs, reason=reason, created_by=by or principal.name)
            before = result["golden_ids_before"]
            result["golden_ids_now"] = golden_ids_of(engine, result["records"])
            cli_access(engine, "override", "change", command=f"molar identity {kind}", principal=principal,
                       patient=before[0] if len(before) == 1 else None,
                       detail={"override": result["override_id"], "kind": kind, "records": len(result["records"]),
                               "before": before, "after": result["golden_ids_now"]})
    if as_json:
        print_json(result)
    else:
        console.print(f"{kind} {result['override_id']} recorded for {len(result['records'])} records; "
                      f"they are now {', '.join(result['golden_ids_now'])}")


ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept with the override).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who made the correction.")]


@identity_app.command("merge")
def merge_command(
    refs: Annotated[list[str], typer.Argument(help="Golden IDs (all their records) and/or records source:key.")],
    reason: ReasonOpt = None,
    by: ByOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make these people one person (kept on every rerun)."""
    _override("merge", refs, reason, by, warehouse, as_json)


@identity_app.command("split")
def split_command(
    records: Annotated[list[str], typer.Argument(help="Records source:key to take out of their golden ID, together.")],
    reason: ReasonOpt = None,
    by: ByOpt = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take these records out of their golden ID as a person of their own (kept on every rerun)."""
    _override("split", records, reason, by, warehouse, as_json)


@identity_app.command("overrides")
def overrides_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """List manual merges and splits."""
    from molar.identity.overrides import list_overrides
    from molar.privacy.cli import cli_access, cli_principal
    from molar.privacy.masking import View

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "override", "read", bootstrap=True)
        view = View(principal)
        rows = [{**r, "unique_ids": [view("source_key", u) or "****" for u in r["unique_ids"]],
                 "reason": view("free_text", r["reason"])} for r in list_overrides(engine)]
        cli_access(engine, "override", "read", command="molar identity overrides", principal=principal,
                   fields=view.shown, detail={"masked": sorted(view.masked), "overrides": len(rows)})
    if as_json:
        print_json(rows)
        return
    table = Table(title="Identity overrides")
    for col in ("override", "kind", "records", "reason", "by", "at"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["override_id"], r["kind"], ", ".join(r["unique_ids"]), r["reason"] or "",
                      r["created_by"] or "", str(r["created_at"]))
    console.print(table)


@identity_app.command("link-file")
def link_file_command(
    people: Annotated[Path, typer.Argument(help="UTF-8 CSV: record_id,source,name,sex,birth_date,mobile,id_number,district,address,wechat_unionid.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV to write: record_id,golden_id.")],
    as_json: JsonOpt = False,
) -> None:
    """Link a standalone file of people with the same linker (no warehouse needed)."""
    from molar.identity.link_file import LinkFileError, link_file

    try:
        result = link_file(people, out)
    except LinkFileError as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - one message, never a traceback
        raise fail(_failed(f"identity link-file {people}", exc, f"{out} was not written")) from exc
    _print_warnings(result["resolve"])
    if as_json:
        print_json(result)
    else:
        console.print(f"{result['records']:,} records → {result['golden_ids']:,} people · wrote {out}")


@identity_app.command("evaluate")
def evaluate_command(
    truth: Annotated[Path, typer.Option("--truth", help="Ground truth folder of a synthetic chain (…/truth).")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score the current golden IDs against synthetic ground truth (pairwise, B-cubed, hard cases)."""
    from molar.identity.evaluate import evaluate

    with warehouse_engine(warehouse) as engine, failing_on(FileNotFoundError):
        result = evaluate(engine, truth)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"Identity vs ground truth ({result['records_with_truth']:,} records, {result['people']:,} people)")
    for col in ("records", "measure", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col in ("records", "measure") else "right")
    for scope, scores in result["scopes"].items():
        if not isinstance(scores, dict):
            continue
        for key in ("pairwise", "bcubed"):
            m = scores[key]
            table.add_row(scope.replace("_", " "), key, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}")
    console.print(table)
    pairs = Table(title="Pairwise by source pair")
    for col in ("sources", "true pairs", "linked", "precision", "recall", "F1"):
        pairs.add_column(col, justify="left" if col == "sources" else "right")
    for m in result["by_source_pair"]:
        pairs.add_row(m["sources"], f"{m['true_pairs']:,}", f"{m['predicted_pairs']:,}", f"{m['precision']:.4f}",
                      f"{m['recall']:.4f}", f"{m['f1']:.4f}")
    console.print(pairs)
    hard = Table(title="Hard cases")
    for col in ("case", "pairs", "wrong", "rate"):
        hard.add_column(col, justify="left" if col == "case" else "right")
    for name, h in result["hard_cases"].items():
        if "false_merge_rate" in h:
            hard.add_row(name + " (different people)", f"{h['pairs_of_different_people']:,}",
                         f"{h['wrongly_merged']:,} merged", f"{h['false_merge_rate']:.5f}")
        else:
            hard.add_row(name, f"{h['pairs_of_one_person']:,}",
                         f"{h['pairs_of_one_person'] - h['linked']:,} apart", f"recall {h['recall']:.4f}")
    console.print(hard)


def register(app: typer.Typer) -> None:
    app.add_typer(identity_app, name="identity")
