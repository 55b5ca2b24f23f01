"""`molar postop evaluate|list`: the post-op risk model's out-of-time check, and the nurses'
watch-list of open cases at one clinic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console
from molar.ui.options import JsonOpt, WarehouseOpt, failing_on, print_json, warehouse_engine

postop_app = typer.Typer(help="Post-op risk: a complication within 30 days of an extraction, implant or periodontal "
                              "surgery, scored at surgery and at day 3.", no_args_is_help=True)
COMMAND = "molar postop list"


@postop_app.command("evaluate")
def postop_evaluate(
    warehouse: WarehouseOpt = None,
    truth: Annotated[Path | None, typer.Option(
        "--truth", help="A synthetic chain's truth folder: also compare the scores with the planted risk.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train on earlier surgeries, calibrate on a later window, test on one never seen; both
    scores against the procedure's rate and an age + procedure logistic regression."""
    from molar.predict.postop.evaluate import evaluate_postop
    from molar.predict.postop.model import PostopTrainingError

    with warehouse_engine(warehouse) as engine, failing_on(PostopTrainingError, FileNotFoundError):
        result = evaluate_postop(engine, truth=truth)
    if as_json:
        print_json(result)
        return
    w = result["windows"]
    console.print(f"post-op complications within {result['horizon_days']} days; trained on surgeries up to "
                  f"{w['train_until']}, calibrated on {' → '.join(w['calibration'])}, tested on {' → '.join(w['test'])}")
    for moment, title in (("surgery", "At surgery / 术前"), ("day3", "At day 3, with the checks / 术后第3天")):
        r = result[moment]
        table = Table(title=f"{title}: {r['surgeries']:,} test surgeries, {r['complications']} complications")
        for col in ("model", "AUC", "Brier", "top-decile lift"):
            table.add_column(col, justify="left" if col == "model" else "right")
        table.add_row(f"LightGBM, calibrated ({r['calibration']})", f"{r['auc']:.3f}", f"{r['brier']:.4f}",
                      f"{r['top_decile_lift']:.2f}")
        for name, label in (("procedure_rate", "procedure's rate"), ("age_procedure_logistic", "logistic: age + procedure")):
            b = r["baselines"][name]
            table.add_row(label, f"{b['auc']:.3f}", f"{b['brier']:.4f}", f"{b['top_decile_lift']:.2f}")
        console.print(table)
        lo, hi = r["auc_gain_vs_age_procedure_ci95"]
        console.print(f"  AUC gain over age + procedure, 95 % bootstrap interval: {lo:+.3f} … {hi:+.3f}")
        rel = Table(title="Reliability (fifths of the test surgeries by risk)")
        for col in ("risk", "surgeries", "predicted", "observed"):
            rel.add_column(col, justify="right")
        for row in r["reliability"]:
            rel.add_row(f"{row['risk_from']:.3f}–{row['risk_to']:.3f}", str(row["surgeries"]), f"{row['predicted']:.3f}",
                        f"{row['observed']:.3f}")
        console.print(rel)
        if "truth" in r:
            t = r["truth"]
            console.print(f"  against the planted risk: Pearson {t['pearson']:.3f}, Spearman {t['spearman']:.3f}, "
                          f"the planted risk's own AUC {t['planted_auc']:.3f}; "
                          f"mean risk smokers {t['mean_risk']['smokers']:.3f} vs non-smokers "
                          f"{t['mean_risk']['non_smokers']:.3f} (planted {t['mean_planted']['smokers']:.3f} vs "
                          f"{t['mean_planted']['non_smokers']:.3f})")


@postop_app.command("list")
def postop_list(
    clinic: Annotated[str, typer.Option("--clinic", help="Clinic ID, e.g. C01.")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="The day of the list, YYYY-MM-DD (default: the last "
                                                            "day of the follow-up export).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clinic's surgeries of the last 30 days without a complication on record, highest
    risk first, with the reasons; names and mobiles at the caller's field levels."""
    from molar.predict.postop.features import data_end
    from molar.predict.postop.model import PostopTrainingError
    from molar.predict.postop.watch import watch_list
    from molar.privacy.cli import clinic_caller, patient_contacts
    from molar.ui.options import parse_day

    with warehouse_engine(warehouse) as engine:
        principal = clinic_caller(engine, "postop", clinic)
        day = parse_day(as_of, "--as-of") or data_end(engine)
        with failing_on(PostopTrainingError):
            if day is None:
                raise PostopTrainingError("the warehouse has no post-op follow-up records: load the follow-up export "
                                          "(sources/followup) with `molar ingest` first / 尚未导入术后随访数据")
            rows = watch_list(engine, clinic, day)
        people = patient_contacts(engine, principal, sorted({r["golden_id"] for r in rows if r["golden_id"]}), COMMAND, "postop")
    for r in rows:
        r.update(people.get(r["golden_id"], {"name": None, "mobile": None}))
    if as_json:
        print_json({"clinic_id": clinic, "as_of": day, "cases": rows})
        return
    table = Table(title=f"Post-op watch-list {clinic} on {day} / 术后随访关注名单")
    for col in ("case", "name", "mobile", "surgery", "day", "risk", "why / 原因"):
        table.add_column(col, no_wrap=col in ("case", "mobile", "surgery"))
    for r in rows:
        why = "; ".join(f"{x['en']} / {x['zh']}" for x in r["reasons"])
        table.add_row(r["case_id"], r["name"] or "", r["mobile"] or "", f"{r['surgery_on']} {r['procedure']}",
                      str(r["day"]), f"{r['risk']:.1%}", why)
    console.print(table)
    console.print(f"{len(rows)} open case(s); scored at day 3 once the day-3 calls are in, else at surgery")


def register(app: typer.Typer) -> None:
    app.add_typer(postop_app, name="postop")
