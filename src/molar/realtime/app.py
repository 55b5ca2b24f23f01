"""The HTTP API of ``molar serve`` (FastAPI; OpenAPI at ``/docs``).

``create_app`` is the one place where the real-time server is put together: the
collector and the worker come from this package; the stages (profile state updater,
automation engine), tick hooks, interval jobs and extra routers (rules API) are handed in
by the caller. Routers reach the running parts through ``request.app.state.realtime``
(a :class:`~molar.realtime.runtime.Runtime`) and can require an API key with
``Depends(api_key("scope"))``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from molar import __version__
from molar.config import Settings
from molar.realtime.auth import ApiKey, presented_key
from molar.realtime.collector import Rejected
from molar.realtime.patient import patient_360
from molar.realtime.pipeline import IntervalJob, Stage
from molar.realtime.runtime import ReconcileHook, Runtime
from molar.realtime.schemas import BatchIn, EventIn, Problem, local_now
from molar.realtime.wal import LogError

MAX_EVENT_BYTES = 256 * 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024

DESCRIPTION = """
Real-time events in, patient 360 out.

* Send events with `POST /v1/events` (one) or `POST /v1/events/batch` (many). A `202`
  means the events are durably stored; the worker applies them within milliseconds.
* Authenticate with your source system's API key: header `X-API-Key: <key>` or
  `Authorization: Bearer <key>`.
