"""`molar users add|set-role|list`, `molar tokens create|list|revoke`, `molar audit list|verify`.

CLI commands go through the same access policy as the API: the caller is the token in
``MOLAR_TOKEN`` or the user in ``MOLAR_USER`` (password from ``MOLAR_PASSWORD`` or a
prompt). Before any admin exists (a fresh or demo warehouse), the local operator acts as
admin: ``molar users add`` and ``molar tokens create`` create the first one, and commands
that read personal data (``molar profile show``, ``molar rules why|decisions``) work
without credentials. Those commands call :func:`cli_access`, which also writes the audit
row.
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from molar.privacy import audit
from molar.privacy.accounts import (
    AccountError,
    Principal,
    add_user,
    check_password,
    create_token,
    find_token,
    has_admin,
    list_tokens,
    list_users,
    revoke_token,
    set_role,
)
from molar.privacy.policy import PolicyError, load_policy
from molar.ui.console import console, err_console
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    print_json,
    warehouse_engine,
)
from molar.warehouse import Engine

users_app = typer.Typer(help="Staff accounts: add, change role, list.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for systems: create, list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of personal-data reads and changes: list, verify.",
                        no_args_is_help=True)

RoleOpt = Annotated[str, typer.Option("--role", help="A role of the access policy, e.g. front_desk, his, auditor.")]
ClinicOpt = Annotated[list[str] | None, typer.Option("--clinic", help="Limit to this clinic (repeatable).")]


_now = audit.clinic_now


def cli_principal(engine: Engine, resource: str, action: str, *, bootstrap: bool = False) -> Principal:
    """Who runs this command, checked against the policy; exits with a clear message if not allowed."""
    token, user = os.environ.get("MOLAR_TOKEN"), os.environ.get("MOLAR_USER")
    if token:
        principal = find_token(engine, token, now=_now())
        if principal is None:
            raise fail("MOLAR_TOKEN is not a live token here (unknown, revoked or expired) / 令牌无效")
    elif user:
        password = os.environ.get("MOLAR_PASSWORD") or typer.prompt(f"password for {user}", hide_input=True)
        principal = check_password(engine, user, password)
        if principal is None:
            raise fail("wrong user name or password / 用户名或密码错误")
    elif bootstrap and not has_admin(engine):
        return Principal(f"cli:{getpass.getuser()}", "admin", "config", "cli")
    else:
        raise fail(f"this command needs a role that may {action} {resource}: set MOLAR_TOKEN to an API token "
                   "(molar tokens create) or MOLAR_USER to your user name / 此命令需要授权：请设置 MOLAR_TOKEN 或 MOLAR_USER")
    verdict = load_policy().check(principal.role, resource, action)
    if not verdict.allowed:
        raise fail(f"{principal.name!r} may not do this: {verdict.reason} / 无此权限")
    return principal


def _run(fn) -> Any:
    with failing_on(AccountError, PolicyError):
        return fn()


def _print(rows: list[dict[str, Any]], columns: list[str], as_json: bool, title: str) -> None:
    if as_json:
        print_json(rows)
        return
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*("" if r[c] is None else ", ".join(r[c]) if isinstance(r[c], list) else str(r[c])
                        for c in columns))
    console.print(table)


def cli_access(engine: Engine, resource: str, action: str, *, command: str, patient: str | None = None,
               fields: Any = (), detail: dict[str, Any] | None = None,
               principal: Principal | None = None) -> Principal:
    """Check the caller of a CLI command against the policy (unless ``principal`` was
    already checked for this action) and audit the read or change."""
    principal = principal or cli_principal(engine, resource, action, bootstrap=True)
    audit.record(engine, actor=principal.name, role=principal.role, action=f"{resource}.{action}",
                 resource=command, purpose=command, patient=patient, fields=fields, detail=detail)
    return principal


@users_app.command("add")
def users_add(username: str, role: RoleOpt, clinic: ClinicOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Add a staff user; asks for the password twice (or reads MOLAR_NEW_PASSWORD)."""
    with warehouse_engine(warehouse) as engine:
        by = cli_principal(engine, "account", "manage", bootstrap=True)
        password = os.environ.get("MOLAR_NEW_PASSWORD") or typer.prompt(
            f"password for {username}", hide_input=True, confirmation_prompt=True)
        _run(lambda: add_user(engine, username, password, role, clinics=clinic, now=_now(), by=by.name,
                              by_role=by.role))
    console.print(f"added user {username} with role {role}" + (f" for clinics {', '.join(clinic)}" if clinic else ""))


