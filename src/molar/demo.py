"""`molar demo`: generate a synthetic dental chain and run it through every pipeline stage."""

from __future__ import annotations

import shutil
import time
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from molar.ui.console import console, progress_bar
from molar.ui.options import EngineOpt, fail, open_engine, print_json, require_engine, settings_from

# The console login `molar demo` creates: a chain-wide clinic manager. The password is
# printed and published here, so it is for the demo warehouse only.
DEMO_USER, DEMO_PASSWORD = "demo", "molar-demo-only"


def _source_table(manifest: dict) -> Table:
    table = Table(title="Synthetic chain: source exports")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, info in sorted(manifest.get("files", {}).items()):
        if name.startswith("sources/"):
            table.add_row(name.removeprefix("sources/"), f"{info.get('rows', 0):,}")
    return table


def _std_table(engine) -> Table:
    table = Table(title="Warehouse: standardised tables (std)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("by source")
    from molar.model import CONTRACTS

    for name, contract in CONTRACTS.items():
        n = engine.count(f"std.{name}")
        by = ""
        if "source" in contract.column_names and n:
            parts = engine.rows(f"SELECT source, count(*) FROM std.{name} GROUP BY 1 ORDER BY 2 DESC")
            by = ", ".join(f"{s} {c:,}" for s, c in parts)
        table.add_row(name, f"{n:,}", by)
    return table


def demo(
    patients: Annotated[int, typer.Option("--patients", "-n", help="Distinct people in the synthetic chain.", min=10)] = 20_000,
    clinics: Annotated[int, typer.Option("--clinics", "-k", help="Clinics in the chain.", min=1, max=99)] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same chain.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Folder for the generated exports and the warehouse.")] = Path("molar-demo"),
    end_date: Annotated[str, typer.Option("--end-date", help="Last day of the synthetic history (YYYY-MM-DD).")] = "2026-10-31",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    engine_name: EngineOpt = "duckdb",
) -> None:
    """Generate a synthetic dental chain and load it through every pipeline stage."""
    require_engine(engine_name, "ingest")  # the first stage of the demo
    from molar.demo_live import day_events, replay_day
    from molar.ingest.cli import run_ingest, summary_table, totals
    from molar.predict.postop.watch import followup_summary
    from molar.privacy import scan
    from molar.profile.cli import run_profile
    from molar.profile.cli import summary_tables as profile_tables
    from molar.synth.cli import generate_with_progress

    try:
        end = date.fromisoformat(end_date)
    except ValueError as exc:
        raise fail(f"--end-date {end_date!r} is not a date; write it as YYYY-MM-DD") from exc
    out = out.resolve()
    data_dir = out / "data"
    warehouse = out / "molar.duckdb"
    # A demo run starts from scratch so its summary describes exactly this chain.
    if data_dir.exists():
        shutil.rmtree(data_dir)
    for stale in (warehouse, warehouse.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    # the previous warehouse's live event log: replayed into the new one, its events would
    # not open (their data keys went with the old file) and the clinic day would run twice
    shutil.rmtree(warehouse.with_suffix(".duckdb.events"), ignore_errors=True)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    manifest = generate_with_progress(data_dir, patients, clinics, seed, end)
    timings["generate"] = time.perf_counter() - started

    settings = settings_from(warehouse).with_overrides(as_of=end)
    with open_engine(settings) as engine:
        t0 = time.perf_counter()
        results = run_ingest(engine, [data_dir / "sources"], settings.today, show_progress=not as_json)
        timings["ingest"] = time.perf_counter() - t0
        ingest_totals = totals(results)
        t0 = time.perf_counter()
        identity = _resolve_identity(engine, end, quiet=as_json)
        timings["identity"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        profile = run_profile(engine, end, quiet=as_json)
        timings["profile"] = time.perf_counter() - t0
        std_counts = {name: engine.count(f"std.{name}") for name in _std_names()}
        recall = _recall_summary(engine, end)
        implant_patient = _latest_patient_with(engine, "IMP")
        postop = followup_summary(engine, end)
        if not as_json:
            console.rule(f"[bold]Molar demo[/] · {patients:,} people · {clinics} clinics · seed {seed}")
            console.print(_source_table(manifest))
            console.print(summary_table(results))
            console.print(_std_table(engine))
            console.print(_identity_table(identity, truth=data_dir / "truth", engine=engine))
            for table in profile_tables(engine, profile):
                console.print(table)
        live_events = day_events(engine, end)
        _add_demo_user(engine)
    # The server owns the warehouse file: the engine above is closed by now.
    t0 = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task("real time: replaying the last day", total=len(live_events))
        live = replay_day(settings, live_events, end,
                          progress=None if as_json else (lambda done, total: progress.update(task, completed=done)))
    timings["realtime"] = time.perf_counter() - t0
    if not as_json:
        console.print(_realtime_table(live))
    t0 = time.perf_counter()
    with open_engine(settings) as engine:
        plaintext = scan.scan(engine)
    timings["scan"] = time.perf_counter() - t0
    summary = {
        "out": str(out),
        "warehouse": str(warehouse),
        "people": patients,
        "clinics": clinics,
        "seed": seed,
        "source_rows": {k: v.get("rows") for k, v in manifest.get("files", {}).items()},
        "ingest": ingest_totals,
        "std_rows": std_counts,
        "identity": {k: v for k, v in identity.items() if k in ("records", "links", "ids", "golden_records")},
        "profile": {k: profile[k] for k in ("patients", "scored", "tiers", "stages", "transitions")},
        "realtime": live,
        "recall": recall,
        "postop": postop,
        "plaintext_scan": plaintext.to_dict(),
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "console": {"command": f"molar serve -w {warehouse}", "url": "http://127.0.0.1:8765/console/",
                    "user": DEMO_USER, "password": DEMO_PASSWORD, "note": "demo warehouse only"},
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"[bold green]done[/] in {sum(timings.values()):.1f}s "
            f"(generate {timings['generate']:.1f}s, ingest {timings['ingest']:.1f}s, "
            f"identity {timings['identity']:.1f}s, profile {timings['profile']:.1f}s, "
            f"real time {timings['realtime']:.1f}s, scan {timings['scan']:.1f}s) · "
            f"{ingest_totals['rows_read']:,} rows read = {ingest_totals['rows_loaded']:,} loaded + "
            f"{ingest_totals['rows_quarantined']:,} quarantined · warehouse {warehouse}"
        )
        console.print(plaintext.summary(), style="green" if not plaintext.hits else "bold red")
        by = recall["by_status"]
        console.print(f"recall: {by['overdue'] + by['due']:,} patients due within 30 days ({by['overdue']:,} overdue), "
                      f"{by['booked']:,} already booked, {by['opted_out']:,} opted out")
        console.print(f"post-op: {postop['surgeries']:,} surgeries followed up, {postop['complications_30d']:,} with a "
                      f"complication within 30 days, {postop['open_cases']:,} open cases to watch")
        console.print(f"try: molar quarantine list -w {warehouse}")
        console.print(f"     molar recall list --clinic C01 -w {warehouse}")
        console.print(f'     molar fasttrack offer --clinic C01 --department periodontics --slot "{end:%Y-%m-%d} 14:00" '
                      f"--as-of {end} -w {warehouse}")
        if implant_patient:
            console.print(f"     doctor matching / similar cases: molar doctors match --patient {implant_patient} "
                          f"--treatment IMP -w {warehouse}")
            console.print(f"     molar cases similar --patient {implant_patient} -w {warehouse}")
        console.print(f"     molar profile tiers -w {warehouse}")
        console.print(f"     molar postop list --clinic C01 -w {warehouse}")
        console.print(f"     molar segments list --as-of {end} -w {warehouse}")
        console.print(f"[bold]open the console:[/] molar serve -w {warehouse}  → http://127.0.0.1:8765/console/ "
                      f"· sign in as {DEMO_USER} / {DEMO_PASSWORD} (a password for this demo warehouse only)")


def _recall_summary(engine, end: date) -> dict:
    from datetime import timedelta

    from molar.operations.recall import recalls, summary

    return summary(recalls(engine, as_of=end, due_by=end + timedelta(days=30)))


def _latest_patient_with(engine, code: str) -> str | None:
    """A patient who had the treatment most recently: the demo's example for doctor matching and similar cases."""
    rows = engine.rows(
        """SELECT k.golden_id FROM std.treatment t JOIN std.visit v ON v.source = t.source AND v.visit_id = t.visit_id
           JOIN identity.cluster k ON k.source = v.source AND k.source_patient_key = v.source_patient_key
           WHERE t.item_code = ? ORDER BY v.visit_date DESC, k.golden_id LIMIT 1""", [code])
    return rows[0][0] if rows else None


def _add_demo_user(engine) -> None:
    from datetime import datetime

    from molar.privacy.accounts import add_user

    add_user(engine, DEMO_USER, DEMO_PASSWORD, "clinic_manager", now=datetime.now(), by="molar demo",
             purpose="molar demo")


def _realtime_table(live: dict) -> Table:
    table = Table(title=f"Real time: {live['events_posted']:,} events of {live['day']} replayed through "
                        "molar serve, then a week fast-forwarded")
    table.add_column("rule")
    table.add_column("outcome")
    table.add_column("patients / steps", justify="right")
    internal = {"waiting", "timer_fired", "woken", "then", "else", "completed", "stopped"}  # journey progress
    for d in live["decisions"]:
        if d["outcome"] not in internal:
            outcome = d["outcome"] + (f" ({d['reason']})" if d["reason"] and d["reason"] != d["outcome"] else "")
            table.add_row(d["rule"], outcome, f"{d['count']:,}")
    lat = live["event_to_decision_ms"]
    table.add_row("", "", "")
    table.add_row("messages", ", ".join(f"{k} {v:,}" for k, v in sorted(live["outbox"].items())) or "none", "")
    table.add_row("staff tasks", ", ".join(f"{k} {v:,}" for k, v in sorted(live["tasks"].items())) or "none", "")
    table.add_row("event → decision (ms)", f"p50 {lat['p50']} · p95 {lat['p95']} · p99 {lat['p99']}", "")
    if live["events_rejected"]:
        table.add_row("events rejected by the collector", str(live["events_rejected"]), "")
    return table


def _resolve_identity(engine, as_of: date, quiet: bool) -> dict:
    from molar.identity import resolve

    with progress_bar() as progress:
        task = progress.add_task("identity", total=None)

        def on_progress(*args) -> None:
            progress.update(task, description=f"identity {args[0]}" if args else "identity")

        return resolve(engine, progress=None if quiet else on_progress, as_of=as_of)


def _identity_table(summary: dict, truth: Path, engine) -> Table:
    table = Table(title="Identity: one patient, one golden ID")
    table.add_column("measure")
    table.add_column("value", justify="right")
    ids = summary.get("ids", {})
    table.add_row("source person records", f"{summary.get('records', 0):,}")
    table.add_row("golden IDs", f"{ids.get('golden_ids', 0):,}")
    table.add_row("links at the threshold", f"{summary.get('links', 0):,}")
    try:
        from molar.identity import evaluate

        scores = evaluate(engine, truth)
        pairwise = scores.get("pairwise", {})
        for key in ("precision", "recall", "f1"):
            if key in pairwise:
                table.add_row(f"pairwise {key} vs ground truth", f"{pairwise[key]:.4f}")
        clinical = scores.get("scopes", {}).get("without_wechat", {}).get("pairwise", {})
        if "f1" in clinical:
            table.add_row("pairwise F1, HIS/booking/member records", f"{clinical['f1']:.4f}")
    except Exception as exc:  # evaluation is a demo extra: never fail the demo on it
        table.add_row("evaluation", f"unavailable ({exc})")
    return table


def _std_names() -> list[str]:
    from molar.model import CONTRACTS

    return list(CONTRACTS)


def register(app: typer.Typer) -> None:
    app.command()(demo)
