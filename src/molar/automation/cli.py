"""`molar rules list|validate|enable|disable|why|decisions|simulate`, `molar outbox list|dispatch`,
`molar tasks list|done`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from molar.privacy.cli import cli_access, cli_principal
from molar.ui.console import console, progress_bar
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    settings_from,
    warehouse_engine,
)

rules_app = typer.Typer(help="Rules and journeys: list, validate, enable/disable, why, simulate.",
                        no_args_is_help=True)
outbox_app = typer.Typer(help="Outbox: messages queued, sent, failed or suppressed.", no_args_is_help=True)
tasks_app = typer.Typer(help="Staff tasks opened by journeys (nurse follow-up, VIP advisor, service recovery).",
                        no_args_is_help=True)

LangOpt = Annotated[str, typer.Option("--lang", help="Language of explanations: en or zh.")]


def _catalogue(settings: Any, directory: Path | None = None) -> Any:
    from molar.automation.catalogue import load_catalogue
    from molar.automation.yamlio import CatalogueError

    with failing_on(CatalogueError):
        return load_catalogue(directory or getattr(settings, "rules_dir", None))


def _policy(settings: Any, path: Path | None = None) -> Any:
    from molar.automation.guards import load_policy
    from molar.automation.yamlio import CatalogueError

    with failing_on(CatalogueError):
        return load_policy(path or getattr(settings, "automation_policy", None))


def _now(settings: Any) -> Any:
    from molar.automation.clock import local_now

    return local_now()


@rules_app.command("list")
def list_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Rules with their trigger, purpose, holdout, enabled state and version."""
    from molar.automation.admin import list_rules

    settings = settings_from(warehouse)
    catalogue = _catalogue(settings)
    with open_engine(settings) as engine:
        rules = list_rules(engine, catalogue)
    if as_json:
        print_json({"rules": rules})
        return
    table = Table(title=f"Rules ({catalogue.directory})")
    for col in ("rule", "purpose", "trigger", "holdout", "enabled", "active", "version"):
        table.add_column(col)
    for r in rules:
        state = "yes" if r["enabled"] else "no"
        if r["override"]:
            state += " (override)"
        table.add_row(f"{r['key']}\n{r['name_en']}", r["purpose"], r["trigger_en"], f"{r['holdout_percent']:g}%",
                      state, str(r["active_journeys"]), r["version"])
    console.print(table)


