"""API keys: each key belongs to one source system and may send some event types.

``molar.toml``::

    [api_keys.his]
    key = "his-7f3a…"                       # or key_sha256 = "<hex digest of the key>"
    source = "his"                          # stamped on every event the key sends
    types = ["visit.completed", "charge.paid"]   # optional; default every inbound type
    scopes = ["events", "patients"]         # optional; default ["events"]

or ``MOLAR_API_KEYS='{"his": {"key": "…", "source": "his"}}'``. Scopes: ``events`` may post
events; ``patients`` may read the patient 360 (``GET /v1/patients/{id}``); ``admin`` may
ask the server to reload identity (``POST /v1/identity/refresh``).
The demo key ``molar-dev-key`` (source ``dev``, every type and scope) works only when
``api_dev_key = true`` / ``MOLAR_API_DEV_KEY=1``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from molar.config import ConfigError, Settings
from molar.model.events import INBOUND_EVENT_TYPES

DEV_KEY = "molar-dev-key"
SCOPES = ("events", "patients", "admin")


@dataclass(frozen=True)
class ApiKey:
    name: str
    source: str
    types: frozenset[str]
    scopes: frozenset[str]
    digest: str

    def may_send(self, event_type: str) -> bool:
        return event_type in self.types


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_api_keys(raw: Mapping[str, object], *, dev_key: bool = False) -> dict[str, ApiKey]:
    """Check the configured keys; returns them by SHA-256 digest of the key."""
    keys: dict[str, ApiKey] = {}
    for name, spec in raw.items():
        where = f"api_keys.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a table with key and source")
        unknown = set(spec) - {"key", "key_sha256", "source", "types", "scopes"}
        if unknown:
            raise ConfigError(f"{where}: unknown fields {sorted(unknown)}; allowed: key, key_sha256, source, types, scopes")
        key, digest = spec.get("key"), spec.get("key_sha256")
        if bool(key) == bool(digest):
            raise ConfigError(f"{where}: give exactly one of key or key_sha256")
        if key is not None and (not isinstance(key, str) or len(key) < 16):
            raise ConfigError(f"{where}.key must be at least 16 characters (use a random string)")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
            raise ConfigError(f"{where}.key_sha256 must be the 64-character hex SHA-256 of the key")
        source = spec.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{where}.source must name the source system, e.g. \"his\" or \"wechat\"")
        types = spec.get("types")
        if types is None:
            type_set = frozenset(INBOUND_EVENT_TYPES)
        else:
            if not isinstance(types, list) or not types:
                raise ConfigError(f"{where}.types must be a non-empty list of event types")
            bad = [t for t in types if t not in INBOUND_EVENT_TYPES]
            if bad:
                raise ConfigError(f"{where}.types: {bad} are not event types; known: {', '.join(INBOUND_EVENT_TYPES)}")
            type_set = frozenset(types)
        scopes = spec.get("scopes", ["events"])
        if not isinstance(scopes, list) or any(s not in SCOPES for s in scopes):
            raise ConfigError(f"{where}.scopes must be a list of {', '.join(SCOPES)}")
        d = (digest or _digest(key)).lower()
        if d in keys:
            raise ConfigError(f"{where}: the same key is also configured as api_keys.{keys[d].name}")
        keys[d] = ApiKey(name, source.strip(), type_set, frozenset(scopes), d)
    if dev_key:
        d = _digest(DEV_KEY)
        keys.setdefault(d, ApiKey("dev", "dev", frozenset(INBOUND_EVENT_TYPES), frozenset(SCOPES), d))
    return keys


class KeyRing:
    """Looks up the key presented with a request."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(parse_api_keys(settings.api_keys, dev_key=settings.api_dev_key))

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        d = _digest(presented)
        found = self._keys.get(d)
        # Compare digests in constant time (the dict lookup already matched them).
        if found is not None and hmac.compare_digest(found.digest, d):
            return found
        return None


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer …``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None
