"""Staff accounts (argon2 passwords, sign-in sessions) and API tokens, each bound to a
role of the access policy and optionally to clinics.

Only digests are stored: argon2id for passwords, SHA-256 for tokens (random 32-byte
tokens need no slow hash). A token is shown once, when it is created.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from molar.privacy import audit
from molar.privacy.policy import load_policy
from molar.warehouse import Engine

SESSION_TTL = timedelta(hours=8)
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Unknown users are checked against this, so they take as long as known ones.
_DUMMY_HASH = _hasher.hash("molar-dummy-password")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in user, an API token or a configured key."""

    name: str
    role: str
    kind: str                                  # session | api | config
    source: str                                # stamped on events this principal sends
    types: frozenset[str] = frozenset()        # event types it may send
    clinics: frozenset[str] | None = None      # None: every clinic

    @property
    def source_system(self) -> bool:
        return load_policy().role(self.role).source_system


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def principal_for(name: str, role: str, kind: str, *, source: str | None = None,
                  clinics: Iterable[str] | None = None, types: Iterable[str] | None = None) -> Principal:
    """A principal whose event types are its role's, narrowed by ``types`` when given."""
    r = load_policy().role(role)
    allowed = r.event_types if types is None else r.event_types & frozenset(types)
    return Principal(name, role, kind, source or role, allowed,
                     frozenset(clinics) if clinics else None)


def _check_role(role: str) -> None:
    load_policy().role(role)  # raises PolicyError naming the roles


def _changed(engine: Engine, by: str, by_role: str, action: str, resource: str, detail: dict[str, Any],
             now: datetime, purpose: str) -> None:
    audit.record(engine, actor=by, role=by_role, action=action, resource=resource,
                 purpose=purpose, detail=detail, at=now)


# ---------------------------------------------------------------------- users
def add_user(engine: Engine, username: str, password: str, role: str, *, clinics: Iterable[str] | None = None,
             now: datetime, by: str, by_role: str = "admin", purpose: str = "molar users add") -> None:
    _check_role(role)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    with engine.transaction():
        if engine.scalar("SELECT count(*) FROM ops.staff_user WHERE username = ?", [username]):
            raise AccountError(f"the user {username!r} exists already; use `molar users set-role` to change the role")
        clinic_list = sorted(clinics) if clinics else None
        engine.execute("INSERT INTO ops.staff_user VALUES (?, ?, ?, ?, false, ?, ?)",
                       [username, _hasher.hash(password), role, clinic_list, now, now])
        _changed(engine, by, by_role, "role.change", f"user:{username}",
                 {"user": username, "before": None, "after": role, "clinics": clinic_list}, now, purpose)


