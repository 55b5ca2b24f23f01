"""`molar users|tokens|audit` through the access policy, as a subprocess on a real warehouse."""

import getpass
import json
import os
import subprocess
import sys

from molar.warehouse import open_warehouse


def molar(tmp_path, *args, **env):
    full = {**os.environ, "MOLAR_WAREHOUSE": str(tmp_path / "molar.duckdb"), **env}
    for name in ("MOLAR_TOKEN", "MOLAR_USER", "MOLAR_PASSWORD"):
        if name not in env:
            full.pop(name, None)
    return subprocess.run([sys.executable, "-m", "molar", *args], capture_output=True, text=True, env=full,
                          cwd=tmp_path, timeout=120)


ALICE = {"MOLAR_USER": "alice", "MOLAR_PASSWORD": "correct horse battery"}
AUDREY = {"MOLAR_USER": "audrey", "MOLAR_PASSWORD": "another good one"}


def test_first_admin_then_everything_needs_a_role(tmp_path):
    r = molar(tmp_path, "users", "add", "alice", "--role", "admin", MOLAR_NEW_PASSWORD=ALICE["MOLAR_PASSWORD"])
    assert r.returncode == 0, r.stderr
    r = molar(tmp_path, "tokens", "create", "his-prod", "--role", "his")   # no second bootstrap
    assert r.returncode == 2 and "needs a role that may manage account" in r.stderr
    r = molar(tmp_path, "tokens", "create", "his-prod", "--role", "his", **ALICE)
    assert r.returncode == 0 and r.stdout.strip().startswith("mt_")
    r = molar(tmp_path, "users", "add", "audrey", "--role", "auditor", MOLAR_NEW_PASSWORD=AUDREY["MOLAR_PASSWORD"],
              **ALICE)
    assert r.returncode == 0, r.stderr
    r = molar(tmp_path, "audit", "list", "--json", **ALICE)   # an admin is not an auditor
    assert r.returncode == 2 and "may not read audit" in r.stderr
    r = molar(tmp_path, "audit", "list", "--json", **AUDREY)
    rows = json.loads(r.stdout)
    assert [(x["actor"], x["action"], x["resource"]) for x in rows][:2] == [
        ("alice", "role.change", "user:audrey"), ("alice", "role.change", "token:his-prod")]
    assert molar(tmp_path, "audit", "verify", **AUDREY).returncode == 0

    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    engine.execute("UPDATE ops.audit_log SET role = 'front_desk' WHERE seq = 3")
    engine.close()
    r = molar(tmp_path, "audit", "verify", **AUDREY)
    assert r.returncode == 1 and "row 3 was changed after it was written" in r.stderr


def test_cli_reads_of_patients_go_through_the_policy_and_are_audited(tmp_path):
    assert molar(tmp_path, "rules", "decisions", "G0000000001", "--json").returncode == 0   # no admin yet
    molar(tmp_path, "users", "add", "alice", "--role", "admin", MOLAR_NEW_PASSWORD=ALICE["MOLAR_PASSWORD"])
    r = molar(tmp_path, "rules", "decisions", "G0000000001", "--json")
    assert r.returncode == 2 and "needs a role that may read decision" in r.stderr
    for user, role in (("nina", "nurse"), ("andy", "analyst"), ("audrey", "auditor")):
        molar(tmp_path, "users", "add", user, "--role", role, MOLAR_NEW_PASSWORD="a long password", **ALICE)
    nurse = {"MOLAR_USER": "nina", "MOLAR_PASSWORD": "a long password"}
    analyst = {"MOLAR_USER": "andy", "MOLAR_PASSWORD": "a long password"}
    r = molar(tmp_path, "rules", "decisions", "G0000000001", "--json", **nurse)
    assert r.returncode == 2 and "the role nurse may not read decision" in r.stderr
    assert molar(tmp_path, "rules", "decisions", "G0000000001", "--json", **analyst).returncode == 0
    r = molar(tmp_path, "audit", "list", "--json", "--action", "decision.read",
              MOLAR_USER="audrey", MOLAR_PASSWORD="a long password")
    assert [(x["actor"], x["role"], x["patient"], x["purpose"]) for x in json.loads(r.stdout)] == [
        ("andy", "analyst", "G0000000001", "molar rules decisions"),
        (f"cli:{getpass.getuser()}", "admin", "G0000000001", "molar rules decisions")]