@users_app.command("set-role")
def users_set_role(username: str, role: RoleOpt, clinic: ClinicOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Change a user's role (and clinics); ends the user's open sessions."""
    with warehouse_engine(warehouse) as engine:
        by = cli_principal(engine, "account", "manage")
        _run(lambda: set_role(engine, username, role, clinics=clinic, now=_now(), by=by.name, by_role=by.role))
    console.print(f"{username} now has the role {role}")


@users_app.command("list")
def users_list(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Staff users, their roles and clinics (never passwords)."""
    with warehouse_engine(warehouse) as engine:
        cli_principal(engine, "account", "manage")
        rows = list_users(engine)
    _print(rows, ["username", "role", "clinics", "disabled", "created_at"], as_json, "Users")


@tokens_app.command("create")
def tokens_create(name: str, role: RoleOpt, source: Annotated[str | None, typer.Option(
        "--source", help="Source system stamped on its events (default: the role).")] = None,
        clinic: ClinicOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Create an API token for a system; prints it once (only its digest is kept)."""
    with warehouse_engine(warehouse) as engine:
        by = cli_principal(engine, "account", "manage", bootstrap=True)
        token = _run(lambda: create_token(engine, name, role, source=source, clinics=clinic, now=_now(),
                                          by=by.name, by_role=by.role))
    err_console.print(f"API token {name} (role {role}); store it now, it is not shown again:")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """API tokens (names, roles; never the tokens)."""
    with warehouse_engine(warehouse) as engine:
        cli_principal(engine, "account", "manage")
        rows = list_tokens(engine)
    _print(rows, ["name", "role", "source", "clinics", "created_at", "revoked_at"], as_json, "API tokens")


@tokens_app.command("revoke")
def tokens_revoke(name: str, warehouse: WarehouseOpt = None) -> None:
    """Revoke an API token (a running server stops accepting it within 5 seconds)."""
    with warehouse_engine(warehouse) as engine:
        by = cli_principal(engine, "account", "manage")
        _run(lambda: revoke_token(engine, name, now=_now(), by=by.name, by_role=by.role))
    console.print(f"revoked {name}")


@audit_app.command("list")
def audit_list(
    patient: Annotated[str | None, typer.Option("--patient", help="Golden or provisional ID.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="User or token name.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. patient.read, rule.change.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 100,
    warehouse: WarehouseOpt = None, as_json: JsonOpt = False,
) -> None:
    """Audit rows, newest first (auditors only)."""
    with warehouse_engine(warehouse) as engine:
        cli_principal(engine, "audit", "read")
        rows = audit.list_entries(engine, patient=patient, actor=actor, action=action, limit=limit)
    _print(rows, ["seq", "recorded_at", "actor", "role", "action", "resource", "patient", "fields", "purpose"],
           as_json, "Audit log")


@audit_app.command("verify")
def audit_verify(warehouse: WarehouseOpt = None) -> None:
    """Recompute the hash chain; exit 1 and name the first bad row if it was tampered with."""
    with warehouse_engine(warehouse) as engine:
        cli_principal(engine, "audit", "read")
        result = audit.verify(engine)
    if not result.ok:
        err_console.print(f"[bold red]audit log broken:[/] {result.problem} / 审计日志被篡改")
        raise typer.Exit(code=1)
    console.print(f"audit log intact: {result.rows} rows; head hash {result.head_hash} "
                  "(keep it elsewhere to detect rows cut from the end)")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(audit_app, name="audit")


def clinic_caller(engine: Engine, action: str, clinic: str) -> Any:
    """The principal checked for ``operations.<action>`` at one clinic: a user limited to some
    clinics may ask only for those, and the clinic must exist."""
    principal = cli_principal(engine, "operations", action, bootstrap=True)
    check_clinic(engine, principal, clinic)
    return principal


def check_clinic(engine: Engine, principal: Any, clinic: str) -> None:
    """``--clinic`` must be one of the principal's clinics (when limited) and exist."""
    if principal.clinics is not None and clinic not in principal.clinics:
        raise fail(f"{principal.name!r} works at {', '.join(sorted(principal.clinics))}, not {clinic} / 无权查看该诊所")
    known = [r[0] for r in engine.rows("SELECT clinic_id FROM std.clinic ORDER BY 1")]
    if clinic not in known:
        raise fail(f"--clinic {clinic!r} is not a clinic in this warehouse (clinics: {', '.join(known) or 'none yet'}) "
                   "/ 诊所编号不存在")


def patient_contacts(engine: Engine, principal: Any, ids: list[str], command: str, action: str) -> dict[str, dict[str, Any]]:
    """Name and mobile per patient at the principal's field levels; every patient shown with
    a personal field in full gets an audit row, and the listing one of its own."""
    from molar.privacy.fields import read_golden
    from molar.privacy.masking import View

    view = View(principal)
    out: dict[str, dict[str, Any]] = {}
    if ids:
        for row in read_golden(engine, "golden_id, name, mobile", "WHERE golden_id IN (SELECT unnest(?))",
                               [ids]).to_pylist():
            out[row["golden_id"]] = {"name": view("name", row["name"]), "mobile": view("mobile", row["mobile"])}
    if view.shown:
        for golden_id in ids:
            cli_access(engine, "operations", action, command=command, patient=golden_id, fields=view.shown,
                       principal=principal)
    cli_access(engine, "operations", action, command=command, fields=view.shown,
               detail={"patients": len(ids), "masked": sorted(view.masked)}, principal=principal)
    return out
