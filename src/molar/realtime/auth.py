"""Who is calling and whether they may: the one place every API route is checked.

Credentials, sent as ``X-API-Key: <token>`` or ``Authorization: Bearer <token>``:

* API tokens made with ``molar tokens create NAME --role ROLE`` and sessions from
  ``POST /v1/sessions`` (users made with ``molar users add``), kept in the warehouse;
* keys configured in ``molar.toml``::

      [api_keys.his]
      key = "his-7f3a…"                  # or key_sha256 = "<hex digest of the key>"
      role = "his"                       # a role of molar/privacy/policy.yaml
      source = "his"                     # optional: stamped on events; default the role
      types = ["visit.completed"]        # optional: narrows the role's event types
      clinics = ["C01"]                  # optional: only these clinics' patients

  or ``MOLAR_API_KEYS='{"his": {"key": "…", "role": "his"}}'``;
* the demo key ``molar-dev-key`` (role admin) only with ``api_dev_key = true``.

Every route declares ``Depends(permit(resource, action))``; the policy
(:mod:`molar.privacy.policy`) decides. A route without one must be listed as public in
the policy file (a test walks every route).
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from fastapi import Request

from molar.config import ConfigError, Settings
from molar.privacy.accounts import Principal, find_token, principal_for, token_digest
from molar.privacy.policy import PolicyError, load_policy
from molar.realtime.collector import Rejected
from molar.warehouse import Engine

DEV_KEY = "molar-dev-key"
TOKEN_CACHE_SECONDS = 5.0   # a revoked token stops working within this time


def parse_api_keys(raw: Mapping[str, object], *, dev_key: bool = False) -> dict[str, Principal]:
    """Check the configured keys; returns their principals by SHA-256 digest of the key."""
    policy = load_policy()
    keys: dict[str, Principal] = {}
    for name, spec in raw.items():
        where = f"api_keys.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} must be a table with key and role")
        if "scopes" in spec:
            raise ConfigError(f"{where}: scopes were replaced by role (one of {', '.join(policy.roles)}); "
                              "see docs/privacy.md for what each role may do")
        unknown = set(spec) - {"key", "key_sha256", "role", "source", "types", "clinics"}
        if unknown:
            raise ConfigError(f"{where}: unknown fields {sorted(unknown)}; allowed: key, key_sha256, role, "
                              "source, types, clinics")
        key, digest = spec.get("key"), spec.get("key_sha256")
        if bool(key) == bool(digest):
            raise ConfigError(f"{where}: give exactly one of key or key_sha256")
        if key is not None and (not isinstance(key, str) or len(key) < 16):
            raise ConfigError(f"{where}.key must be at least 16 characters (use a random string)")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
            raise ConfigError(f"{where}.key_sha256 must be the 64-character hex SHA-256 of the key")
        source = spec.get("source")
        role = spec.get("role", source)
        if role not in policy.roles:
            raise ConfigError(f"{where}.role must be one of {', '.join(policy.roles)} (got {role!r})")
        if source is not None and (not isinstance(source, str) or not source.strip()):
            raise ConfigError(f"{where}.source must name the source system, e.g. \"his\" or \"wechat\"")
        types = spec.get("types")
        if types is not None:
            allowed = policy.roles[role].event_types
            if not isinstance(types, list) or not types:
                raise ConfigError(f"{where}.types must be a non-empty list of event types")
            bad = [t for t in types if t not in allowed]
            if bad:
                raise ConfigError(f"{where}.types: {bad} are not event types the role {role} may send; "
                                  f"it may send: {', '.join(sorted(allowed)) or 'none'}")
        clinics = spec.get("clinics")
        if clinics is not None and (not isinstance(clinics, list) or not clinics):
            raise ConfigError(f"{where}.clinics must be a non-empty list of clinic IDs")
        d = (digest or token_digest(key)).lower()
        if d in keys:
            raise ConfigError(f"{where}: the same key is also configured as api_keys.{keys[d].name}")
        try:
            keys[d] = principal_for(name, role, "config", source=source and source.strip(),
                                    clinics=clinics, types=types)
        except PolicyError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    if dev_key:
        keys.setdefault(token_digest(DEV_KEY), principal_for("dev", "admin", "config", source="dev"))
    return keys


class KeyRing:
    """Finds the principal for a presented credential: configured keys, then tokens and
    sessions in the warehouse (cached a few seconds)."""

    def __init__(self, keys: Mapping[str, Principal]) -> None:
        self._keys = dict(keys)
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(parse_api_keys(settings.api_keys, dev_key=settings.api_dev_key))

    def __len__(self) -> int:
        return len(self._keys)

    def known(self, presented: str) -> tuple[bool, Principal | None]:
        """(answered, principal) from the configured keys and the cache, without the warehouse."""
        d = token_digest(presented)
        for digest, principal in self._keys.items():
            if hmac.compare_digest(digest, d):
                return True, principal
        with self._lock:
            hit = self._cache.get(d)
        if hit and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def lookup(self, presented: str | None, engine: Engine | None = None,
               now: datetime | None = None) -> Principal | None:
        if not presented:
            return None
        answered, principal = self.known(presented)
        if answered or engine is None:
            return principal
        d, t = token_digest(presented), time.monotonic()
        principal = find_token(engine, presented, now=now or datetime.now())
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[d] = (t + TOKEN_CACHE_SECONDS, principal)
        return principal


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The credential from ``X-API-Key`` or ``Authorization: Bearer …``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


class RateLimiter:
    """A token bucket per principal: ``per_minute`` requests, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str) -> float | None:
        """None when the request may go ahead, else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 100_000:   # forget callers idle long enough to be full again
                idle = self.burst / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < idle}
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[who] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[who] = (tokens - 1.0, now)
            return None


async def authenticate(request: Request) -> Principal:
    """The caller's principal, or 401; also applies the caller's rate limit (429).

    Runs in the event loop; only a token not seen in the last seconds costs a warehouse
    lookup (in a worker thread)."""
    known = getattr(request.state, "principal", None)
    if known is not None:
        return known
    runtime = request.app.state.realtime
    presented = presented_key(request.headers)
    if not presented:
        raise Rejected(401, "missing_api_key", (
            "send your API token in the X-API-Key header (or Authorization: Bearer <token>); "
            "ask the Molar administrator for a token (molar tokens create) or sign in with "
            "POST /v1/sessions"))
    answered, principal = runtime.keys.known(presented)
    if not answered:
        principal = await asyncio.to_thread(
            lambda: runtime.keys.lookup(presented, runtime.read_engine(), runtime.clock()))
    if principal is None:
        raise Rejected(401, "unknown_api_key", (
            "this token is not known to this server, was revoked or has expired; check it was "
            "copied whole, sign in again, or ask the Molar administrator for a new one"))
    wait = runtime.limiter.retry_after(f"{principal.kind}:{principal.name}")
    if wait is not None:
        raise Rejected(429, "rate_limited", (
            f"too many requests from {principal.name!r}; retry in {wait:.1f} s "
            f"(the limit is {runtime.settings.api_rate_per_minute} requests per minute)"),
            retry_after=wait)
    request.state.principal = principal
    return principal


def ensure(principal: Principal, resource: str, action: str) -> None:
    verdict = load_policy().check(principal.role, resource, action)
    if not verdict.allowed:
        raise Rejected(403, "not_allowed", (
            f"{principal.name!r} may not do this: {verdict.reason}. Ask the Molar administrator "
            "for a role that may (docs/privacy.md lists what each role may do)"))


def permit(resource: str, action: str) -> Callable[[Request], Principal]:
    """The route dependency: ``principal: Principal = Depends(permit("patient", "read"))``."""
    load_policy().check("admin", resource, action)   # an undeclared action fails at import

    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        ensure(principal, resource, action)
        return principal

    dependency.permission = (resource, action)   # found by the route-walk test
    return dependency
