"""`molar profile run|show|tiers|tags|evaluate`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console, progress_bar
from molar.ui.options import (
    AsOfOpt,
    EngineOpt,
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    require_engine,
    settings_from,
)

profile_app = typer.Typer(
    help="The living patient profile: tags, sentiment, RFM-Health, value tiers, lifecycle.",
    no_args_is_help=True,
)


def run_profile(engine, as_of: date, *, tier_method: str = "kmeans", sentiment: bool = True,
                tags_dir: Path | None = None, quiet: bool = False) -> dict:
    from molar.profile.catalogue import CatalogueError
    from molar.profile.run import compute_profile
    from molar.profile.tagging import TagError

    with progress_bar() as progress:
        task = progress.add_task("profile", total=None)

        def on_progress(what: str) -> None:
            progress.update(task, description=f"profile: {what}")

        with failing_on(CatalogueError, TagError, ValueError):
            return compute_profile(
                engine, as_of, tier_method=tier_method, sentiment=sentiment, tags_dir=tags_dir,
                progress=None if quiet else on_progress,
            )


def _share_table(title: str, label: str, names: tuple[str, ...], counts: dict[str, int], total: int) -> Table:
    table = Table(title=title)
    table.add_column(label)
    table.add_column("patients", justify="right")
    table.add_column("share", justify="right")
    for name in names:
        n = counts.get(name, 0)
        table.add_row(name, f"{n:,}", f"{n / total:.1%}")
    return table


def summary_tables(engine, summary: dict) -> list[Table]:
    from molar.profile.lifecycle import STAGES
    from molar.profile.run import top_tag_values
    from molar.profile.tiers import TIERS

    total = max(1, summary.get("patients", 0))
    tiers = _share_table("Value tiers (RFM-Health clusters)", "tier", TIERS, summary["tiers"], total)
    stages = _share_table("Lifecycle stages", "stage", STAGES, summary["stages"], total)
    top = Table(title="Top tags")
    top.add_column("tag")
    top.add_column("value")
    top.add_column("patients", justify="right")
    top.add_column("share of tagged", justify="right")
    for key, value, n, share in top_tag_values(engine):
        top.add_row(key, value, f"{n:,}", f"{share:.1%}")
    return [tiers, stages, top]


@profile_app.command("run")
def run_command(
    warehouse: WarehouseOpt = None,
    as_of: AsOfOpt = None,
    method: Annotated[str, typer.Option("--method", help="Tier clustering: kmeans or hierarchical.")] = "kmeans",
    no_sentiment: Annotated[bool, typer.Option("--no-sentiment", help="Keep the stored text sentiment; do not reclassify.")] = False,
    tags_dir: Annotated[Path | None, typer.Option("--tags", help="Folder of tag YAML files instead of the shipped catalogue.")] = None,
    as_json: JsonOpt = False,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Recompute every patient's tags, value score, tier and lifecycle stage."""
    require_engine(engine_name, "profile")
    settings = settings_from(warehouse, as_of)
    with open_engine(settings) as engine:
        if not engine.count("identity.patient"):
            raise fail("no golden patients yet: run `molar ingest` and `molar identity resolve` first")
        summary = run_profile(engine, settings.today, tier_method=method, sentiment=not no_sentiment,
                              tags_dir=tags_dir, quiet=as_json)
        if as_json:
            print_json(summary)
            return
        for table in summary_tables(engine, summary):
            console.print(table)
    console.print(
        f"[bold green]profile[/] as of {summary['as_of']}: {summary['patients']:,} patients, "
        f"{sum(summary['tags'].values()):,} tag values, {summary['transitions']:,} stage changes "
        f"in {sum(summary['seconds'].values()):.1f}s"
    )


