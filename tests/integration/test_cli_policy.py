"""Every `molar` command is in the access policy, and every one that reads or changes
personal data checks its action before doing anything."""

from __future__ import annotations

from datetime import datetime

import click
import pytest
import typer.main
from typer.testing import CliRunner

from molar.cli import app
from molar.privacy.accounts import add_user
from molar.privacy.policy import load_policy
from molar.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(300)


def commands(group: click.Command, path: tuple[str, ...] = ()) -> dict[str, click.Command]:
    """Every leaf command by its words after `molar`."""
    subs = getattr(group, "commands", None)
    if subs is None:
        return {" ".join(path): group}
    out: dict[str, click.Command] = {}
    for name, sub in subs.items():
        out.update(commands(sub, (*path, name)))
    return out


def unmapped(group: click.Command) -> list[str]:
    return sorted(set(commands(group)) - set(load_policy().commands))


def test_every_command_is_in_the_policy():
    root = typer.main.get_command(app)
    assert unmapped(root) == []
    assert sorted(set(load_policy().commands) - set(commands(root))) == []   # no stale entries
    # A new command without an entry is found.
    root.commands["identity"].add_command(click.Command("peek", callback=lambda: None))
    assert unmapped(root) == ["identity peek"]


def arguments(command: click.Command) -> list[str]:
    """Any value for each required parameter: the policy is checked before they are used."""
    args: list[str] = []
    for p in command.params:
        if not p.required:
            continue
        if p.param_type_name == "option":
            args.append(p.opts[0])
        args.extend(["G0000000001"] * (2 if p.nargs == -1 else 1))
    return args


def test_personal_data_commands_check_their_action(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    add_user(engine, "root", "a long password", "admin", now=datetime(2026, 5, 1), by="test")
    add_user(engine, "mark", "a long password", "marketer", now=datetime(2026, 5, 1), by="test")
    engine.close()
    root = typer.main.get_command(app)
    runner = CliRunner()
    guarded = {c: a for c, a in load_policy().commands.items() if a is not None}
    assert len(guarded) >= 20
    nobody = {"MOLAR_WAREHOUSE": str(db), "MOLAR_TOKEN": "", "MOLAR_USER": ""}
    marketer = {**nobody, "MOLAR_USER": "mark", "MOLAR_PASSWORD": "a long password"}
    wrong = []
    for name, (resource, action) in sorted(guarded.items()):
        argv = [*name.split(), *arguments(commands(root)[name])]
        r = runner.invoke(app, argv, env=nobody, input="y\n")
        if r.exit_code != 2 or f"needs a role that may {action} {resource}" not in r.output:
            wrong.append((name, "without credentials", r.exit_code, r.output[-300:]))
        if not load_policy().check("marketer", resource, action).allowed:
            r = runner.invoke(app, argv, env=marketer, input="y\n")
            if r.exit_code != 2 or f"the role marketer may not {action} {resource}" not in r.output:
                wrong.append((name, "as a marketer", r.exit_code, r.output[-300:]))
    assert wrong == []
