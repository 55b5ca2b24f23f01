"""The HTTP API of ``molar serve`` (FastAPI; OpenAPI at ``/docs``).

``create_app`` is the one place where the real-time server is put together: the
collector and the worker come from this package; the stages (profile state updater,
automation engine), tick hooks, interval jobs and extra routers (rules API) are handed in
by the caller. Routers reach the running parts through ``request.app.state.realtime``
(a :class:`~molar.realtime.runtime.Runtime`) and declare what each route needs with
``Depends(permit(resource, action))`` (``molar.realtime.auth``); every personal-data read
is masked by role (``molar.privacy.masking``) and written to the audit log
(:func:`audit_read`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from molar import __version__
from molar.config import Settings
from molar.privacy import audit
from molar.privacy.accounts import Principal, sign_in
from molar.privacy.masking import patient_view
from molar.realtime.auth import authenticate, ensure, permit
from molar.realtime.collector import Rejected
from molar.realtime.identity_index import IdentityError
from molar.realtime.patient import patient_360
from molar.realtime.pipeline import IntervalJob, Stage
from molar.realtime.runtime import ReconcileHook, Runtime
from molar.realtime.schemas import (
    BatchIn,
    EventIn,
    PatientRef,
    Problem,
    data_fields,
    local_now,
    normalise_mobile,
)
from molar.realtime.wal import LogError

MAX_EVENT_BYTES = 256 * 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024
MAX_JSON_DEPTH = 32        # the deepest event (treatment lines) needs 5
access_log = logging.getLogger("molar.access")

DESCRIPTION = """
Real-time events in, patient 360 out.

* Send events with `POST /v1/events` (one) or `POST /v1/events/batch` (many). A `202`
  means the events are durably stored; the worker applies them within milliseconds.
* Authenticate with an API token (`molar tokens create`) or a session token from
  `POST /v1/sessions`: header `X-API-Key: <token>` or `Authorization: Bearer <token>`.
  What each role may do and see: docs/privacy.md.
* Times without a UTC offset are clinic local time (Asia/Shanghai).
* `GET /v1/patients/{id}` reflects every event acknowledged before the request.
"""


class AcceptedEvent(BaseModel):
    event_id: str
    seq: int = Field(description="Position in the event log")
    patient_id: str = Field(description="The golden ID (G…) or provisional ID (PV…) the event is filed under")
    duplicate: bool = Field(False, description="This event_id was already accepted; it is processed once")


class AcceptedOut(BaseModel):
    accepted: list[AcceptedEvent]
    count: int
    log_seq: int


class ErrorOut(BaseModel):
    error: str = Field(description="Machine-readable code, e.g. invalid_events")
    message: str = Field(description="What went wrong and what to do, in plain English")
    errors: list[Problem] | None = Field(None, description="Every problem found (422 only)")
    stored: list[dict[str, Any]] | None = Field(None, description="The stored versions of conflicting events (409 only)")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("No token, or an unknown, revoked or expired one"),
    403: _error("The caller's role may not do this (see docs/privacy.md)"),
    422: _error("A parameter does not fit"),
    429: _error("Too many requests from this caller; retry after Retry-After seconds"),
}
ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    400: _error("The body is not JSON"),
    409: _error("An event ID was already used for different content; nothing was accepted"),
    413: _error("Too many events or too many bytes"),
    422: _error("Events that do not fit; nothing was accepted"),
    503: _error("The server cannot write now (shutting down, disk)"),
}
SECURITY = {"security": [{"ApiKeyHeader": []}, {"BearerKey": []}]}


def _rt(request: Request) -> Runtime:
    return request.app.state.realtime


def audit_read(request: Request, *, action: str, patient: str | None, fields: Iterable[str] = (),
               detail: dict[str, Any] | None = None) -> None:
    """Write the audit row for a read of personal data by the request's caller."""
    principal: Principal = request.state.principal
    route = request.scope.get("route")
    runtime = _rt(request)
    audit.record(runtime.read_engine(), actor=principal.name, role=principal.role, action=action,
                 resource=f"{request.method} {route.path if route else request.url.path}",
                 patient=patient, fields=fields, purpose=request.headers.get("x-purpose", "api")[:100],
                 detail=detail, at=runtime.clock())


