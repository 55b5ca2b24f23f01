"""HTTP routes for rules administration (prefix ``/v1/rules``), mounted by ``molar serve``.

    GET  /v1/rules                                  rules, enabled state, version
    GET  /v1/rules/decisions?patient=G…[&rule=…]    a patient's decisions, newest first
    GET  /v1/rules/{key}                            one rule
    POST /v1/rules/{key}/enable | /disable          persist an override (ops.rule_state)
    GET  /v1/rules/{key}/why/{golden_id}            why the patient did or did not get it

Access is the host app's job: ``guard(resource, action)`` returns the dependency each
route declares (``rule.read``, ``rule.change``, ``decision.read``); ``on_audit(request,
action, patient, detail)`` is told of every decision read and rule change.

Inside ``molar serve`` build it with no engine: reads then use the server's read engine
(``request.app.state.realtime.read_engine()``) and the one write (enable/disable) runs on
the pipeline worker (``runtime.pipeline.call``), keeping a single writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from molar.automation.admin import list_rules, set_rule_enabled
from molar.automation.catalogue import Catalogue, load_catalogue
from molar.automation.clock import Clock, system_clock
from molar.automation.decisions import decisions_for
from molar.automation.explain import ExplainError, why
from molar.warehouse import Engine

EngineSource = Engine | Callable[[], AbstractContextManager[Engine]]


def _engine_context(source: EngineSource) -> Callable[[], AbstractContextManager[Engine]]:
    if isinstance(source, Engine):
        lock = threading.Lock()  # one DuckDB connection: one request at a time

        @contextmanager
        def shared() -> Iterator[Engine]:
            with lock:
                yield source

        return shared
    return source


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


Guard = Callable[[str, str], Callable[..., Any]]
AuditHook = Callable[[Request, str, str | None, dict[str, Any]], None]


def rules_router(engine: EngineSource | None = None, *, catalogue: Catalogue | None = None,
                 clock: Clock | None = None, actor: Callable[[Request], str | None] | None = None,
                 writer: Callable[[Callable[[Engine], Any]], Any] | None = None,
                 dependencies: Sequence[Any] = (), guard: Guard | None = None,
                 on_audit: AuditHook | None = None,
                 responses: dict[int | str, dict[str, Any]] | None = None) -> APIRouter:
    """Build the router.

    ``engine``: an Engine (requests are serialised on it), a function returning a context
    manager that yields one, or None inside ``molar serve`` (see the module docstring).
    ``writer(fn)``: run ``fn(engine)`` for writes (may return a Future); default: on the
    request's engine. ``actor(request)``: who is making a change (kept in ops.rule_state).
    ``responses``: extra documented statuses (e.g. the host's 401/403/429).
    """
    open_engine = _engine_context(engine) if engine is not None else None
    catalogue = catalogue or load_catalogue()
    clock = clock or system_clock()
    router = APIRouter(prefix="/v1/rules", tags=["rules"], dependencies=list(dependencies),
                       responses={404: {"description": "No such rule"}, 422: {"description": "A parameter does not fit"},
                                  **(responses or {})})

    def needs(resource: str, action: str) -> list[Any]:
        return [Depends(guard(resource, action))] if guard else []

    def audited(request: Request, action: str, patient: str | None, detail: dict[str, Any]) -> None:
        if on_audit:
            on_audit(request, action, patient, detail)

    def reading(request: Request) -> AbstractContextManager[Engine]:
        if open_engine is not None:
            return open_engine()
        runtime = getattr(request.app.state, "realtime", None)
        if runtime is None:
            raise HTTPException(503, detail="no warehouse: build rules_router(engine) or mount it in molar serve")
        return nullcontext(runtime.read_engine())

    def writing(request: Request, fn: Callable[[Engine], Any]) -> Any:
        if writer is not None:
            result = writer(fn)
        elif open_engine is None:
            result = request.app.state.realtime.pipeline.call(fn)
        else:
            with open_engine() as e:
                return fn(e)
        return result.result(timeout=30) if hasattr(result, "result") else result

    def _rule(key: str) -> None:
        try:
            catalogue.get(key)
        except KeyError as exc:
            raise HTTPException(404, detail=str(exc.args[0])) from exc

    @router.get("", summary="List rules with enabled state and version", dependencies=needs("rule", "read"))
    def get_rules(request: Request) -> dict[str, Any]:
        with reading(request) as e:
            return {"rules": _jsonable(list_rules(e, catalogue))}

    @router.get("/decisions", summary="A patient's rule decisions, newest first",
                dependencies=needs("decision", "read"))
    def get_decisions(request: Request, patient: str = Query(..., description="golden ID", max_length=64),
                      rule: str | None = Query(None, max_length=200),
                      limit: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
        if rule:
            _rule(rule)
        with reading(request) as e:
            found = _jsonable(decisions_for(e, patient, rule, limit))
        audited(request, "decision.read", patient, {"rule": rule, "rows": len(found)})
        return {"patient": patient, "decisions": found}

    @router.get("/{key}", summary="One rule", dependencies=needs("rule", "read"))
    def get_rule(key: str, request: Request) -> dict[str, Any]:
        _rule(key)
        with reading(request) as e:
            return _jsonable(next(r for r in list_rules(e, catalogue) if r["key"] == key))

    def _toggle(request: Request, key: str, enabled: bool) -> dict[str, Any]:
        _rule(key)
        by = actor(request) if actor else "api"
        row = writing(request, lambda e: set_rule_enabled(e, catalogue, key, enabled, now=clock(), by=by))
        audited(request, "rule.change", None, {"rule": key, "after": {"enabled": enabled}})
        return _jsonable(row)

    @router.post("/{key}/enable", summary="Enable a rule (persisted)", dependencies=needs("rule", "change"))
    def enable(key: str, request: Request) -> dict[str, Any]:
        return _toggle(request, key, True)

    @router.post("/{key}/disable", summary="Disable a rule (persisted); running journeys stop at their next step",
                 dependencies=needs("rule", "change"))
    def disable(key: str, request: Request) -> dict[str, Any]:
        return _toggle(request, key, False)

    @router.get("/{key}/why/{golden_id}", summary="Why the patient did or did not get the rule's action",
                dependencies=needs("decision", "read"))
    def get_why(key: str, golden_id: str, request: Request) -> dict[str, Any]:
        _rule(key)
        with reading(request) as e:
            try:
                sentences = why(e, golden_id, key, catalogue, now=clock())
            except ExplainError as exc:
                raise HTTPException(404, detail=str(exc)) from exc
        audited(request, "decision.read", golden_id, {"rule": key})
        return {"rule": key, "patient": golden_id, "sentences": [s.as_dict() for s in sentences]}

    return router
