"""Channel adapters: how an outbox message leaves Molar.

* :class:`WebhookChannel` POSTs the message as JSON to the chain's gateway for that
  channel (SMS provider bridge, WeChat template-message service, app push service).
  Each request carries ``Idempotency-Key`` (rule × patient × occurrence × step) and is
  signed: ``X-Molar-Signature: sha256=<hex HMAC-SHA256 of the body with the channel's
  secret>``; the body holds the same ``timestamp`` as ``X-Molar-Timestamp`` so the
  signature covers it. Gateways check with :func:`verify_signature`.
* :class:`LocalSink` keeps messages in ``ops.delivered_local`` (or a JSON-lines file):
  the demo and ``simulate`` use it when no gateway URL is configured.

A channel returns a :class:`SendOutcome`; it never raises for delivery problems.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from molar.privacy import fields
from molar.warehouse import Engine

SIGNATURE_HEADER = "X-Molar-Signature"
TIMESTAMP_HEADER = "X-Molar-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
CHANNEL_NAMES: tuple[str, ...] = ("sms", "wechat", "app")


@dataclass(frozen=True)
class DeliveryRequest:
    """One message as a channel sends it; ``to`` is the address resolved at send time."""

    message_id: str
    idempotency_key: str
    channel: str
    purpose: str
    golden_id: str
    to: dict[str, Any]
    text: str
    template: str | None = None
    language: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    sent_at: datetime | None = None  # the dispatcher's clock (clinic local time)

    def body(self, timestamp: int) -> bytes:
        document = {
            "message_id": self.message_id,
            "idempotency_key": self.idempotency_key,
            "channel": self.channel,
            "purpose": self.purpose,
            "to": {"golden_id": self.golden_id, **self.to},
            "template": self.template,
            "language": self.language,
            "text": self.text,
            "payload": self.payload,
            "attempt": self.attempt,
            "timestamp": timestamp,
        }
        return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          default=str).encode("utf-8")


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    retryable: bool = True
    status_code: int | None = None
    error: str | None = None
    response: str | None = None


class Channel(Protocol):
    name: str

    def send(self, request: DeliveryRequest, engine: Engine) -> SendOutcome: ...


# --------------------------------------------------------------------------- signatures

def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_signature(body: bytes, headers: Mapping[str, str], secret: str, *,
                     tolerance_seconds: int | None = 300, now: float | None = None) -> bool:
    """For gateways: is this request from Molar, unchanged and recent?

    Checks the HMAC of the exact body bytes (constant time), that the body's ``timestamp``
    equals ``X-Molar-Timestamp`` (so the signed body fixes the time), and, unless
    ``tolerance_seconds`` is None, that the timestamp is within that many seconds of now.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not stamp or not secret:
        return False
    if not hmac.compare_digest(sign(body, secret), signature.strip()):
        return False
    try:
        document = json.loads(body)
        stamp_value = int(stamp)
    except (ValueError, TypeError):
        return False
    if not isinstance(document, dict) or document.get("timestamp") != stamp_value:
        return False
    if tolerance_seconds is not None:
        current = time.time() if now is None else now
        if abs(current - stamp_value) > tolerance_seconds:
            return False
    return True


# --------------------------------------------------------------------------- adapters

class WebhookChannel:
    """POST signed JSON to a gateway URL. 2xx = delivered; 408/425/429/5xx and network
    errors are retried; other 4xx fail at once (the gateway refused the message)."""

    def __init__(self, url: str, secret: str, *, name: str = "webhook", timeout: float = 5.0,
                 client: httpx.Client | None = None, clock: Callable[[], float] = time.time) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"channel {name}: url {url!r} must start with http:// or https://")
        if not secret:
            raise ValueError(f"channel {name}: a secret is required to sign requests (secret = \"…\")")
        self.url = url
        self.secret = secret
        self.name = name
        self.timeout = timeout
        self._client = client
        self._clock = clock

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, request: DeliveryRequest, engine: Engine) -> SendOutcome:
        stamp = int(self._clock())
        body = request.body(stamp)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: request.idempotency_key,
            SIGNATURE_HEADER: sign(body, self.secret),
            TIMESTAMP_HEADER: str(stamp),
            "X-Molar-Channel": request.channel,
            "User-Agent": "molar-outbox",
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return SendOutcome(False, True, None, f"{type(exc).__name__}: {exc}")
        text = response.text[:500]
        if 200 <= response.status_code < 300:
            return SendOutcome(True, False, response.status_code, None, text)
        retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
        return SendOutcome(False, retryable, response.status_code,
                           f"gateway answered HTTP {response.status_code}: {text[:200]}", text)


class LocalSink:
    """Keeps messages instead of sending them: table ``ops.delivered_local`` (one row per
    idempotency key; the request, address included, encrypted and bound to the message ID)
    or, with ``path``, a JSON-lines file."""

    def __init__(self, name: str = "local", path: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.path = Path(path) if path else None
        self._clock = clock

    def send(self, request: DeliveryRequest, engine: Engine) -> SendOutcome:
        body = request.body(int(self._clock())).decode("utf-8")
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(body + "\n")
        else:
            sealed = fields.cipher_for(engine).encrypt(body, "ops.delivered_local", "body", request.message_id)
            engine.execute(
                "INSERT INTO ops.delivered_local VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [request.idempotency_key, request.message_id, request.channel, sealed,
                 request.sent_at or datetime.fromtimestamp(self._clock()).replace(microsecond=0)],
            )
        return SendOutcome(True, False, None, None, "kept locally")


def channels_from_settings(channel_settings: Mapping[str, Mapping[str, Any]] | None,
                           timeout: float = 5.0) -> dict[str, Channel]:
    """sms / wechat / app: a WebhookChannel where ``[channels.<name>] url`` is set, else a LocalSink."""
    out: dict[str, Channel] = {}
    configured = dict(channel_settings or {})
    unknown = set(configured) - set(CHANNEL_NAMES)
    if unknown:
        raise ValueError(f"unknown channels {sorted(unknown)} in [channels]; channels: {', '.join(CHANNEL_NAMES)}")
    for name in CHANNEL_NAMES:
        spec = configured.get(name) or {}
        if spec.get("url"):
            out[name] = WebhookChannel(str(spec["url"]), str(spec.get("secret") or ""), name=name, timeout=timeout)
        else:
            out[name] = LocalSink(name)
    return out