class RequestLog:
    """One line per request, without personal data: the route template, never the path,
    query or body (plain ASGI: no per-request cost when the log is off)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        def line(status: int) -> None:
            route = scope.get("route")
            principal = scope.get("state", {}).get("principal")
            access_log.info("%s %s %d %.1fms %s", scope["method"], getattr(route, "path", "(static)"), status,
                            (time.perf_counter() - started) * 1000,
                            f"{principal.name}/{principal.role}" if principal else "-")

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                line(message["status"])   # before the client can see the answer
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        except Exception:
            line(500)
            raise


def _depth_ok(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


async def _json_body(request: Request, limit: int) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise Rejected(413, "body_too_large", (
            f"the request body has {int(length):,} bytes; at most {limit:,} are accepted here. "
            "Send fewer events per request"))
    body = await request.body()
    if len(body) > limit:
        raise Rejected(413, "body_too_large", (
            f"the request body has {len(body):,} bytes; at most {limit:,} are accepted here"))
    try:
        value = json.loads(body)
    except RecursionError:
        value = None
    except ValueError as exc:
        raise Rejected(400, "invalid_json", (
            f"the request body is not valid JSON ({exc}); send UTF-8 JSON with "
            "Content-Type: application/json")) from exc
    if value is None or not _depth_ok(value, MAX_JSON_DEPTH):
        raise Rejected(422, "json_too_deep", (
            f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep; no event needs that. "
            "Send the fields as documented at /docs"))
    return value


def _accepted_response(runtime: Runtime, accepted: list) -> Response:
    body = {
        "accepted": [
            {"event_id": a.event_id, "seq": a.seq, "patient_id": a.patient_id, "duplicate": True}
            if a.duplicate else {"event_id": a.event_id, "seq": a.seq, "patient_id": a.patient_id}
            for a in accepted
        ],
        "count": len(accepted),
        "log_seq": runtime.log.durable_seq,
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    status_code=202, media_type="application/json")


def _check_patients(request: Request, raw_events: list[Any], principal: Principal) -> None:
    """A source system names patients by its own keys, or by IDs of patients it holds."""
    for i, raw in enumerate(raw_events):
        patient = raw.get("patient") if isinstance(raw, dict) else None
        if not isinstance(patient, dict):
            continue
        source = patient.get("source")
        if source is not None and source != principal.source:
            raise Rejected(403, "not_your_patient", (
                f"event #{i}: the token of {principal.source} may only name patients by its own "
                f"keys (patient.source {source!r} is another system)"))
        golden_id = patient.get("golden_id")
        if isinstance(golden_id, str) and not _holds(request, principal, golden_id):
            raise Rejected(403, "not_your_patient", (
                f"event #{i}: {principal.source} holds no record of patient {golden_id!r}; name "
                "the patient by your own key (source_patient_key, unionid or mobile)"))


def _holds(request: Request, principal: Principal, patient_id: str) -> bool:
    """Whether a source system has a record of, or has sent events about, this patient."""
    runtime = _rt(request)
    current = runtime.index.canonical(patient_id) or patient_id
    return bool(runtime.read_engine().scalar("""
        SELECT (SELECT count(*) FROM identity.cluster WHERE golden_id = $1 AND source = $2)
             + (SELECT count(*) FROM ops.provisional_identity WHERE provisional_id = $1 AND source = $2)
             + (SELECT count(*) FROM ops.rt_event WHERE golden_id = $1 AND source = $2 AND NOT derived)""",
        [current, principal.source]))


async def _accept(request: Request, raw_events: list[Any], key: Principal) -> Response:
    runtime = _rt(request)
    try:
        accepted = await runtime.collector.accept(raw_events, key)
    except LogError as exc:
        raise Rejected(503, "log_unavailable", (
            f"the events could not be stored and were not accepted: {exc}. Retry later "
            "with the same event_id values")) from exc
    consents = [(a, raw) for a, raw in zip(accepted, raw_events, strict=True)
                if not a.duplicate and isinstance(raw, dict) and raw.get("type") == "consent.changed"]
    if consents:
        await asyncio.to_thread(_audit_consents, request, consents)
    return _accepted_response(runtime, accepted)


def _audit_consents(request: Request, consents: list[tuple[Any, dict[str, Any]]]) -> None:
    """A consent change is audited when it is accepted (who sent it, for whom, what)."""
    for a, raw in consents:
        data = raw.get("data") or {}
        audit_read(request, action="consent.change", patient=a.patient_id, detail={
            "event_id": a.event_id, "channel": data.get("channel"), "purpose": data.get("purpose"),
            "after": {"granted": data.get("granted")}})


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}, **SECURITY}


class SessionIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    token: str = Field(description="Send as Authorization: Bearer <token>")
    role: str
    expires_in_seconds: int


class LookupOut(BaseModel):
    patient_id: str = Field(description="Golden ID (G…) or provisional ID (PV…)")
    provisional: bool
    matched_by: str = Field(description="unionid | source_patient_key | mobile")


Sender = Annotated[Principal, Depends(permit("event", "send"))]
Auditor = Annotated[Principal, Depends(permit("audit", "read"))]
Reader = Annotated[Principal, Depends(permit("patient", "read"))]
LookerUp = Annotated[Principal, Depends(permit("patient", "lookup"))]
Refresher = Annotated[Principal, Depends(permit("operations", "identity_refresh"))]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/events", status_code=202, tags=["events"], summary="Send one event",
                 responses={202: {"model": AcceptedOut}, **ERRORS}, openapi_extra=_body_schema("EventIn"))
    async def post_event(request: Request, principal: Sender) -> Response:
        """Accept one event. 202 only once it is durably stored."""
        raw = await _json_body(request, MAX_EVENT_BYTES)
        if not isinstance(raw, dict):
            raise Rejected(422, "invalid_body", (
                "send one event as a JSON object { … }; for several events use "
                "POST /v1/events/batch with {\"events\": [ … ]}"))
        if principal.source_system:
            await asyncio.to_thread(_check_patients, request, [raw], principal)
        return await _accept(request, [raw], principal)

    @router.post("/events/batch", status_code=202, tags=["events"], summary="Send many events",
                 responses={202: {"model": AcceptedOut}, **ERRORS}, openapi_extra=_body_schema("BatchIn"))
    async def post_batch(request: Request, principal: Sender) -> Response:
        """Accept a batch of events, all or nothing. 202 only once all are durably stored."""
        raw = await _json_body(request, MAX_BATCH_BYTES)
        if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
            raise Rejected(422, "invalid_body", 'send {"events": [ … ]} with one object per event')
        extra = set(raw) - {"events"}
        if extra:
            raise Rejected(422, "invalid_body", (
                f"unknown fields {sorted(extra)}; the batch body has only \"events\""))
        _rt(request).collector.check_size(len(raw["events"]))
        if principal.source_system:
            await asyncio.to_thread(_check_patients, request, raw["events"], principal)
        return await _accept(request, raw["events"], principal)

    @router.get("/patients/lookup", tags=["patients"], summary="Find a patient by a key",
                responses={200: {"model": LookupOut}, 404: _error("No patient has this key"), **AUTH_ERRORS},
                openapi_extra=SECURITY)
    def lookup_patient(
        request: Request, principal: LookerUp,
        unionid: Annotated[str | None, Query(max_length=200)] = None,
        mobile: Annotated[str | None, Query(max_length=40)] = None,
        source: Annotated[str | None, Query(max_length=200, description="Default: your token's system")] = None,
        source_patient_key: Annotated[str | None, Query(max_length=200)] = None,
    ) -> LookupOut:
        """The patient ID for a WeChat unionid, a mobile or a source system's patient key."""
        if principal.source_system and source not in (None, principal.source):
            raise Rejected(403, "not_your_patient", (
                f"the token of {principal.source} may look patients up only by its own keys"))
        if not (unionid or mobile or source_patient_key):
            raise Rejected(422, "no_key", "give unionid, mobile or source_patient_key")
        try:
            ref = PatientRef(unionid=unionid, mobile=normalise_mobile(mobile) if mobile else None,
                             source=source or principal.source, source_patient_key=source_patient_key)
        except ValueError as exc:
            raise Rejected(422, "invalid_key", f"mobile {exc}") from exc
        runtime = _rt(request)
        try:
            found = runtime.index.resolve(unionid=ref.unionid, mobile=ref.mobile, source=ref.source,
                                          source_patient_key=ref.source_patient_key)
        except IdentityError as exc:
            raise Rejected(404, "patient_not_found", exc.message) from exc
        if found.golden_id is None or (principal.source_system and not _holds(request, principal, found.golden_id)):
            raise Rejected(404, "patient_not_found", "no patient known to you has this key")
        audit_read(request, action="patient.lookup", patient=found.golden_id,
                   fields=[k for k, v in (("wechat", unionid), ("mobile", mobile),
                                          ("source_key", source_patient_key)) if v])
        return LookupOut(patient_id=found.golden_id, provisional=found.provisional,
                         matched_by=found.matched_by or "")

    @router.get("/patients/{patient_id}", tags=["patients"], summary="Patient 360",
                responses={404: _error("No such patient, or not one you may see"), **AUTH_ERRORS},
                openapi_extra=SECURITY)
    def get_patient(patient_id: str, request: Request,
                    principal: Reader) -> dict[str, Any]:
        """The patient's golden record, sources, profile and latest events, masked for your role.

        Reflects every event acknowledged before this request (waits up to 2 s for the
        worker; `consistency.up_to_date` says whether it caught up).
        """
        runtime = _rt(request)
        not_found = Rejected(404, "patient_not_found", (
            f"no patient with ID {patient_id[:64]!r} that you may see. Golden IDs look like "
            "G0000000042 and provisional IDs like PV3fa09c21d7; a provisional ID appears once an "
            "event for that person has been accepted"))
        if len(patient_id) > 64:
            raise not_found
        up_to_date, target = runtime.wait_applied()
        raw = patient_360(runtime.read_engine(), patient_id)
        if raw is None or (principal.source_system and not _holds(request, principal, raw["golden_id"])):
            raise not_found
        home = (raw.get("patient") or {}).get("home_clinic_id")
        if principal.clinics is not None and home not in principal.clinics:
            raise not_found
        data, view = patient_view(raw, principal, today=runtime.clock().date(), data_fields=data_fields)
        audit_read(request, action="patient.read", patient=raw["golden_id"], fields=view.shown,
                   detail={"masked": sorted(view.masked)})
        data["consistency"] = {
            "log_seq_at_request": target,
            "applied_seq": runtime.pipeline.applied_seq,
            "up_to_date": up_to_date,
        }
        return data

    @router.get("/health", tags=["operations"], summary="Server health",
                responses={401: AUTH_ERRORS[401], 403: AUTH_ERRORS[403], 422: AUTH_ERRORS[422],
                           429: AUTH_ERRORS[429]})
    async def health(request: Request, stats: bool = False) -> dict[str, Any]:
        """Event log seq, applied seq and lag (open); `?stats=true` adds counters and
        ack→applied latency (needs a token whose role may read operations stats)."""
        if stats:
            ensure(await authenticate(request), "operations", "health_stats")
        return _rt(request).health(stats)

    @router.post("/identity/refresh", tags=["operations"], summary="Reload identity",
                 responses=AUTH_ERRORS, openapi_extra=SECURITY)
    def refresh_identity(request: Request,
                         _: Refresher) -> dict[str, Any]:
        """After an identity run: reconcile provisional IDs and reload the identity index."""
        return _rt(request).refresh_identity()

    @router.post("/sessions", tags=["sessions"], summary="Sign in",
                 responses={200: {"model": SessionOut}, 400: _error("The body is not JSON"),
                            401: _error("Wrong user name or password"),
                            422: AUTH_ERRORS[422], 429: AUTH_ERRORS[429]})
    def create_session(request: Request, body: SessionIn) -> SessionOut:
        """Exchange a staff user's name and password for a session token (8 hours)."""
        runtime = _rt(request)
        wait = runtime.sign_in_limiter.retry_after(body.username)
        if wait is not None:
            raise Rejected(429, "rate_limited", f"too many sign-in attempts; retry in {wait:.0f} s",
                           retry_after=wait)
        found = sign_in(runtime.read_engine(), body.username, body.password, now=runtime.clock())
        if found is None:
            raise Rejected(401, "wrong_credentials", "wrong user name or password")
        token, principal = found
        return SessionOut(token=token, role=principal.role, expires_in_seconds=8 * 3600)

    @router.get("/audit", tags=["audit"], summary="Audit log, newest first",
                responses=AUTH_ERRORS, openapi_extra=SECURITY)
    def get_audit(request: Request, _: Auditor,
                  patient: Annotated[str | None, Query(max_length=64)] = None,
                  actor: Annotated[str | None, Query(max_length=100)] = None,
                  action: Annotated[str | None, Query(max_length=100)] = None,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 100) -> dict[str, Any]:
        """Who read or changed what (auditors only)."""
        rows = audit.list_entries(_rt(request).read_engine(), patient=patient, actor=actor,
                                  action=action, limit=limit)
        return {"entries": rows}

    @router.get("/audit/verify", tags=["audit"], summary="Check the audit chain",
                responses=AUTH_ERRORS, openapi_extra=SECURITY)
    def verify_audit(request: Request, _: Auditor) -> dict[str, Any]:
        """Recompute the hash chain; reports the first row that was changed, deleted or inserted."""
        result = audit.verify(_rt(request).read_engine())
        return {"ok": result.ok, "rows": result.rows, "head_hash": result.head_hash,
                "problem": result.problem, "bad_seq": result.bad_seq}

    return router


