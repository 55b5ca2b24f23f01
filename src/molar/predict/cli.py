"""`molar clv fit|score` and `molar churn evaluate|score`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
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

clv_app = typer.Typer(help="Lifetime value: BG/NBD visits and dropout, Gamma-Gamma spend.", no_args_is_help=True)


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


@clv_app.command("fit")
def clv_fit(
    transactions: Annotated[Path, typer.Argument(help="CSV with one row per transaction.")],
    customer: Annotated[str, typer.Option("--customer", help="Column with the customer key.")],
    when: Annotated[str, typer.Option("--date", help="Column with the transaction date.")],
    amount: Annotated[str, typer.Option("--amount", help="Column with the amount.")],
    calibration_end: Annotated[str, typer.Option("--calibration-end", help="Last day (inclusive) of the fitting period, YYYY-MM-DD; later rows are the holdout.")],
    unit: Annotated[str, typer.Option("--unit", help="Time unit: D, W (default) or M.")] = "W",
    covariate: Annotated[list[str] | None, typer.Option(
        "--covariate", help="Column with a customer attribute (clinic, channel, age band) for the visit model; "
                            "repeatable. The value on each customer's first transaction counts.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit BG/NBD + Gamma-Gamma on any transaction file and check it on the holdout period;
    with --covariate also the model without them, side by side."""
    from molar.predict.clv import (
        BetaGeoModel,
        ClvInputError,
        GammaGammaModel,
        read_transactions,
        summarise,
    )
    from molar.predict.clv.data import read_covariates
    from molar.predict.clv.report import covariate_comparison, holdout_report

    end = _date(calibration_end, "--calibration-end")
    with failing_on(ClvInputError):
        summary = summarise(read_transactions(transactions, customer, when, amount), end, unit)
        bgnbd = BetaGeoModel().fit(summary.frequency, summary.recency, summary.age)
        spend = GammaGammaModel().fit(summary.frequency, summary.monetary)
        z = None
        if covariate:
            names, z = read_covariates(transactions, customer, when, covariate, summary.customers)
            plain, bgnbd = bgnbd, BetaGeoModel().fit(summary.frequency, summary.recency, summary.age, z, names)
    result = {"bgnbd": bgnbd.as_dict(), "gamma_gamma": spend.as_dict(), "customers": bgnbd.customers_,
              "repeat_customers": spend.customers_, "unit": summary.unit,
              "holdout": holdout_report(bgnbd, summary, z)}
    if covariate:
        result["without_covariates"] = covariate_comparison(plain, bgnbd, summary)
    if as_json:
        print_json(result)
        return
    b, g = result["bgnbd"], result["gamma_gamma"]
    console.print(f"BG/NBD on {result['customers']:,} customers: r={b['r']:.4f} α={b['alpha']:.4f} "
                  f"a={b['a']:.4f} b={b['b']:.4f} (log-likelihood {b['log_likelihood']:.2f})")
    for name, effect in b.get("covariates", {}).items():
        console.print(f"  {name}: visit rate ×{effect['rate']:.3f}, dropout a ×{effect['a']:.3f}, b ×{effect['b']:.3f}")
    if covariate:
        w = result["without_covariates"]
        console.print(f"without covariates: log-likelihood {w['log_likelihood']:.2f}; likelihood-ratio "
                      f"{w['likelihood_ratio']:.1f} on {w['extra_parameters']} parameters (p = {w['p_value']:.3g}); "
                      f"holdout MAE {w['mae_per_customer']} visits")
    console.print(f"Gamma-Gamma on {result['repeat_customers']:,} repeat customers: p={g['p']:.4f} "
                  f"q={g['q']:.4f} γ={g['v']:.4f}")
    report = result["holdout"]
    if report["buckets"]:
        table = Table(title=f"Holdout: {report['holdout_length']} {summary.unit} after {end}")
        for col in ("calibration repeat visits", "customers", "actual visits (mean)", "predicted (mean)"):
            table.add_column(col, justify="right")
        for row in report["buckets"]:
            table.add_row(row["calibration_repeat_visits"], f"{row['customers']:,}", f"{row['actual']:.3f}",
                          f"{row['predicted']:.3f}")
        console.print(table)
        console.print(f"mean absolute error per customer: {report['mae_per_customer']:.3f} visits")


