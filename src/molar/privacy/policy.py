"""The access policy: role × resource × action, default deny, from ``policy.yaml``.

One file says who may do what; :func:`load_policy` checks it (errors name the file, the
entry and the fix) and :class:`Policy` answers. Enforcement lives in one place per entry
point: ``molar.realtime.auth.permit`` for API routes, :func:`molar.privacy.cli.cli_principal`
for CLI commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from molar.model.events import INBOUND_EVENT_TYPES

POLICY_FILE = Path(__file__).with_name("policy.yaml")
LEVELS = ("full", "masked", "hidden")


class PolicyError(ValueError):
    """The policy file is wrong; the message says where and what to change."""


@dataclass(frozen=True)
class Role:
    name: str
    allow: frozenset[tuple[str, str]]          # (resource, action)
    fields: dict[str, str]                     # personal field -> full | masked | hidden
    event_types: frozenset[str]
    source_system: bool


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class Policy:
    actions: frozenset[tuple[str, str]]
    fields: tuple[str, ...]
    roles: dict[str, Role]
    public: frozenset[str]                     # "METHOD /path" open without a credential
    commands: dict[str, tuple[str, str] | None]  # CLI command -> (resource, action), None: no personal data

    def check(self, role: str, resource: str, action: str) -> Verdict:
        if (resource, action) not in self.actions:
            raise PolicyError(f"{resource}.{action} is not an action in {POLICY_FILE.name}; add it under resources")
        r = self.roles.get(role)
        if r is None:
            return Verdict(False, f"the role {role!r} is not defined in the access policy")
        if (resource, action) in r.allow:
            return Verdict(True, f"the role {role} may {action} {resource}")
        return Verdict(False, f"the role {role} may not {action} {resource}")

    def field_level(self, role: str, field: str) -> str:
        if field not in self.fields:
            raise PolicyError(f"{field!r} is not a personal field in {POLICY_FILE.name}; add it under fields")
        r = self.roles.get(role)
        return r.fields.get(field, "hidden") if r else "hidden"

    def role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise PolicyError(f"unknown role {name!r}; roles: {', '.join(self.roles)}") from None


def _list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where} must be a list of names")
    return value


def parse_policy(raw: Any, where: str = POLICY_FILE.name) -> Policy:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping with resources, public, fields and roles")
    unknown = set(raw) - {"resources", "public", "fields", "roles", "commands"}
    if unknown:
        raise PolicyError(f"{where}: unknown sections {sorted(unknown)}")
    actions = frozenset(
        (res, act) for res, acts in (raw.get("resources") or {}).items()
        for act in _list(acts, f"{where}: resources.{res}")
    )
    fields = tuple(_list(raw.get("fields") or [], f"{where}: fields"))
    roles: dict[str, Role] = {}
    for name, spec in (raw.get("roles") or {}).items():
        at = f"{where}: roles.{name}"
        if not isinstance(spec, dict):
            raise PolicyError(f"{at} must be a mapping with allow and fields")
        bad = set(spec) - {"allow", "fields", "event_types", "source_system"}
        if bad:
            raise PolicyError(f"{at}: unknown keys {sorted(bad)}; allowed: allow, fields, event_types, source_system")
        allow = set()
        for res, acts in (spec.get("allow") or {}).items():
            for act in _list(acts, f"{at}.allow.{res}"):
                if (res, act) not in actions:
                    raise PolicyError(f"{at}.allow: {res}.{act} is not declared under resources")
                allow.add((res, act))
        levels = spec.get("fields") or {}
        for field, level in levels.items():
            if field not in fields:
                raise PolicyError(f"{at}.fields: {field!r} is not a personal field; known: {', '.join(fields)}")
            if level not in LEVELS:
                raise PolicyError(f"{at}.fields.{field} must be one of {', '.join(LEVELS)} (got {level!r})")
        types = spec.get("event_types") or []
        if types == "all":
            types = list(INBOUND_EVENT_TYPES)
        bad_types = [t for t in _list(types, f"{at}.event_types") if t not in INBOUND_EVENT_TYPES]
        if bad_types:
            raise PolicyError(f"{at}.event_types: {bad_types} are not event types; known: {', '.join(INBOUND_EVENT_TYPES)}")
        if ("event", "send") in allow and not types:
            raise PolicyError(f"{at}: may send events but lists no event_types")
        roles[name] = Role(name, frozenset(allow), dict(levels), frozenset(types), bool(spec.get("source_system")))
    public = frozenset(_list(raw.get("public") or [], f"{where}: public"))
    return Policy(actions, fields, roles, public, _commands(raw.get("commands") or {}, actions, where))


def _commands(raw: Any, actions: frozenset[tuple[str, str]], where: str) -> dict[str, tuple[str, str] | None]:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: commands must map a command (e.g. 'identity explain') to resource.action or none")
    out: dict[str, tuple[str, str] | None] = {}
    for command, spec in raw.items():
        if spec == "none":
            out[command] = None
            continue
        resource, _, action = str(spec).partition(".")
        if (resource, action) not in actions:
            raise PolicyError(f"{where}: commands.{command}: {spec!r} is not declared under resources; "
                              "write resource.action or none")
        out[command] = (resource, action)
    return out


@cache
def load_policy(path: Path = POLICY_FILE) -> Policy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read the access policy {path}: {exc}") from exc
    return parse_policy(raw, str(path.name))