def set_role(engine: Engine, username: str, role: str, *, clinics: Iterable[str] | None = None,
             now: datetime, by: str, by_role: str = "admin", purpose: str = "molar users set-role") -> None:
    _check_role(role)
    with engine.transaction():
        before = engine.rows("SELECT role FROM ops.staff_user WHERE username = ?", [username])
        if not before:
            raise AccountError(f"no user {username!r}; add one with `molar users add`")
        clinic_list = sorted(clinics) if clinics else None
        engine.execute("UPDATE ops.staff_user SET role = ?, clinics = ?, updated_at = ? WHERE username = ?",
                       [role, clinic_list, now, username])
        # Sessions carry the role they were opened with: end them.
        engine.execute("UPDATE ops.access_token SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                       [now, username])
        _changed(engine, by, by_role, "role.change", f"user:{username}",
                 {"user": username, "before": before[0][0], "after": role, "clinics": clinic_list}, now, purpose)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    return engine.arrow(
        "SELECT username, role, clinics, disabled, created_at, updated_at FROM ops.staff_user ORDER BY username"
    ).to_pylist()


def check_password(engine: Engine, username: str, password: str) -> Principal | None:
    """The user's principal for a right password; None otherwise (same time either way)."""
    rows = engine.rows(
        "SELECT password_hash, role, clinics FROM ops.staff_user WHERE username = ? AND NOT disabled", [username])
    stored = rows[0][0] if rows else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if not rows or rows[0][1] not in load_policy().roles:
        return None
    if _hasher.check_needs_rehash(stored):
        engine.execute("UPDATE ops.staff_user SET password_hash = ? WHERE username = ?",
                       [_hasher.hash(password), username])
    return principal_for(username, rows[0][1], "session", clinics=rows[0][2])


def sign_in(engine: Engine, username: str, password: str, *, now: datetime,
            ttl: timedelta = SESSION_TTL) -> tuple[str, Principal] | None:
    """A new session token for a right password; None otherwise."""
    principal = check_password(engine, username, password)
    if principal is None:
        return None
    token = "ms_" + secrets.token_urlsafe(32)
    clinics = sorted(principal.clinics) if principal.clinics else None
    engine.execute(
        "INSERT INTO ops.access_token VALUES (?, 'session', ?, ?, NULL, ?, ?, ?, ?, NULL)",
        [token_digest(token), username, principal.role, clinics, username, now, now + ttl])
    return token, principal


def has_admin(engine: Engine) -> bool:
    """Whether any active user or API token has the admin role (else the CLI may bootstrap one)."""
    return bool(engine.scalar(
        "SELECT (SELECT count(*) FROM ops.staff_user WHERE role = 'admin' AND NOT disabled) "
        "+ (SELECT count(*) FROM ops.access_token WHERE role = 'admin' AND kind = 'api' AND revoked_at IS NULL)"))


# ---------------------------------------------------------------------- tokens
def create_token(engine: Engine, name: str, role: str, *, source: str | None = None,
                 clinics: Iterable[str] | None = None, now: datetime, by: str, by_role: str = "admin",
                 purpose: str = "molar tokens create") -> str:
    """A new API token for a system; returns the token (shown once)."""
    _check_role(role)
    with engine.transaction():
        if engine.scalar("SELECT count(*) FROM ops.access_token WHERE kind = 'api' AND name = ? "
                         "AND revoked_at IS NULL", [name]):
            raise AccountError(f"an API token named {name!r} exists; revoke it first or pick another name")
        token = "mt_" + secrets.token_urlsafe(32)
        principal = principal_for(name, role, "api", source=source, clinics=clinics)
        clinic_list = sorted(principal.clinics) if principal.clinics else None
        engine.execute(
            "INSERT INTO ops.access_token VALUES (?, 'api', ?, ?, ?, ?, NULL, ?, NULL, NULL)",
            [token_digest(token), name, role, principal.source, clinic_list, now])
        _changed(engine, by, by_role, "role.change", f"token:{name}",
                 {"token": name, "before": None, "after": role, "clinics": clinic_list}, now, purpose)
    return token


def revoke_token(engine: Engine, name: str, *, now: datetime, by: str, by_role: str = "admin",
                 purpose: str = "molar tokens revoke") -> None:
    with engine.transaction():
        rows = engine.rows("SELECT role FROM ops.access_token WHERE kind = 'api' AND name = ? "
                           "AND revoked_at IS NULL", [name])
        if not rows:
            raise AccountError(f"no active API token named {name!r}; see `molar tokens list`")
        engine.execute("UPDATE ops.access_token SET revoked_at = ? WHERE kind = 'api' AND name = ? "
                       "AND revoked_at IS NULL", [now, name])
        _changed(engine, by, by_role, "role.change", f"token:{name}",
                 {"token": name, "before": rows[0][0], "after": None}, now, purpose)


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    return engine.arrow(
        "SELECT name, role, source, clinics, created_at, revoked_at FROM ops.access_token "
        "WHERE kind = 'api' ORDER BY name, created_at").to_pylist()


def find_token(engine: Engine, token: str, *, now: datetime) -> Principal | None:
    """The principal of a live API or session token."""
    rows = engine.rows(
        "SELECT kind, name, role, source, clinics FROM ops.access_token WHERE token_sha256 = ? "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", [token_digest(token), now])
    if not rows:
        return None
    kind, name, role, source, clinics = rows[0]
    if role not in load_policy().roles:
        return None  # a role removed from the policy grants nothing
    return principal_for(name, role, kind, source=source, clinics=clinics)