@clv_app.command("score")
def clv_score(
    warehouse: WarehouseOpt = None, as_of: AsOfOpt = None, as_json: JsonOpt = False,
    covariate: Annotated[list[str] | None, typer.Option(
        "--covariate", help="'clinic' (of the first visit) or a profile tag (age_band, preferred_channel …) for the "
        "visit model; repeat for several. The model without them is fitted too and compared.")] = None,
) -> None:
    """Fit on the warehouse's visits and write expected visits, value and P(alive) per patient."""
    from molar.predict.clv import ClvInputError
    from molar.predict.clv.score import score_clv

    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        try:
            result = score_clv(engine, settings.today, covariate)
        except ClvInputError as exc:
            raise fail(f"{exc}; nothing was changed") from exc
    if as_json:
        print_json(result)
        return
    console.print(f"[bold green]clv[/] as of {result['as_of']}: {result['patients']:,} patients scored "
                  f"into profile.clv (model {result['model_id']})")
    for name, effect in result["bgnbd"].get("covariates", {}).items():
        console.print(f"  {name}: visit rate ×{effect['rate']:.2f}")
    if "without_covariates" in result:
        w = result["without_covariates"]
        console.print(f"covariates vs none: likelihood ratio {w['likelihood_ratio']:.1f} on {w['extra_parameters']} "
                      f"parameters (p = {w['p_value']:.2g})")


churn_app = typer.Typer(help="Churn risk: no visit in the next H days, with reasons.", no_args_is_help=True)
HorizonOpt = Annotated[int, typer.Option("--horizon", help="Days without a visit that count as churn.", min=30)]


@churn_app.command("evaluate")
def churn_evaluate(warehouse: WarehouseOpt = None, horizon: HorizonOpt = 180, as_json: JsonOpt = False) -> None:
    """Train on earlier cut-offs, calibrate on a later one, test on a window never seen; compare baselines."""
    from molar.predict.churn.evaluate import evaluate_churn
    from molar.predict.churn.model import ChurnConfig, ChurnTrainingError

    settings = settings_from(warehouse)
    with open_engine(settings) as engine, failing_on(ChurnTrainingError):
        result = evaluate_churn(engine, ChurnConfig(horizon_days=horizon))
    if as_json:
        print_json(result)
        return
    base = result["baselines"]
    table = Table(title=f"Churn (no visit in {horizon} days) on the test window {' → '.join(result['test_window'])}")
    for col in ("model", "AUC", "Brier", "top-decile lift"):
        table.add_column(col, justify="right" if col != "model" else "left")
    table.add_row("LightGBM, calibrated", f"{result['auc']:.3f}", f"{result['brier']:.3f}", f"{result['top_decile_lift']:.2f}")
    rec = base["recency_logistic"]
    table.add_row("recency-only logistic", f"{rec['auc']:.3f}", f"{rec['brier']:.3f}", f"{rec['top_decile_lift']:.2f}")
    table.add_row("lifecycle rule (decline/churn)", f"{base['lifecycle_rule']['auc']:.3f}", "—", "—")
    console.print(table)
    rel = Table(title="Reliability (calibrated risk)")
    for col in ("risk", "patients", "predicted", "observed"):
        rel.add_column(col, justify="right")
    for row in result["reliability"]:
        rel.add_row(row["bin"], f"{row['patients']:,}", f"{row['predicted']:.3f}", f"{row['observed']:.3f}")
    console.print(rel)


@churn_app.command("score")
def churn_score(
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    horizon: HorizonOpt = 180,
    model_id: Annotated[str | None, typer.Option("--model", help="Reuse this saved model instead of training.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write every patient's churn risk and its reasons into the profile (profile.churn_risk)."""
    from molar.predict.churn.model import ChurnConfig, ChurnModelError, ChurnTrainingError
    from molar.predict.churn.score import score_churn

    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        try:
            result = score_churn(engine, settings.today, ChurnConfig(horizon_days=horizon), model_id)
        except (ChurnTrainingError, ChurnModelError) as exc:
            raise fail(f"{exc}; the stored scores were not changed") from exc
    if as_json:
        print_json(result)
        return
    b = result["bands"]
    console.print(f"[bold green]churn[/] as of {result['as_of']}: {result['patients']:,} patients scored "
                  f"(high {b['high']:,}, medium {b['medium']:,}, low {b['low']:,}; {result['crossed_into_high']:,} "
                  f"crossed into high since the last score), model {result['model_id']}")


def register(app: typer.Typer) -> None:
    app.add_typer(clv_app, name="clv")
    app.add_typer(churn_app, name="churn")