@rules_app.command("validate")
def validate_command(
    directory: Annotated[Path | None, typer.Argument(help="Folder of rule files (default: the configured catalogue).")] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Contact policy YAML to check too.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check rule files, templates and the contact policy; errors give file:line and the fix."""
    settings = settings_from(None)
    catalogue = _catalogue(settings, directory)
    policy_obj = _policy(settings, policy)
    summary = {"directory": str(catalogue.directory), "rules": sorted(catalogue.rules),
               "templates": sorted(catalogue.templates), "policy": str(policy_obj.path)}
    if as_json:
        print_json(summary)
    else:
        console.print(f"[bold green]ok[/] {len(catalogue.rules)} rules, {len(catalogue.templates)} templates in "
                      f"{catalogue.directory}; policy {policy_obj.path}")


def _toggle(key: str, enabled: bool, warehouse: Path | None, by: str | None, as_json: bool) -> None:
    from molar.automation.admin import set_rule_enabled

    settings = settings_from(warehouse)
    catalogue = _catalogue(settings)
    with open_engine(settings) as engine:
        try:
            with engine.transaction():  # the audit row only with the change
                cli_access(engine, "rule", "change", command=f"molar rules {'enable' if enabled else 'disable'}",
                           detail={"rule": key, "after": {"enabled": enabled}})
                row = set_rule_enabled(engine, catalogue, key, enabled, now=_now(settings), by=by)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from exc
    if as_json:
        print_json(row)
    else:
        console.print(f"rule [bold]{key}[/] {'enabled' if enabled else 'disabled'}"
                      + ("" if enabled else "; running journeys stop at their next step"))


ByOpt = Annotated[str | None, typer.Option("--by", help="Who made the change (kept with it).")]


@rules_app.command("enable")
def enable_command(key: Annotated[str, typer.Argument(help="Rule key.")], warehouse: WarehouseOpt = None,
                   by: ByOpt = None, as_json: JsonOpt = False) -> None:
    """Enable a rule (stored in the warehouse, overrides the YAML)."""
    _toggle(key, True, warehouse, by, as_json)


@rules_app.command("disable")
def disable_command(key: Annotated[str, typer.Argument(help="Rule key.")], warehouse: WarehouseOpt = None,
                    by: ByOpt = None, as_json: JsonOpt = False) -> None:
    """Disable a rule (stored in the warehouse, overrides the YAML)."""
    _toggle(key, False, warehouse, by, as_json)


@rules_app.command("why")
def why_command(
    patient: Annotated[str, typer.Argument(help="Golden ID, e.g. G0000000042.")],
    rule: Annotated[str, typer.Argument(help="Rule key.")],
    warehouse: WarehouseOpt = None,
    lang: LangOpt = "en",
    as_json: JsonOpt = False,
) -> None:
    """Why the patient did or did not get the rule's action, in plain words."""
    from molar.automation.explain import ExplainError, render_why, why
    from molar.automation.facts import WarehouseFacts

    settings = settings_from(warehouse)
    catalogue = _catalogue(settings)
    policy = _policy(settings)
    with open_engine(settings) as engine:
        cli_access(engine, "decision", "read", command="molar rules why", patient=patient, detail={"rule": rule})
        with failing_on(ExplainError):
            sentences = why(engine, patient, rule, catalogue, now=_now(settings),
                            facts=WarehouseFacts(policy.complaint_window, policy.complaint_resolved_by))
    if as_json:
        print_json({"patient": patient, "rule": rule, "sentences": [s.as_dict() for s in sentences]})
    else:
        console.print(render_why(sentences, "zh" if lang == "zh" else "en"), markup=False, highlight=False)


@rules_app.command("decisions")
def decisions_command(
    patient: Annotated[str, typer.Argument(help="Golden ID.")],
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most decisions to show.")] = 50,
    warehouse: WarehouseOpt = None,
    lang: LangOpt = "en",
    as_json: JsonOpt = False,
) -> None:
    """A patient's rule decisions, newest first."""
    from molar.automation.decisions import decisions_for

    with warehouse_engine(warehouse) as engine:
        cli_access(engine, "decision", "read", command="molar rules decisions", patient=patient, detail={"rule": rule})
        rows = decisions_for(engine, patient, rule, limit)
    if as_json:
        print_json({"patient": patient, "decisions": rows})
        return
    table = Table(title=f"Decisions for {patient}")
    for col in ("at", "rule", "step", "outcome", "reason"):
        table.add_column(col)
    for d in rows:
        table.add_row(f"{d['decided_at']:%Y-%m-%d %H:%M}", d["rule_key"], d["step"] or "", d["outcome"],
                      (d["reason_zh"] if lang == "zh" else d["reason_en"]) or "")
    console.print(table)


def _parse_date(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"{name} {value!r} is not a date; write it as YYYY-MM-DD") from exc


@rules_app.command("simulate")
def simulate_command(
    rule: Annotated[str, typer.Argument(help="Rule key.")],
    since: Annotated[str, typer.Option("--since", help="First day to replay (YYYY-MM-DD).")],
    until: Annotated[str | None, typer.Option("--until", help="Last day to replay (default: the last day with data).")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay history through a rule with the real guards on a scratch copy; weekly counts."""
    from molar.automation.simulate import SimulateError, simulate

    settings = settings_from(warehouse)
    catalogue = _catalogue(settings)
    policy = _policy(settings)
    start = _parse_date("--since", since)
    end = _parse_date("--until", until)
    assert start is not None
    with open_engine(settings) as engine, progress_bar() as bar:
        task = bar.add_task(f"simulate {rule}", total=None)
        with failing_on(SimulateError):
            report = simulate(engine, rule, start, end, catalogue=catalogue, policy=policy,
                              progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json(report)
        return
    table = Table(title=f"Simulation of {rule} · {report['since']} … {report['until']} · "
                        f"{report['events_replayed']:,} events replayed")
    columns = [("triggered", "triggered"), ("started", "started"), ("condition_false", "cond. false"),
               ("held_out", "held out"), ("cooldown", "cooldown"), ("would_send", "would send"),
               ("suppressed", "suppressed"), ("tasks", "tasks"), ("coupons", "coupons")]
    always = {"triggered", "started", "held_out", "would_send", "suppressed"}
    shown = [(k, h) for k, h in columns if k in always or report["totals"][k]]  # hide all-zero extras
    table.add_column("week", no_wrap=True)
    for key, header in shown:
        table.add_column(header, justify="left" if key == "suppressed" else "right")
    for w in [*report["weeks"], {"week": "total", **report["totals"]}]:
        cells = []
        for key, _ in shown:
            if key == "suppressed":
                cells.append(", ".join(f"{k} {v}" for k, v in sorted(w[key].items())) or "0")
            else:
                cells.append(str(w[key]))
        table.add_row(w["week"], *cells)
    console.print(table)
    later = report["after_window"]
    console.print(f"after the window: {later['messages_due_later']} messages due later, "
                  f"{later['journeys_still_waiting']} journeys still waiting")
    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]")


@outbox_app.command("list")
def outbox_list_command(
    status: Annotated[str | None, typer.Option("--status", help="queued | sending | sent | failed | suppressed")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this golden ID.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most messages to show.")] = 50,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Messages in the outbox, newest first."""
    from molar.delivery.outbox import STATUSES, list_messages

    if status and status not in STATUSES:
        raise fail(f"--status {status!r}: one of {', '.join(STATUSES)}")
    from molar.privacy.masking import View

    with warehouse_engine(warehouse) as engine:
        principal = cli_principal(engine, "outbox", "read", bootstrap=True)
        view = View(principal)
        messages = [replace(m, rendered_text=view("free_text", m.rendered_text), last_error=view("free_text", m.last_error))
                    for m in list_messages(engine, status=status, golden_id=patient, limit=limit)]
        cli_access(engine, "outbox", "read", command="molar outbox list", patient=patient, fields=view.shown,
                   detail={"masked": sorted(view.masked), "messages": len(messages)}, principal=principal)
    if as_json:
        print_json({"messages": [m.as_dict() for m in messages]})
        return
    table = Table(title="Outbox (newest first; --json for every field)")
    for col in ("patient", "rule", "channel", "status", "tries", "when", "reason"):
        table.add_column(col, no_wrap=col in ("patient", "when", "status"))
    for m in messages:
        when = m.sent_at or m.next_attempt_at or m.updated_at
        reason = m.reason_code or ""
        if m.status == "failed" and m.last_error:
            reason = m.last_error[:60]
        table.add_row(m.golden_id, m.rule_key or "", f"{m.channel} {m.purpose}", m.status, str(m.attempts),
                      f"{when:%m-%d %H:%M}", reason)
    console.print(table)


@outbox_app.command("dispatch")
def outbox_dispatch_command(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Send the messages that are due now through the configured channels (no server needed)."""
    from molar.automation.runtime import Automation

    settings = settings_from(warehouse)
    with failing_on(ValueError):
        automation = Automation.from_settings(settings, catalogue=_catalogue(settings), policy=_policy(settings))
    with open_engine(settings) as engine:
        results = automation.dispatch(engine, automation.clock())
    summary: dict[str, int] = {}
    for r in results:
        summary[r.outcome] = summary.get(r.outcome, 0) + 1
    if as_json:
        print_json({"dispatched": len(results), "outcomes": summary})
    else:
        console.print(f"{len(results)} messages handled: " + (", ".join(f"{k} {v}" for k, v in summary.items()) or "none due"))


@tasks_app.command("list")
def tasks_list_command(
    status: Annotated[str | None, typer.Option("--status", help="open | done")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Only this golden ID.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most tasks to show.")] = 50,
    warehouse: WarehouseOpt = None,
    lang: LangOpt = "en",
    as_json: JsonOpt = False,
) -> None:
    """Staff tasks, soonest due first."""
    from molar.delivery.tasks import list_tasks

    with warehouse_engine(warehouse) as engine:
        tasks = list_tasks(engine, status=status, golden_id=patient, limit=limit)
        cli_access(engine, "task", "read", command="molar tasks list", patient=patient, detail={"tasks": len(tasks)})
    if as_json:
        print_json({"tasks": [t.as_dict() for t in tasks]})
        return
    table = Table(title="Staff tasks")
    for col in ("task", "kind", "patient", "role", "title", "due", "status"):
        table.add_column(col)
    for t in tasks:
        table.add_row(t.task_id, t.kind, t.golden_id, t.role or "", (t.title_zh if lang == "zh" else t.title_en) or "",
                      f"{t.due_at:%Y-%m-%d %H:%M}", t.status)
    console.print(table)


@tasks_app.command("done")
def tasks_done_command(
    task_id: Annotated[str, typer.Argument(help="Task ID (from `molar tasks list`).")],
    by: ByOpt = None,
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a task done (a resolved service-recovery task closes the patient's complaint)."""
    from molar.delivery.tasks import TaskError, resolve_task

    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        principal = cli_principal(engine, "task", "change", bootstrap=True)
        with failing_on(TaskError):
            task = resolve_task(engine, task_id, now=_now(settings), by=by or principal.name, note=note)
    if as_json:
        print_json(task.as_dict())
    else:
        console.print(f"task {task.task_id} ({task.kind}) done at {task.resolved_at:%Y-%m-%d %H:%M}")


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(tasks_app, name="tasks")