def create_app(
    settings: Settings,
    *,
    stages: Sequence[Stage] = (),
    tick_hooks: Sequence[Callable[..., Any]] = (),
    routers: Sequence[APIRouter] = (),
    jobs: Sequence[IntervalJob] = (),
    reconcile_hooks: Sequence[ReconcileHook] = (),
    clock: Callable[[], datetime] = local_now,
    tick_seconds: float = 0.1,
) -> FastAPI:
    """The real-time server as an ASGI app. Opening the warehouse happens at startup
    (lifespan), or earlier with ``app.state.realtime.start()``.

    * ``stages``: ``stage(engine, events) -> list[Event] | None``, run in this order on
      every batch inside the worker's transaction (see ``molar.realtime.pipeline``);
    * ``tick_hooks``: ``hook(engine, now)`` every ``tick_seconds``, own transaction;
    * ``jobs``: :class:`IntervalJob` batch recomputes run by the worker;
    * ``routers``: extra FastAPI routers mounted as given;
    * ``reconcile_hooks``: ``hook(engine, {provisional_id: golden_id})`` after provisional
      IDs were resolved (``POST /v1/identity/refresh``).
    """
    runtime = Runtime(
        settings, stages=stages, tick_hooks=tick_hooks, jobs=jobs,
        reconcile_hooks=reconcile_hooks, clock=clock, tick_seconds=tick_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime.start()
        try:
            yield
        finally:
            runtime.close()

    # Swagger UI and ReDoc from assets bundled in the package: /docs works offline.
    app = FastAPIOffline(title="Molar real-time API", version=__version__, description=DESCRIPTION,
                         lifespan=lifespan)
    app.state.realtime = runtime
    if settings.cors_origins:   # closed unless origins are configured
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Purpose"])

    app.add_middleware(RequestLog)

    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": "5"}
        if exc.retry_after is not None:
            headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [Problem(index=0, field=".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                            message=e["msg"]) for e in exc.errors()]
        return JSONResponse(Rejected(422, "invalid_parameters", "a parameter does not fit; see errors",
                                     problems).body(), status_code=422)

    app.include_router(build_router())
    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in (EventIn, BatchIn):
            s = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(s.pop("$defs", {}))
            schemas[model.__name__] = s
        components["securitySchemes"] = {
            "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerKey": {"type": "http", "scheme": "bearer"},
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    return app