@profile_app.command("show")
def show_command(
    golden_id: Annotated[str, typer.Argument(help="The patient's golden ID, e.g. G0000001234.")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Everything the profile says about one patient, with the inputs and rule behind each item."""
    from molar.privacy.cli import cli_access, cli_principal
    from molar.privacy.masking import mask_explanation
    from molar.profile.explain import UnknownPatient, explain_patient

    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        principal = cli_principal(engine, "patient", "read", bootstrap=True)
        with failing_on(UnknownPatient):
            info = explain_patient(engine, golden_id)
        info, view = mask_explanation(info, principal)
        cli_access(engine, "patient", "read", command="molar profile show", patient=info["golden_id"],
                   fields=view.shown, detail={"masked": sorted(view.masked)}, principal=principal)
    if as_json:
        print_json(info)
        return
    if info["asked_for"]:
        console.print(f"{info['asked_for']} was merged into [bold]{info['golden_id']}[/]")
    if info["profile_run"] is None:
        console.print("[yellow]no profile yet[/]: run `molar profile run`")
        return
    console.rule(f"[bold]{info['golden_id']}[/] · profile as of {info['profile_run']['as_of']}")
    head = Table(show_header=False)
    head.add_column("")
    head.add_column("")
    head.add_column("why", overflow="fold")
    vs = info["value_score"]
    if vs:
        c = vs["components"]
        head.add_row("value score", f"{vs['value_score']}", (
            f"recency {c['recency']['days_since_last_visit']} days → {c['recency']['score']:.2f}; "
            f"frequency {c['frequency']['visits_per_year']}/yr → {c['frequency']['score']:.2f}; "
            f"spend ¥{c['monetary']['spend_24m_yuan']:,.0f} → {c['monetary']['score']:.2f}; "
            f"health (risk {c['health']['health_risk']}, recall {c['health']['recall_adherence']}) → {c['health']['score']:.2f}"
        ))
    if info["tier"]:
        t = info["tier"]
        why = t["rule"]
        if "in_plain_words" in t:
            why += "; in plain words: " + " and ".join(t["in_plain_words"]["if"])
        head.add_row("value tier", t["tier"], why)
    if info["lifecycle"]:
        lc = info["lifecycle"]
        head.add_row("lifecycle", f"{lc['stage']} (since {lc['since']})", lc["reason"] or "")
    if info.get("churn_risk"):
        cr = info["churn_risk"]
        head.add_row("churn risk", f"{cr['risk']:.0%} ({cr['band']})", "; ".join(
            f"{r['en']} / {r['zh']}" for r in cr["reasons"]) or "no factor raises it")
    if info.get("clv"):
        cv = info["clv"]
        head.add_row("lifetime value", f"¥{cv['value_12m_yuan']:,.0f} / 12 m, ¥{cv['value_24m_yuan']:,.0f} / 24 m",
                     f"{cv['visits_12m']:.1f} visits in 12 months × ¥{cv['spend_per_visit']:,.0f}; "
                     f"P(alive) {cv['p_alive']:.2f}")
    st = info["sentiment"]
    aspects = st["latest_complaint_aspects"]
    head.add_row("sentiment", st["latest"] or "—", f"{len(st['recent_texts'])} recent text(s)"
                 + (f"; latest complaint: {', '.join(aspects) or 'no aspect found'}" if aspects is not None else ""))
    console.print(head)
    table = Table(title="Tags")
    table.add_column("dimension")
    table.add_column("tag")
    table.add_column("value")
    table.add_column("since")
    table.add_column("inputs", overflow="fold")
    for tag in info["tags"]:
        inputs = tag["inputs"]
        if isinstance(inputs, dict):
            shown = ", ".join(f"{k}={v}" for k, v in inputs.items() if v is not None)
        else:
            shown = inputs or ""
        value = f"{tag['value']} {tag['unit']}" if tag["unit"] else tag["value"]
        table.add_row(tag["dimension"] or "", f"{tag['name_en']} ({tag['key']})", value, tag["since"][:10], shown)
    console.print(table)


@profile_app.command("tiers")
def tiers_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """The value tiers: sizes, centroids and each tier described in plain words."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        # The model of the run that produced the current tiers.
        model = engine.rows(
            """SELECT run_id, method, rules_json, tree_accuracy, centroids FROM profile.tier_model
               WHERE run_id IN (SELECT run_id FROM profile.tier) ORDER BY created_at DESC LIMIT 1"""
        )
        if not model:
            raise fail("no tiers yet: run `molar profile run`")
        run_id, method, rules_json, accuracy, centroids = model[0]
        stats = engine.rows(
            """SELECT t.tier, count(*), median(s.recency_days), median(s.frequency), median(s.monetary_yuan),
                      avg(s.value_score)
               FROM profile.tier t LEFT JOIN profile.value_score s USING (golden_id) GROUP BY 1"""
        )
    rules = json.loads(rules_json or "{}")
    if as_json:
        print_json({
            "run_id": run_id, "method": method, "tree_accuracy": accuracy, "centroids": json.loads(centroids),
            "tiers": {t: {"patients": n, "median_days_since_visit": r, "median_visits_per_year": f,
                          "median_spend_24m": m, "mean_value_score": v, "rules": rules.get(t, [])}
                      for t, n, r, f, m, v in stats},
        }, default=float)
        return
    from molar.profile.tiers import TIERS

    by_tier = {row[0]: row for row in stats}
    table = Table(title=f"Value tiers ({method})")
    for col in ("tier", "patients", "median days since visit", "visits/yr", "spend 24m (¥)", "value score"):
        table.add_column(col, justify="right" if col != "tier" else "left")
    for tier in TIERS:
        if tier not in by_tier:
            continue
        _, n, r, f, m, v = by_tier[tier]
        table.add_row(tier, f"{n:,}", "—" if r is None else f"{r:,.0f}", "—" if f is None else f"{f:.1f}",
                      "—" if m is None else f"{m:,.0f}", "—" if v is None else f"{v:.0f}")
    console.print(table)
    console.print(f"[bold]In plain words[/] (a depth-3 decision tree agrees with the tiers for {accuracy:.1%} of patients):")
    for tier in TIERS:
        console.print(f"[bold]{tier}[/]")
        for rule in rules.get(tier, [])[:3]:
            console.print(f"  • {' and '.join(rule['if'])}  [dim]({rule['patients']:,} patients, {rule['purity']:.0%} {tier})[/]")
        if tier == "potential":
            console.print("  • everyone with no visit yet (not clustered)")


@profile_app.command("tags")
def tags_command(
    tags_dir: Annotated[Path | None, typer.Option("--tags", help="Folder of tag YAML files to check.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List (and validate) the tag catalogue."""
    from molar.profile.catalogue import CatalogueError, load_catalogue

    with failing_on(CatalogueError):
        tags = load_catalogue(tags_dir)
    if as_json:
        print_json([{k: getattr(t, k) for k in ("key", "dimension", "name_en", "name_zh", "value_type",
                                                "refresh", "values", "unit", "description_en", "defined_in")}
                    for t in tags])
        return
    table = Table(title=f"Tag catalogue ({len(tags)} tags)")
    for col in ("dimension", "key", "name", "type", "refresh", "definition"):
        table.add_column(col, overflow="fold")
    for t in tags:
        table.add_row(t.dimension, t.key, f"{t.name_zh} / {t.name_en}", t.value_type, t.refresh, t.description_en)
    console.print(table)


@profile_app.command("evaluate")
def evaluate_command(
    truth: Annotated[Path, typer.Argument(help="The synthetic chain's truth/ folder.")],
    warehouse: WarehouseOpt = None,
    cutoff: Annotated[list[str] | None, typer.Option("--cutoff", help="Date(s) to stage patients at (YYYY-MM-DD).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lifecycle stages against the synthetic ground truth of who churned and when."""
    from molar.profile.evaluate import evaluate_lifecycle

    settings = settings_from(warehouse)
    try:
        cutoffs = [date.fromisoformat(c) for c in (cutoff or [settings.today.isoformat()])]
    except ValueError as exc:
        raise fail(f"--cutoff must be a date written YYYY-MM-DD ({exc})") from exc
    with open_engine(settings) as engine, failing_on(FileNotFoundError):
        result = evaluate_lifecycle(engine, truth, cutoffs)
    if as_json:
        print_json(result)
        return
    for when, data in result["cutoffs"].items():
        table = Table(title=f"Lifecycle stage on {when} by true churn status")
        table.add_column("truth")
        for s in result["stages"]:
            table.add_column(s, justify="right")
        table.add_column("decline+churn", justify="right")
        for group, counts in data["confusion"].items():
            share = data["summary"][group]["decline_or_churn"]
            table.add_row(group, *(f"{counts[s]:,}" for s in result["stages"]), "—" if share is None else f"{share:.1%}")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")