* Times without a UTC offset are clinic local time (Asia/Shanghai).
* `GET /v1/patients/{id}` reflects every event acknowledged before the request.
"""


class AcceptedEvent(BaseModel):
    event_id: str
    seq: int = Field(description="Position in the event log")
    duplicate: bool = Field(False, description="This event_id was already accepted; it is processed once")


class AcceptedOut(BaseModel):
    accepted: list[AcceptedEvent]
    count: int
    log_seq: int


class ErrorOut(BaseModel):
    error: str = Field(description="Machine-readable code, e.g. invalid_events")
    message: str = Field(description="What went wrong and what to do, in plain English")
    errors: list[Problem] | None = Field(None, description="Every problem found (422 only)")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No API key, or an unknown one"},
    403: {"model": ErrorOut, "description": "The key may not do this (event type or scope)"},
    413: {"model": ErrorOut, "description": "Too many events or too many bytes"},
    422: {"model": ErrorOut, "description": "Events that do not fit; nothing was accepted"},
    503: {"model": ErrorOut, "description": "The server cannot write now (shutting down, disk)"},
}
SECURITY = {"security": [{"ApiKeyHeader": []}, {"BearerKey": []}]}


def _rt(request: Request) -> Runtime:
    return request.app.state.realtime


def require_key(request: Request, scope: str) -> ApiKey:
    presented = presented_key(request.headers)
    if not presented:
        raise Rejected(401, "missing_api_key", (
            "send your API key in the X-API-Key header (or Authorization: Bearer <key>); "
            "ask the Molar administrator for a key for your system"))
    key = _rt(request).keys.lookup(presented)
    if key is None:
        raise Rejected(401, "unknown_api_key", (
            "this API key is not known to this server; check it was copied whole, or ask the "
            "Molar administrator to add it under [api_keys] in molar.toml"))
    if scope not in key.scopes:
        raise Rejected(403, "scope_not_allowed", (
            f"the API key {key.name!r} may not use this endpoint (it needs the {scope!r} scope; "
            f"the key has {', '.join(sorted(key.scopes))})"))
    return key


def api_key(scope: str = "events") -> Callable[[Request], ApiKey]:
    """A FastAPI dependency for routers: ``key: ApiKey = Depends(api_key("admin"))``."""

    def dependency(request: Request) -> ApiKey:
        return require_key(request, scope)

    return dependency


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
        return json.loads(body)
    except ValueError as exc:
        raise Rejected(400, "invalid_json", (
            f"the request body is not valid JSON ({exc}); send UTF-8 JSON with "
            "Content-Type: application/json")) from exc


def _accepted_response(runtime: Runtime, accepted: list) -> Response:
    body = {
        "accepted": [
            {"event_id": a.event_id, "seq": a.seq, "duplicate": a.duplicate} if a.duplicate
            else {"event_id": a.event_id, "seq": a.seq}
            for a in accepted
        ],
        "count": len(accepted),
        "log_seq": runtime.log.durable_seq,
    }
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    status_code=202, media_type="application/json")


async def _accept(request: Request, raw_events: list[Any], key: ApiKey) -> Response:
    runtime = _rt(request)
    try:
        accepted = await runtime.collector.accept(raw_events, key)
    except LogError as exc:
        raise Rejected(503, "log_unavailable", (
            f"the events could not be stored and were not accepted: {exc}. Retry later "
            "with the same event_id values")) from exc
    return _accepted_response(runtime, accepted)


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}, **SECURITY}


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/events", status_code=202, tags=["events"], summary="Send one event",
                 responses={202: {"model": AcceptedOut}, 400: {"model": ErrorOut}, **ERRORS},
                 openapi_extra=_body_schema("EventIn"))
    async def post_event(request: Request) -> Response:
        """Accept one event. 202 only once it is durably stored."""
        key = require_key(request, "events")
        raw = await _json_body(request, MAX_EVENT_BYTES)
        if not isinstance(raw, dict):
            raise Rejected(422, "invalid_body", (
                "send one event as a JSON object { … }; for several events use "
                "POST /v1/events/batch with {\"events\": [ … ]}"))
        return await _accept(request, [raw], key)

    @router.post("/events/batch", status_code=202, tags=["events"], summary="Send many events",
                 responses={202: {"model": AcceptedOut}, 400: {"model": ErrorOut}, **ERRORS},
                 openapi_extra=_body_schema("BatchIn"))
    async def post_batch(request: Request) -> Response:
        """Accept a batch of events, all or nothing. 202 only once all are durably stored."""
        key = require_key(request, "events")
        raw = await _json_body(request, MAX_BATCH_BYTES)
        if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
            raise Rejected(422, "invalid_body", 'send {"events": [ … ]} with one object per event')
        extra = set(raw) - {"events"}
        if extra:
            raise Rejected(422, "invalid_body", (
                f"unknown fields {sorted(extra)}; the batch body has only \"events\""))
        return await _accept(request, raw["events"], key)

    @router.get("/patients/{patient_id}", tags=["patients"], summary="Patient 360",
                responses={404: {"model": ErrorOut}, 401: ERRORS[401], 403: ERRORS[403]},
                openapi_extra=SECURITY)
    def get_patient(patient_id: str, request: Request) -> dict[str, Any]:
        """The patient's golden record (PII masked), sources, profile and latest events.

        Reflects every event acknowledged before this request (waits up to 2 s for the
        worker; `consistency.up_to_date` says whether it caught up).
        """
        require_key(request, "patients")
        runtime = _rt(request)
        if len(patient_id) > 64:
            raise Rejected(404, "patient_not_found", "patient IDs are at most 64 characters")
        up_to_date, target = runtime.wait_applied()
        data = patient_360(runtime.read_engine(), patient_id, today=runtime.clock().date())
        if data is None:
            raise Rejected(404, "patient_not_found", (
                f"no patient with ID {patient_id!r}. Golden IDs look like G0000000042 and "
                "provisional IDs like PV3fa09c21d7; a provisional ID appears once an event for "
                "that person has been accepted"))
        data["consistency"] = {
            "log_seq_at_request": target,
            "applied_seq": runtime.pipeline.applied_seq,
            "up_to_date": up_to_date,
        }
        return data

    @router.get("/health", tags=["operations"], summary="Server health")
    async def health(request: Request, stats: bool = False) -> dict[str, Any]:
        """Event log seq, applied seq and lag; `?stats=true` adds counters and ack→applied latency."""
        return _rt(request).health(stats)

    @router.post("/identity/refresh", tags=["operations"], summary="Reload identity",
                 responses={401: ERRORS[401], 403: ERRORS[403]}, openapi_extra=SECURITY)
    def refresh_identity(request: Request) -> dict[str, Any]:
        """After an identity run: reconcile provisional IDs and reload the identity index."""
        require_key(request, "admin")
        return _rt(request).refresh_identity()

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

    app = FastAPI(title="Molar real-time API", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.realtime = runtime

    @app.exception_handler(Rejected)
    async def rejected(request: Request, exc: Rejected) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": "5"}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

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
